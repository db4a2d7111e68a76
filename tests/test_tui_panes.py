"""The pane registry (tui/panes.py): a pane is one module plus one registry line. Here the
"module" is TallyPane below and the "line" is the PANES of TallyApp; nothing else of the app
is touched, and the pane gets its number key, its tab, its border title, its first load and
its reloads on the changes it names."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import pytest
from textual.app import ComposeResult
from textual.widgets import Static

from gastown_tui.town.clock import FakeClock
from gastown_tui.town.town import Town
from gastown_tui.tui import panes
from gastown_tui.tui.app import GasTownApp
from gastown_tui.tui.messages import StoreChanged
from gastown_tui.tui.refresh import Refresh, plan, refresh_table
from gastown_tui.tui.widgets.pane import Pane
from gastown_tui.tui.widgets.status import PaneTabs
from gastown_tui.views.actions import TownData
from tests.tui_fixtures import anyio_backend, settle, wait_for

__all__ = ["anyio_backend"]  # a fixture, used by name

pytestmark = pytest.mark.anyio
SIZE = (120, 40)


class TallyPane(Pane):
    """Open beads per rig: the whole of a new pane."""

    PANE = "tally"
    TITLE = "Tally"
    SCOPES = ("rig:*",)
    loads: ClassVar[int] = 0

    def compose(self) -> ComposeResult:
        yield Static("", id="tally-text")

    @staticmethod
    def load(data: TownData) -> dict[str, int]:
        TallyPane.loads += 1
        return {rig.name: rig.open_count for rig in data.load_rigs().rigs}

    def show_loaded(self, snapshot: dict[str, int], now: float) -> None:
        text = " ".join(f"{rig}={count}" for rig, count in sorted(snapshot.items()))
        self.query_one("#tally-text", Static).update(text)


class TallyApp(GasTownApp):
    PANES = (*panes.PANES, TallyPane)  # the one registry line


@pytest.fixture
def town(tmp_path: Path) -> Town:
    town = Town.init(tmp_path / "town", name="testtown", clock=FakeClock())
    folder = tmp_path / "alpha"
    folder.mkdir()
    town.rigs.add("alpha", str(folder), prefix="al", no_git=True)
    town.beads.create("Fix the login bug", rig="alpha")
    return town


async def test_a_registered_pane_is_composed_numbered_loaded_and_refreshed(town: Town) -> None:
    TallyPane.loads = 0
    app = TallyApp(town, TownData(town, None), watch=False)
    app.animation_level = "none"
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await wait_for(pilot, lambda: app.loaded, what="every pane's first data")
        pane = app.pane("tally")
        assert isinstance(pane, TallyPane)
        assert pane.border_title == "7 Tally"
        assert ("tally", "7 Tally") in app.town_screen.query_one(PaneTabs).labels
        text = pane.query_one("#tally-text", Static)
        assert str(text.render()) == "alpha=1"
        # Its number key focuses it, through the keymap like every pane's.
        assert "pane-tally" in app.binding_ids()
        await pilot.press("7")
        await settle(pilot)
        assert app.active_pane == "tally" and pane.has_class("-active")
        # A change in one of its scopes reloads it; one outside them does not.
        town.beads.create("Write the docs", rig="alpha")
        before = TallyPane.loads
        app.post_message(StoreChanged({"mail:overseer"}))
        await settle(pilot)
        assert TallyPane.loads == before
        app.post_message(StoreChanged({"rig:alpha"}))
        await wait_for(pilot, lambda: str(text.render()) == "alpha=2", what="the reload")


def test_the_refresh_table_maps_scopes_to_loaders_in_order() -> None:
    table = refresh_table(panes.PANES)
    assert plan(table, {"rig:alpha"}) == [
        ("rigs", {"rig:alpha"}),
        ("polecats", {"rig:alpha"}),
        ("pane:convoys", {"rig:alpha"}),
        ("pane:queue", {"rig:alpha"}),
    ]
    assert plan(table, {"heartbeats", "mail:alpha/nux"}) == [
        ("polecats", {"heartbeats"}),
        ("mail", {"mail:alpha/nux"}),
    ]
    assert plan(table, {"config", "archive"}) == [
        ("config", {"config"}),
        ("pane:convoys", {"archive"}),
    ]
    assert plan(table, {"nudges", "events"}) == []
    assert Refresh("x", ("rig:*",)).matched({"rig:a", "rigs", "town"}) == {"rig:a"}


def test_panes_compose_in_screen_order_and_number_in_key_order() -> None:
    labels = panes.pane_labels()
    assert labels == (
        ("rigs", "1 Rigs"),
        ("convoys", "2 Convoys"),
        ("mail", "3 Mail"),
        ("feed", "4 Feed"),
        ("preview", "5 Preview"),
        ("queue", "6 Merges"),
    )
