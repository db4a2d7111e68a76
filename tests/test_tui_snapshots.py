"""SVG snapshots of every pane and dialog, in the default layout (120x40) and the compact one
(80x24), on a town built with a fixed clock and fixed ids (tests/tui_fixtures.py).

snap_compare tests must be sync. Update the SVGs after a deliberate change with
`pytest tests/test_tui_snapshots.py --snapshot-update` and look at them before committing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from gastown_tui.town.town import Town
from gastown_tui.tui.app import GasTownApp
from tests.tui_fixtures import build_snapshot_town, run_before, snapshot_app, utc

__all__ = ["utc"]  # the fixture, used by name below

WIDE = (120, 40)
SMALL = (80, 24)
LAYOUTS = {"default": WIDE, "compact": SMALL}


@pytest.fixture
def snap_town(tmp_path: Path, utc: None) -> Town:
    return build_snapshot_town(tmp_path)


def _app(pilot: Pilot[Any]) -> GasTownApp:
    app = pilot.app
    assert isinstance(app, GasTownApp)
    return app


def select_furiosa(pilot: Pilot[Any]) -> None:
    app = _app(pilot)
    app.rigs_pane.select_polecat("war-rig/furiosa")


def select_nux(pilot: Pilot[Any]) -> None:
    _app(pilot).rigs_pane.select_polecat("war-rig/nux")


def mark_two_beads(pilot: Pilot[Any]) -> None:
    app = _app(pilot)
    ready = app.rigs_snapshot.ready
    app.rigs_pane.tree.marked.update({ready[0].id, ready[-1].id})
    app.rigs_pane.show(force=True)


def show_bead(pilot: Pilot[Any]) -> None:
    app = _app(pilot)
    app.action_show_bead(app.rigs_snapshot.ready[0].id)


def show_convoy(pilot: Pilot[Any]) -> None:
    app = _app(pilot)
    app.action_show_convoy(app.convoys.in_flight[0].id)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_main_screen(snap_compare: Any, snap_town: Town, layout: str) -> None:
    app = snapshot_app(snap_town, layout=layout)
    assert snap_compare(app, terminal_size=LAYOUTS[layout], run_before=run_before())


@pytest.mark.parametrize("layout", LAYOUTS)
def test_preview_of_selected_polecat(snap_compare: Any, snap_town: Town, layout: str) -> None:
    app = snapshot_app(snap_town, layout=layout)
    steps = [select_furiosa] + (["5"] if layout == "compact" else [])
    assert snap_compare(app, terminal_size=LAYOUTS[layout], run_before=run_before(*steps))


@pytest.mark.parametrize("pane", ["2", "3", "4", "6"])
def test_compact_panes(snap_compare: Any, snap_town: Town, pane: str) -> None:
    app = snapshot_app(snap_town, layout="compact")
    assert snap_compare(app, terminal_size=SMALL, run_before=run_before(pane))


def test_focus_layout(snap_compare: Any, snap_town: Town) -> None:
    app = snapshot_app(snap_town, layout="focus")
    assert snap_compare(app, terminal_size=WIDE, run_before=run_before(select_furiosa))


def test_feed_search(snap_compare: Any, snap_town: Town) -> None:
    app = snapshot_app(snap_town)
    steps = ["slash", "m", "a", "i", "l"]
    assert snap_compare(app, terminal_size=WIDE, run_before=run_before(*steps))


DIALOGS: dict[str, list[Any]] = {
    "sling": ["s"],
    "nudge": [select_nux, "n"],
    "compose": ["m"],
    "read": ["3", "enter"],
    "reply": ["3", "r"],
    "inbox": ["i"],
    "convoy_create": [mark_two_beads, "c"],
    "convoy_view": [show_convoy],
    "bead": [show_bead],
    "help": ["question_mark"],
    "theme": ["t"],
    "problems": ["p"],
    "quit": ["q"],
    "filter": ["f"],
}


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dialog", DIALOGS)
def test_dialog(snap_compare: Any, snap_town: Town, dialog: str, layout: str) -> None:
    app = snapshot_app(snap_town, layout=layout)
    steps = DIALOGS[dialog]
    assert snap_compare(app, terminal_size=LAYOUTS[layout], run_before=run_before(*steps))


@pytest.mark.parametrize("theme", ["salt-flats", "high-octane", "thunderdome"])
def test_themes(snap_compare: Any, snap_town: Town, theme: str) -> None:
    app = snapshot_app(snap_town, theme=theme)
    assert snap_compare(app, terminal_size=WIDE, run_before=run_before(select_furiosa))


def test_too_small(snap_compare: Any, snap_town: Town) -> None:
    app = snapshot_app(snap_town)
    assert snap_compare(app, terminal_size=(70, 20), run_before=run_before())


def test_no_rigs(snap_compare: Any, tmp_path: Path, utc: None) -> None:
    from gastown_tui.town.clock import FakeClock

    town = Town.init(tmp_path / "empty", name="ghosttown", clock=FakeClock())
    town.paths.events.write_text("")  # no event carries the tmp path
    app = snapshot_app(town, polecats=[])
    assert snap_compare(app, terminal_size=SMALL, run_before=run_before("s"))
