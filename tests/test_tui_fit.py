"""Issue 15, the app at 80x24 and at 200 columns: the compact layout by itself at 80x24 (and
the default back when the terminal grows), a header that keeps ✉ and ⚠ when it truncates, a
footer whose keys fit whole, the feed's type column whole at 200 columns, a preview that
scrolls back, and the Rigs cursor following a slung bead to its polecat."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from gastown_tui.town.town import Town
from gastown_tui.tui.app import make_app
from gastown_tui.tui.widgets.footer import TownFooter
from gastown_tui.views.actions import TownData
from gastown_tui.views.rows import HookedBead
from tests.tui_fixtures import (
    anyio_backend,
    build_snapshot_town,
    settle,
    snapshot_app,
    snapshot_polecats,
    utc,
    wait_for,
)

__all__ = ["anyio_backend", "utc"]  # fixtures, used by name
pytestmark = pytest.mark.anyio


@pytest.fixture
def snap_town(tmp_path: Path, utc: None) -> Town:
    return build_snapshot_town(tmp_path)


def _right_edge(widget: Any) -> int:
    region = widget.region
    return region.x + region.width


async def test_80x24_is_compact_with_counts_and_keys_whole(snap_town: Town) -> None:
    from textual.widgets._footer import FooterKey

    app = snapshot_app(snap_town)  # the default layout chosen, as town.toml says
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert app.layout_name == "default" and app.layout_shown == "compact"
        assert app.town_screen.has_class("layout-compact")
        alerts = app.town_screen.query_one("#status-alerts")
        assert str(alerts.render()).split() == ["✉5", "⚠6"]
        assert _right_edge(alerts) <= 80, "the counts stay on screen when the line is cut"
        footer = app.town_screen.query_one(TownFooter)
        keys = list(footer.query(FooterKey))
        actions = [key.action for key in keys]
        assert {"sling", "compose", "problems", "help", "request_quit"} <= set(actions)
        assert all(_right_edge(key) <= 80 for key in keys), "no key is cut off"
        app.rigs_pane.select_polecat("war-rig/nux")
        await settle(pilot)
        actions = [key.action for key in app.town_screen.query_one(TownFooter).query(FooterKey)]
        assert actions[:4] == ["sling", "nudge", "attach", "review"], actions
        # The terminal grows: the chosen layout comes back.
        await pilot.resize_terminal(140, 44)
        await settle(pilot)
        assert app.layout_shown == "default"
        assert app.town_screen.has_class("layout-default")
        assert not app.town_screen.has_class("layout-compact")


async def test_the_feed_type_column_is_whole_at_200_columns(snap_town: Town) -> None:
    snap_town.events.append("dogs.events_keep_rotated", actor="deacon", msg="kept 5000 events")
    snap_town.events.append("mr.changes_requested", actor="overseer", msg="add a test")
    app = snapshot_app(snap_town)
    async with app.run_test(size=(200, 50)) as pilot:
        await settle(pilot)
        view = app.town_screen.query_one("#feed-view")
        await wait_for(pilot, lambda: len(view._visible) >= 2, what="the feed")
        lines = [view.render_line(y).text for y in range(2)]
        assert "dogs.events_keep_rotated" in lines[0] or "dogs.events_keep_rotated" in lines[1]
        assert any("mr.changes_requested " in line for line in lines), lines
    app = snapshot_app(snap_town)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("4")
        await settle(pilot)
        view = app.town_screen.query_one("#feed-view")
        lines = [view.render_line(y).text for y in range(2)]
        assert any(re.search(r"dogs\.events_\w*… ", line) for line in lines), lines


async def test_the_preview_scrolls_back_and_returns_to_live(snap_town: Town) -> None:
    history = [f"line {n:04d}" for n in range(1, 401)]

    def capture(_pane: str, lines: int) -> str:
        return "\n".join(history[-lines:])

    rows = snapshot_polecats(snap_town)
    data = TownData(snap_town, None, observe=lambda: rows, capture=capture)
    app = make_app(snap_town, watch=False, data=data)
    app.animation_level = "none"
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.rigs_pane.select_polecat("war-rig/furiosa")
        await pilot.press("5")
        await settle(pilot)
        preview = app.preview_pane
        text = preview.text_widget
        await wait_for(pilot, lambda: "line 0400" in str(text.render()), what="the live tail")
        assert "line 0001" not in str(text.render()), "live: only what fits"
        await pilot.press("g")  # to the top of the scrollback
        await wait_for(pilot, lambda: "line 0001" in str(text.render()), what="the scrollback")
        assert preview.held
        await wait_for(pilot, lambda: preview.scroller.scroll_y == 0, what="the top")
        await pilot.press("j", "j")
        await wait_for(pilot, lambda: preview.scroller.scroll_y == 2, what="scrolling down")
        await pilot.press("G")
        await wait_for(pilot, lambda: not preview.held)
        await wait_for(
            pilot, lambda: "line 0001" not in str(text.render()), what="back to the live tail"
        )


async def test_the_rigs_cursor_follows_a_slung_bead_to_its_polecat(snap_town: Town) -> None:
    rows = snapshot_polecats(snap_town)
    data = TownData(snap_town, None, observe=lambda: list(rows))
    app = make_app(snap_town, watch=False, data=data)
    app.animation_level = "none"
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        tree = app.rigs_pane.tree
        bead = next(b for b in app.rigs_snapshot.ready if b.rig == "war-rig")
        line = next(
            n for n in range(tree.last_line + 1) if tree.get_node_at_line(n).data.key == bead.id
        )
        tree.cursor_line = line
        await settle(pilot)
        # The bead is slung onto toast (as sling writes it: hooked, assigned).
        snap_town.beads.update(bead.id, status="hooked", assignee="war-rig/toast")
        index = next(i for i, r in enumerate(rows) if r.address == "war-rig/toast")
        rows[index] = replace(rows[index], state="working", hook=HookedBead(bead.id, bead.title))
        app.load_all()
        await wait_for(
            pilot,
            lambda: bead.id not in {b.id for b in app.rigs_snapshot.ready},
            what="the reload",
        )
        await settle(pilot)
        node = tree.cursor_node
        assert node is not None and node.data.key == "war-rig/toast", node and node.data
