"""Issue 12, key -> repaint: moving the Rigs cursor onto a polecat changes the Preview's title
within the key's own handling (so both are painted in one frame), the capture of its window
follows from a worker however slow tmux is, and a capture that arrives late for a polecat no
longer selected never replaces the newer one. The footer is not rebuilt when a selection only
enables keys, and a capture of any length keeps the preview's height (a repaint, not a layout
of the whole screen). Timings are in bench/bench_scale.py (`agents`)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from gastown_tui.town.town import Town
from gastown_tui.tui.app import GasTownApp, make_app
from gastown_tui.tui.widgets.footer import TownFooter
from gastown_tui.views.actions import TownData
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

SIZE = (160, 48)
FURIOSA, NUX = "war-rig/furiosa", "war-rig/nux"  # panes %1 and %2 (tests/tui_fixtures.py)


@pytest.fixture
def snap_town(tmp_path: Path, utc: None) -> Town:
    return build_snapshot_town(tmp_path)


class GatedCapture:
    """A capture of a tmux pane that, for the panes in `slow`, waits until let go."""

    def __init__(self, *slow: str) -> None:
        self.gates = {pane: threading.Event() for pane in slow}
        self.returned = {pane: threading.Event() for pane in slow}

    def __call__(self, pane: str, _lines: int) -> str:
        gate = self.gates.get(pane)
        if gate is not None:
            gate.wait(20)
        try:
            return f"screen of {pane}"
        finally:
            if pane in self.returned:
                self.returned[pane].set()


def app_with(town: Town, capture: GatedCapture) -> GasTownApp:
    rows = snapshot_polecats(town)
    app = make_app(
        town, watch=False, data=TownData(town, None, observe=lambda: rows, capture=capture)
    )
    app.animation_level = "none"
    return app


def preview_text(app: GasTownApp) -> str:
    return str(app.preview_pane.text_widget.render())


async def test_the_title_changes_with_the_cursor_and_a_slow_capture_follows(
    snap_town: Town,
) -> None:
    capture = GatedCapture("%1")
    app = app_with(snap_town, capture)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        try:
            preview = app.preview_pane
            assert preview.border_title == "5 Preview"
            app.rigs_pane.select_polecat(FURIOSA)
            # No await between: the title is set inside the cursor's move, so the frame that
            # paints the cursor paints the title too.
            assert preview.border_title == f"5 Preview · {FURIOSA}"
            assert app.selected_address == FURIOSA
            await pilot.pause()
            assert "screen of" not in preview_text(app), "tmux has not answered yet"
            assert not capture.returned["%1"].is_set()
        finally:
            capture.gates["%1"].set()
        await wait_for(pilot, lambda: "screen of %1" in preview_text(app), what="the capture")


async def test_a_late_capture_never_replaces_a_newer_selection(snap_town: Town) -> None:
    capture = GatedCapture("%1")
    app = app_with(snap_town, capture)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        try:
            app.rigs_pane.select_polecat(FURIOSA)  # its capture hangs
            await pilot.pause()
            app.rigs_pane.select_polecat(NUX)
            await wait_for(pilot, lambda: "screen of %2" in preview_text(app), what="nux's screen")
        finally:
            capture.gates["%1"].set()
        assert capture.returned["%1"].wait(10), "furiosa's capture returns"
        for _ in range(5):
            await pilot.pause(0.02)
        assert "screen of %2" in preview_text(app)
        assert "screen of %1" not in preview_text(app)
        assert app.preview_pane.border_title == f"5 Preview · {NUX}"


async def test_the_footer_is_not_rebuilt_when_its_keys_stay_the_same(snap_town: Town) -> None:
    from textual.widgets._footer import FooterKey

    app = snapshot_app(snap_town)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("3")  # the mail pane: each message the cursor reaches rebinds keys
        await settle(pilot)
        footer = app.town_screen.query_one(TownFooter)
        before = list(footer.query(FooterKey))
        first = app.selected_message_id
        await pilot.press("down")
        await settle(pilot)
        await pilot.pause(0.05)
        assert app.selected_message_id not in (None, first)
        after = list(footer.query(FooterKey))
        assert [k.action for k in after] == [k.action for k in before]
        assert all(a is b for a, b in zip(after, before, strict=True)), "not recomposed"
        # A selection that changes which keys there are does rebuild it.
        app.rigs_pane.select_polecat(FURIOSA)
        await wait_for(
            pilot,
            lambda: "nudge" in [k.action for k in footer.query(FooterKey)],
            what="nudge in the footer",
        )


async def test_captures_of_any_length_keep_the_preview_height(snap_town: Town) -> None:
    lengths = iter([3, 40, 1])
    rows = snapshot_polecats(snap_town)
    shown: list[int] = []

    def capture(_pane: str, lines: int) -> str:
        count = min(next(lengths, 2), lines)
        shown.append(count)
        return "\n".join(f"line {n}" for n in range(count))

    data = TownData(snap_town, None, observe=lambda: rows, capture=capture)
    app = make_app(snap_town, watch=False, data=data)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        preview = app.preview_pane
        view = preview.scroller.scrollable_content_region.height
        assert view > 5
        assert preview.text_widget.size.height == view, "the placeholder fills the view"
        for address in (FURIOSA, NUX, FURIOSA):
            app.rigs_pane.select_polecat(address)
            await wait_for(pilot, lambda: preview._shown is not None, what="a capture shown")
            await pilot.pause()
            assert preview.text_widget.size.height == view
            assert preview.scroller.max_scroll_y == 0, "nothing hidden above the view"
    assert shown[:3] == [3, min(40, view), 1]


async def test_a_retitled_bead_repaints_its_own_line_only(snap_town: Town) -> None:
    """A write that changes one row's label redraws that line of the tree, not the pane: a
    frame draws every widget under the region it repaints (the bounding box of all of them),
    so a whole-tree repaint per write cost the app as much as everything else it does."""
    from gastown_tui.tui.widgets.rigs import _walk

    app = snapshot_app(snap_town)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        tree = app.rigs_pane.tree
        bead = tree.rigs.ready[0]
        compositor = app.town_screen._compositor
        frames: list[list[object]] = []
        render_update = compositor.render_update

        def spy(*args: object, **kwargs: object) -> object:
            frames.append(list(compositor._dirty_regions))
            return render_update(*args, **kwargs)

        compositor.render_update = spy  # type: ignore[method-assign]
        snap_town.beads.update(bead.id, title="retitled by another process")
        app.load_rigs({f"rig:{bead.rig}"})
        await wait_for(
            pilot,
            lambda: any("retitled" in str(node.label) for node in _walk(tree.root)),
            what="the new title in the tree",
        )
        await settle(pilot)
        await pilot.pause(0.1)
        on_tree = [r for frame in frames for r in frame if r.overlaps(tree.region)]
        assert on_tree, "the new title was painted"
        assert {r.height for r in on_tree} == {1}, on_tree
        line = next(
            y
            for y in range(tree.size.height)
            if "retitled" in "".join(s.text for s in tree.render_line(y))
        )
        assert on_tree[0].y == tree.region.y + line
