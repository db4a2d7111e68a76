"""The diff view's drawing and its caches (tui/widgets/diff_view.py): each row is built once in
its final styles; it must draw exactly what plain Strip operations on the highlighted line
draw, and a new diff, an edited branch or a new theme must never show a cached row."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
from pathlib import Path

import pytest
from rich.segment import Segment
from rich.style import Style
from textual.app import App, ComposeResult
from textual.strip import Strip

from gastown_tui.town.display import safe
from gastown_tui.town.town import Town
from gastown_tui.tui.screens.review import ReviewScreen
from gastown_tui.tui.widgets.diff_view import HEADER_KINDS, ROW_CACHE, DiffView
from tests.conftest import GIT_IDENTITY, make_git_repo
from tests.polecat_fixtures import hook_without_window
from tests.tui_fixtures import anyio_backend, settle, snapshot_app, wait_for

__all__ = ["anyio_backend"]  # a fixture, used by name

# Wide characters (cut in half at some widths), a tab, a terminal escape, a line longer than
# any screen, a file with no lexer, a deleted binary and a "no newline" marker.
TRICKY = """diff --git a/x.py b/x.py
index 1111111..2222222 100644
--- a/x.py
+++ b/x.py
@@ -1,6 +1,7 @@ def context():\twith a tab
 import os
-x = "héllo wörld 你好世界 emoji 🚀 end"
+x = "héllo wörld 你好世界 emoji 🚀 end" + "more"
+\ttabbed = 1  # a tab first
-y = "\x1b[31mred escape\x1b[0m"
+y = "a long line {long} end"
 z = 3
\\ No newline at end of file
diff --git a/README b/README
new file mode 100644
--- /dev/null
+++ b/README
@@ -0,0 +1,2 @@
+全角全角全角全角全角全角全角全角全角全角全角全角全角全角全角全角全角全角全角全角全角全角全角全角全角全角全角全角全角全角全角全角全角全角全角全角全角全角全角全角全角全角全角全角全角全角全角全角全角全角全角全角全角全角
+plain
diff --git a/old.bin b/old.bin
deleted file mode 100644
Binary files a/old.bin and /dev/null differ
""".replace("{long}", "." * 300)


class DiffApp(App[None]):
    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    def compose(self) -> ComposeResult:
        yield DiffView(self.text)


def reference_half(view: DiffView, index: int | None, width: int) -> list[Segment]:
    """One side of a row the plain way (Strip crop, extend, restyle), as the view drew it
    before it built rows in their final styles."""
    if index is None:
        return [Segment(" " * width)]
    line = view.diff.lines[index]
    if line.kind in HEADER_KINDS:
        text = safe(("▶ " + line.text) if line.kind == "file" else line.text)
        segs = [Segment(text, view._style(line.kind if line.kind != "meta" else "gutter"))]
    else:
        number = line.new if line.new is not None else line.old
        sign = {"add": "+", "del": "-"}.get(line.kind, " ")
        segs = [
            Segment(f"{number if number is not None else '':>5} ", view._style("gutter")),
            Segment(sign, view._style(f"sign-{line.kind}") if sign != " " else Style()),
            Segment(" "),
            *(Segment(text, view._palette[style]) for text, style in view._code(index)),
        ]
    strip = Strip(segs).crop(0, width).extend_cell_length(width)
    if line.kind in ("add", "del"):
        strip = strip.apply_style(view._style(line.kind))
    return list(strip)


def reference_row(view: DiffView, row: int, width: int) -> Strip:
    if view.split:
        left, right = view.diff.pairs[row]
        if left is not None and view.diff.lines[left].kind in HEADER_KINDS:
            segs = reference_half(view, left, width)
        else:
            half = (width - 1) // 2
            segs = [
                *reference_half(view, left, half),
                Segment("│", view._style("gutter")),
                *reference_half(view, right, width - half - 1),
            ]
    else:
        segs = reference_half(view, row, width)
    return Strip(segs).crop(0, width).apply_style(view.rich_style)


def cells(strip: Strip) -> list[tuple[str, Style | None]]:
    return [(text, style) for text, style, _ in Segment.simplify(list(strip))]


def screen_text(view: DiffView) -> str:
    return "\n".join(view.render_line(y).text for y in range(view.size.height))


@pytest.mark.anyio
@pytest.mark.parametrize("size", [(80, 12), (163, 12), (200, 12), (9, 6)])
async def test_rows_draw_what_plain_strip_operations_draw(size: tuple[int, int]) -> None:
    app = DiffApp(TRICKY)
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        view = app.query_one(DiffView)
        assert view.split == (size[0] >= 160)
        height, width = view.size.height, view.size.width
        for top in range(0, view.rows, height):
            view.scroll_to(y=top, animate=False)
            await pilot.pause()
            top = int(view.scroll_y)  # the last page stops at the end
            for y in range(min(height, view.rows - top)):
                drawn = view.render_line(y)
                assert drawn.cell_length == width
                row = drawn.crop(0, width - 1)  # the last column is the scroll bar
                assert cells(row) == cells(reference_row(view, top + y, width - 1)), (size, top + y)


def bar_column(view: DiffView) -> str:
    """The view's last column: T where the thumb is, . for the track."""
    thumb = view.get_component_rich_style("diff-view--thumb", partial=True).bgcolor
    return "".join(
        "T" if list(view.render_line(y))[-1].style.bgcolor == thumb else "."
        for y in range(view.size.height)
    )


@pytest.mark.anyio
async def test_the_scroll_bar_shows_where_the_view_is() -> None:
    """The view draws its own bar (Textual's redrew all its cells through Rich on every
    scroll): a thumb as tall as the share of the diff on screen, at the top, in the middle
    and at the bottom as the view goes; no thumb when the whole diff fits."""
    body = "".join(f"+GAUGE_{i} = {i}\n" for i in range(98))
    app = DiffApp(f"diff --git a/g.py b/g.py\n--- a/g.py\n+++ b/g.py\n@@ -0,0 +1,98 @@\n{body}")
    async with app.run_test(size=(80, 20)) as pilot:
        await pilot.pause()
        view = app.query_one(DiffView)
        height = view.size.height
        assert view.rows == 100 and height == 20
        assert bar_column(view) == "T" * 4 + "." * 16  # 20 of 100 rows: a fifth of the bar
        view.scroll_to(y=40, animate=False)
        await pilot.pause()
        assert bar_column(view) == "." * 8 + "T" * 4 + "." * 8
        view.scroll_end(animate=False)
        await pilot.pause()
        assert bar_column(view) == "." * 16 + "T" * 4
    app = DiffApp("diff --git a/g.py b/g.py\n--- a/g.py\n+++ b/g.py\n@@ -0,0 +1 @@\n+X = 1\n")
    async with app.run_test(size=(80, 20)) as pilot:
        await pilot.pause()
        assert bar_column(app.query_one(DiffView)) == "." * 20


@pytest.mark.anyio
async def test_a_new_diff_and_a_new_theme_draw_fresh_rows() -> None:
    old = "diff --git a/a.py b/a.py\n--- a/a.py\n+++ b/a.py\n@@ -1 +1 @@\n"
    old += "-OLD_TEXT = 1\n+OLD_TEXT = 2\n"
    app = DiffApp(old)
    async with app.run_test(size=(80, 10)) as pilot:
        await pilot.pause()
        view = app.query_one(DiffView)
        assert "OLD_TEXT" in screen_text(view)
        view.set_diff(old.replace("OLD_TEXT", "NEW_TEXT"))  # the same rows, other text
        await pilot.pause()
        assert "NEW_TEXT" in screen_text(view) and "OLD_TEXT" not in screen_text(view)
        before = view.render_line(3)
        app.theme = "textual-light" if app.current_theme.dark else "textual-dark"
        await pilot.pause()
        after = view.render_line(3)
        assert after.text == before.text and cells(after) != cells(before)
        width = view.size.width - 1  # the last column is the scroll bar
        assert cells(after.crop(0, width)) == cells(reference_row(view, 3, width))


@pytest.mark.anyio
async def test_the_row_cache_stays_bounded_and_rows_come_back_the_same() -> None:
    body = "".join(f"+GAUGE_{i} = {i}\n" for i in range(ROW_CACHE + 200))
    text = (
        f"diff --git a/g.py b/g.py\n--- a/g.py\n+++ b/g.py\n@@ -0,0 +1,{ROW_CACHE + 200} @@\n{body}"
    )
    app = DiffApp(text)
    async with app.run_test(size=(80, 40)) as pilot:
        await pilot.pause()
        view = app.query_one(DiffView)
        first = cells(view.render_line(5))
        for top in range(0, view.rows, view.size.height):
            view.scroll_to(y=top, animate=False)
            await pilot.pause()
        assert len(view._cache) <= ROW_CACHE
        gc.collect()
        gc.collect()
        assert not any(gc.is_tracked(row) for row in view._cache.values()), "rows kept as tuples"
        view.scroll_to(y=0, animate=False)
        await pilot.pause()
        assert cells(view.render_line(5)) == first
        assert "GAUGE_3 = 3" in view.render_line(5).text


def _commit(worktree: Path, text: str) -> None:
    env = {**os.environ, **GIT_IDENTITY}
    (worktree / "gauge.py").write_text(text)
    subprocess.run(["git", "add", "-A"], cwd=worktree, check=True, env=env)
    subprocess.run(["git", "commit", "-qm", "gauge"], cwd=worktree, check=True, env=env)


@pytest.mark.anyio
async def test_an_edit_under_review_shows_after_reopen_and_after_reload(tmp_path: Path) -> None:
    town = Town.init(tmp_path / "town", name="bartertown", runtime="demo")
    repo = make_git_repo(tmp_path / "src", {"gauge.py": "LEVEL = 0\n"})
    town.rigs.add("war-rig", str(repo), prefix="wr")
    bead = town.beads.create("Read the gauge", rig="war-rig")
    address = hook_without_window(town, bead.id, rig="war-rig")
    worktree = Path(town.polecats.get(address).worktree)
    _commit(worktree, "LEVEL = 0\nFIRST_EDIT = 1\n")

    app = snapshot_app(town, polecats=[])
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)

        async def open_review() -> tuple[ReviewScreen, DiffView]:
            screen = ReviewScreen(town, polecat=address)
            app.push_screen(screen)
            await wait_for(pilot, lambda: screen.data is not None, what="the review")
            await pilot.pause()
            return screen, screen.query_one(DiffView)

        screen, view = await open_review()
        assert "FIRST_EDIT" in screen_text(view)
        screen.dismiss(None)
        await pilot.pause()

        _commit(worktree, "LEVEL = 0\nSECOND_EDIT = 2\n")
        screen, view = await open_review()
        assert "SECOND_EDIT" in screen_text(view) and "FIRST_EDIT" not in screen_text(view)

        # The same screen loads again (as after a decision): the same widget, a new diff.
        _commit(worktree, "LEVEL = 0\nTHIRD_EDIT = 3\n")
        screen.data = None
        screen.reload()
        await wait_for(pilot, lambda: screen.data is not None, what="the reload")
        await pilot.pause()
        assert "THIRD_EDIT" in screen_text(view) and "SECOND_EDIT" not in screen_text(view)


def test_highlighted_lines_hold_no_objects_for_the_garbage_collector() -> None:
    """The highlighted code of a diff of thousands of lines stays out of the collector's full
    passes (the stalls a person feels while scrolling): plain tuples of str and int."""
    view = DiffView(TRICKY)
    codes = [view._highlight(line, True) for line in view.diff.lines]
    # The collector drops a tuple of untracked items from its lists when it meets it: the
    # inner pairs on one pass, the line's tuple on the next (a long-lived line meets many).
    gc.collect()
    gc.collect()
    assert codes and not any(gc.is_tracked(code) for code in codes)


def _hunks(count: int) -> str:
    hunks = "".join(
        f"@@ -{10 * i + 1},2 +{10 * i + 1},2 @@\n ctx{i}\n-old{i}\n+new{i}\n" for i in range(count)
    )
    return f"diff --git a/h.py b/h.py\n--- a/h.py\n+++ b/h.py\n{hunks}"


@pytest.mark.anyio
async def test_n_jumps_by_the_hunks_of_the_diff_shown_now() -> None:
    app = DiffApp(_hunks(2))
    async with app.run_test(size=(80, 3)) as pilot:
        await pilot.pause()
        view = app.query_one(DiffView)
        view.focus()
        assert view._starts("hunk") == [1, 5]
        view.set_diff(_hunks(12))  # the hunks found for the old diff must not be used
        await pilot.pause()
        await pilot.press("n", "n", "n")  # rows 1, 5, then 9: past the old diff's last hunk
        assert int(view.scroll_y) == 9
        assert view.diff.lines[view._row_line(9) or 0].kind == "hunk"


WARM_SCRIPT = """
import asyncio, sys
from gastown_tui.town.town import Town
from gastown_tui.tui.app import make_app

async def main(root):
    app = make_app(Town.init(root, name="warm"), watch=False)
    async with app.run_test(size=(100, 30)) as pilot:
        for _ in range(500):
            if app.loaded:
                break
            await pilot.pause(0.02)
        print("before", "pygments.lexers.python" in sys.modules, flush=True)
        for _ in range(500):
            if "pygments.lexers.python" in sys.modules:
                break
            await pilot.pause(0.02)
        print("after", "pygments.lexers.python" in sys.modules, flush=True)

asyncio.run(main(sys.argv[1]))
"""


def test_the_app_warms_the_highlighter_after_it_has_loaded(tmp_path: Path) -> None:
    """The first review's paint does not pay for Pygments' import and its Python lexer: the app
    loads them in a worker once the town is on screen, with no review opened (a fresh process:
    another test's review would have loaded them already)."""
    result = subprocess.run(
        [sys.executable, "-c", WARM_SCRIPT, str(tmp_path / "town")],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "GT_TMUX_CONF": os.devnull},
    )
    assert result.returncode == 0, result.stderr
    assert "after True" in result.stdout, result.stdout
