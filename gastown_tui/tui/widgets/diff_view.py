"""A git diff, highlighted, unified or side by side, drawn line by line.

The diff is parsed once into rows; only the rows on screen are rendered (Textual's line API,
`render_line`). Side by side from SPLIT_WIDTH columns: deleted and added lines of a hunk pair
up, left old, right new.

Highlighting a line with Pygments costs ~0.1-0.2 ms, two a row side by side, so a page of 50
new rows would take a frame: once the first screen is drawn, a thread highlights the rest of
the diff, from the rows on screen onwards, into `_tokens` (plain tuples: nothing for the
garbage collector to walk). A row is then built once, straight into Segments in their final
styles with same-style neighbours merged, and kept (the last ROW_CACHE rows). A page-down
costs the new rows (~25 us each) plus Textual's repaint of the view, which grows with the
segments a row has (bench/bench_review.py).
"""

from __future__ import annotations

import functools
import re
import threading
from dataclasses import dataclass, field
from typing import Any, ClassVar, NamedTuple

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding, BindingType
from textual.color import Color
from textual.geometry import Region, Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from gastown_tui.town.display import safe

SPLIT_WIDTH = 160
HUNK_RE = re.compile(r"^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@(.*)$")


class DiffLine(NamedTuple):
    """One line of the diff (a tuple: one object a line, built fast, never changed)."""

    kind: str  # file | hunk | ctx | add | del | meta
    text: str
    old: int | None = None
    new: int | None = None
    file: int = 0


@dataclass
class ParsedDiff:
    lines: list[DiffLine] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    # side by side: (left, right) pairs of indexes into `lines` (None: blank half)
    pairs: list[tuple[int | None, int | None]] = field(default_factory=list)


def parse_diff(text: str) -> ParsedDiff:
    out = ParsedDiff()
    old = new = 0
    pending_del: list[int] = []
    pending_add: list[int] = []

    def flush() -> None:
        for i in range(max(len(pending_del), len(pending_add))):
            left = pending_del[i] if i < len(pending_del) else None
            right = pending_add[i] if i < len(pending_add) else None
            out.pairs.append((left, right))
        pending_del.clear()
        pending_add.clear()

    def add(line: DiffLine) -> int:
        out.lines.append(line)
        return len(out.lines) - 1

    in_header = False
    for raw in text.splitlines():
        if raw.startswith("diff --git "):
            flush()
            path = raw.split(" b/", 1)[-1] if " b/" in raw else raw[11:]
            out.files.append(path)
            index = add(DiffLine("file", path, file=len(out.files) - 1))
            out.pairs.append((index, index))
            in_header = True
            continue
        file_no = max(0, len(out.files) - 1)
        match = HUNK_RE.match(raw)
        if match:
            flush()
            in_header = False
            old, new = int(match.group(1)), int(match.group(2))
            index = add(DiffLine("hunk", raw, file=file_no))
            out.pairs.append((index, index))
            continue
        if in_header:
            if raw.startswith(("new file", "deleted file", "rename ", "Binary files")):
                index = add(DiffLine("meta", raw, file=file_no))
                out.pairs.append((index, index))
            continue
        if raw.startswith("+"):
            pending_add.append(add(DiffLine("add", raw[1:], None, new, file_no)))
            new += 1
        elif raw.startswith("-"):
            pending_del.append(add(DiffLine("del", raw[1:], old, None, file_no)))
            old += 1
        elif raw.startswith("\\"):
            flush()
            index = add(DiffLine("meta", raw, file=file_no))
            out.pairs.append((index, index))
        else:
            flush()
            index = add(DiffLine("ctx", raw[1:], old, new, file_no))
            out.pairs.append((index, index))
            old += 1
            new += 1
    flush()
    return out


def _lexer(path: str) -> Any:
    name = path.rsplit("/", 1)[-1]
    return _lexer_for(name.rsplit(".", 1)[-1] if "." in name else name)


# Common suffixes by lexer name: `get_lexer_by_name` imports one module, where finding a lexer
# by file name matches every lexer's patterns (about 200 ms the first time, in the first paint).
KNOWN_LEXERS = {
    "py": "python", "pyi": "python", "js": "javascript", "mjs": "javascript", "ts": "typescript",
    "tsx": "tsx", "jsx": "jsx", "go": "go", "rs": "rust", "c": "c", "h": "c", "cc": "cpp",
    "cpp": "cpp", "hpp": "cpp", "java": "java", "rb": "ruby", "sh": "bash", "bash": "bash",
    "md": "markdown", "toml": "toml", "json": "json", "yaml": "yaml", "yml": "yaml",
    "html": "html", "css": "css", "sql": "sql", "tcss": "css",
}  # fmt: skip


@functools.lru_cache(maxsize=64)
def _lexer_for(suffix: str) -> Any:
    """Finding a lexer scans every Pygments lexer's patterns: once per file suffix."""
    from pygments.lexers import get_lexer_by_name, get_lexer_for_filename
    from pygments.util import ClassNotFound

    try:
        if suffix.lower() in KNOWN_LEXERS:
            return get_lexer_by_name(KNOWN_LEXERS[suffix.lower()], stripnl=False, ensurenl=False)
        return get_lexer_for_filename(f"x.{suffix}", stripnl=False, ensurenl=False)
    except ClassNotFound:
        return None


@functools.lru_cache(maxsize=2)
def _syntax_theme(dark: bool) -> Any:
    from rich.syntax import Syntax

    return Syntax.get_theme("ansi_dark" if dark else "ansi_light")


def warm_highlighting(dark: bool, suffixes: tuple[str, ...] = ("py",)) -> None:
    """Import Pygments and compile the lexers for `suffixes` ahead of the first review (safe
    from any thread: the caches keep one lexer each, and a lexer holds no state between runs)."""
    for suffix in suffixes:
        _lexer_for(suffix)
    _syntax_theme(dark)


class DiffView(ScrollView, can_focus=True):
    """j/k scroll, n/N next/previous hunk, ]/[ next/previous file."""

    # The view draws its own scroll bar in its last column (`_bar`): Textual's ScrollBar
    # widget redraws all its cells through Rich on every scroll, ~3 ms of a page-down's ~8 at
    # 200x50 (bench/bench_review.py). The wheel still scrolls; the bar cannot be dragged.
    DEFAULT_CSS = """
    DiffView { background: $surface; overflow-x: hidden; scrollbar-size-vertical: 0; }
    DiffView > .diff-view--track { background: $scrollbar-background; }
    DiffView > .diff-view--thumb { background: $scrollbar; }
    """
    COMPONENT_CLASSES: ClassVar[set[str]] = {"diff-view--track", "diff-view--thumb"}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j,down", "scroll_down", "Down", show=False, id="diff-down"),
        Binding("k,up", "scroll_up", "Up", show=False, id="diff-up"),
        Binding("n", "hunk(1)", "Next hunk", show=False, id="diff-next-hunk"),
        Binding("N", "hunk(-1)", "Prev hunk", show=False, id="diff-prev-hunk"),
        Binding("right_square_bracket", "file(1)", "Next file", show=False, id="diff-next-file"),
        Binding("left_square_bracket", "file(-1)", "Prev file", show=False, id="diff-prev-file"),
        Binding("space,pagedown", "page_down", "Page", show=False, id="diff-page-down"),
        Binding("b,pageup", "page_up", "Page up", show=False, id="diff-page-up"),
        Binding("g,home", "scroll_home", "Top", show=False, id="diff-top"),
        Binding("G,end", "scroll_end", "Bottom", show=False, id="diff-bottom"),
    ]

    def __init__(self, text: str = "", *, id: str | None = None) -> None:
        super().__init__(id=id)
        # Rows drawn: (texts, palette ids) by (row, width, split, the widget's style id).
        self._cache: dict[tuple[int, int, bool, int], tuple[tuple[str, ...], tuple[int, ...]]] = {}
        self._lexers: dict[int, Any] = {}
        # Highlighted code per line index (width-independent); filled ahead by a thread. Each
        # line is ((text, style id), ...), ids into `_palette`: plain tuples, which the garbage
        # collector stops tracking, where Segments (holding Style objects) stay tracked.
        self._tokens: dict[int, Code] = {}
        # Every style a token or a drawn row uses, by id: what the plain tuples refer to.
        self._palette: list[Style] = [Style()]
        self._palette_ids: dict[Style, int] = {Style(): 0}
        self._palette_lock = threading.Lock()  # the highlight thread adds styles too
        self._generation = 0  # bumped by set_diff and a theme change: stale threads stop
        self._styles: dict[str, Style] = {}
        self._frame: tuple[int, bool, Style] | None = None  # set while render_lines runs
        self._bar: tuple[int, int, Style, Style] | None = None  # (thumb from, to, styles)
        self._starts_cache: dict[tuple[str, bool], list[int]] = {}
        self.set_diff(text)

    # -- the model -----------------------------------------------------------------------
    def set_diff(self, text: str) -> None:
        self.diff = parse_diff(text)
        self._cache.clear()
        self._starts_cache.clear()
        self._lexers.clear()
        self._tokens = {}
        self._generation += 1
        self._update_size()
        self.refresh()
        if self.is_attached and self.diff.lines:
            # After the first screen is on: the thread would compete with it for the GIL.
            self.set_timer(0.2, self._highlight_ahead)

    @property
    def highlighted(self) -> int:
        """How many lines are highlighted so far (the bench waits on it)."""
        return len(self._tokens)

    def _highlight_ahead(self) -> None:
        """Highlight every line in a daemon thread, from the top row on screen onwards."""
        generation = self._generation
        if not self.is_attached:
            return
        start = self._row_line(min(int(self.scroll_y), max(self.rows - 1, 0))) or 0
        order = list(range(start, len(self.diff.lines))) + list(range(start))
        dark = self.app.current_theme.dark
        tokens = self._tokens

        def run() -> None:
            for index in order:
                if self._generation != generation:
                    return
                if index not in tokens:
                    tokens[index] = self._highlight(self.diff.lines[index], dark)

        threading.Thread(target=run, name="diff-highlight", daemon=True).start()

    @property
    def split(self) -> bool:
        width = self.app.size.width if self.is_attached else self.size.width
        return width >= SPLIT_WIDTH

    @property
    def rows(self) -> int:
        return len(self.diff.pairs) if self.split else len(self.diff.lines)

    def _update_size(self) -> None:
        # No horizontal scrolling: long lines are cut at the edge (a review reads hunks).
        self.virtual_size = Size(self.size.width, self.rows)

    def on_resize(self) -> None:
        # The cache is keyed by width: nothing to drop (a height change keeps every line).
        self._update_size()

    def _row_line(self, row: int) -> int | None:
        if self.split:
            left, right = self.diff.pairs[row]
            return left if left is not None else right
        return row

    def _starts(self, kind: str) -> list[int]:
        """The rows where each hunk (or file) starts: found once a diff and mode, as a walk
        over a 2,000-line diff takes a few ms of every n/N/]/[ press."""
        key = (kind, self.split)
        found = self._starts_cache.get(key)
        if found is None:
            found = self._starts_cache[key] = self._find_starts(kind)
        return found

    def _find_starts(self, kind: str) -> list[int]:
        rows = range(self.rows)
        return [
            r
            for r in rows
            if (i := self._row_line(r)) is not None and self.diff.lines[i].kind == kind
        ]

    def row_of_file(self, index: int) -> int | None:
        for row in self._starts("file"):
            line = self._row_line(row)
            if line is not None and self.diff.lines[line].file == index:
                return row
        return None

    def action_hunk(self, step: int) -> None:
        self._jump(self._starts("hunk"), step)

    def action_file(self, step: int) -> None:
        self._jump(self._starts("file"), step)

    def _jump(self, starts: list[int], step: int) -> None:
        top = int(self.scroll_y)
        if step > 0:
            target = next((r for r in starts if r > top), None)
        else:
            target = next((r for r in reversed(starts) if r < top), None)
        if target is not None:
            self.scroll_to(y=target, animate=False)

    def jump_to_file(self, index: int) -> None:
        row = self.row_of_file(index)
        if row is not None:
            self.scroll_to(y=row, animate=False)

    def action_scroll_down(self) -> None:
        self.scroll_to(y=self.scroll_y + 1, animate=False)

    def action_scroll_up(self) -> None:
        self.scroll_to(y=self.scroll_y - 1, animate=False)

    def on_mount(self) -> None:
        self.watch(self.app, "theme", lambda _theme: self._restyle(), init=False)

    def on_unmount(self) -> None:
        self._generation += 1  # a closed review stops highlighting

    def _restyle(self) -> None:
        self._styles.clear()
        self._cache.clear()
        self._tokens = {}
        self._generation += 1
        self.refresh()
        if self.diff.lines:
            self.set_timer(0.2, self._highlight_ahead)

    # -- drawing -------------------------------------------------------------------------
    def _style(self, kind: str) -> Style:
        if kind in self._styles:
            return self._styles[kind]
        theme = self.app.current_theme
        background = Color.parse(theme.background or ("#121212" if theme.dark else "#efefef"))
        muted = Color.parse(theme.foreground or "#e0e0e0").blend(background, 0.5)
        colors = {
            "add": Color.parse(theme.success or "#4EBF71"),
            "del": Color.parse(theme.error or "#BA3C5B"),
            "hunk": Color.parse(theme.accent or theme.primary),
            "file": Color.parse(theme.primary),
        }
        if kind in ("add", "del"):
            style = Style(bgcolor=colors[kind].blend(background, 0.78).rich_color)
        elif kind == "sign-add":
            style = Style(color=colors["add"].rich_color, bold=True)
        elif kind == "sign-del":
            style = Style(color=colors["del"].rich_color, bold=True)
        elif kind in ("hunk", "file"):
            style = Style(color=colors[kind].rich_color, bold=kind == "file")
        elif kind == "gutter":
            style = Style(color=muted.rich_color)
        else:
            style = Style()
        self._styles[kind] = style
        return style

    def _code(self, index: int) -> Code:
        code = self._tokens.get(index)
        if code is None:
            code = self._highlight(self.diff.lines[index], self.app.current_theme.dark)
            self._tokens[index] = code
        return code

    def _style_id(self, style: Style) -> int:
        found = self._palette_ids.get(style)
        if found is None:
            with self._palette_lock:
                found = self._palette_ids.get(style)
                if found is None:
                    self._palette.append(style)
                    found = self._palette_ids[style] = len(self._palette) - 1
        return found

    def _highlight(self, line: DiffLine, dark: bool) -> Code:
        """Pure (no widget state but the lexer and style caches): safe to run in the
        highlight thread."""
        lexer = self._lexers.get(line.file, False)
        if lexer is False:
            path = self.diff.files[line.file] if line.file < len(self.diff.files) else ""
            lexer = _lexer(path)
            self._lexers[line.file] = lexer
        text = safe(line.text.expandtabs(4))  # a diff may hold terminal escapes: show them
        if lexer is None:
            return ((text, 0),)
        theme = _syntax_theme(dark)
        out = []
        for token_type, value in lexer.get_tokens(text):
            value = value.rstrip("\n")
            if value:
                out.append((value, self._style_id(theme.get_style_for_token(token_type))))
        return tuple(out)

    def _half(self, index: int | None, width: int, base: Style) -> list[Segment]:
        """One side (or the whole, unified) of a row, `width` cells exactly: gutter, sign,
        highlighted code, each segment in its final style (the widget's `base` under the
        line's colour under the token's), so the row is built once with no restyling pass."""
        if index is None:
            return [Segment(" " * width, base)] if width > 0 else []
        line = self.diff.lines[index]
        kind = line.kind
        if kind in HEADER_KINDS:
            text = safe(("▶ " + line.text) if kind == "file" else line.text)
            style = base + self._style(kind if kind != "meta" else "gutter")
            return _fit([(text, style)], width, base)
        under = base + self._style(kind) if kind in ("add", "del") else base
        number = line.new if line.new is not None else line.old
        parts = [
            (f"{number if number is not None else '':>5} ", under + self._style("gutter")),
            ("+", under + self._style("sign-add"))
            if kind == "add"
            else ("-", under + self._style("sign-del"))
            if kind == "del"
            else (" ", under),
            (" ", under),
        ]
        palette = self._palette
        for text, style_id in self._code(index):
            style = palette[style_id]
            parts.append((text, under + style if style else under))
        return _fit(parts, width, under)

    def render_lines(self, crop: Region) -> list[Strip]:
        # What every row of this repaint shares, looked up once: each look-up walks the CSS
        # or the layout, and a page-down draws ~48 new rows (bench/bench_review.py).
        self._frame = (self.size.width - 1, self.split, self.rich_style)
        self._bar = self._bar_layout()
        try:
            return super().render_lines(crop)
        finally:
            self._frame = self._bar = None

    def _bar_layout(self) -> tuple[int, int, Style, Style]:
        """The scroll bar's thumb (first and past-last line on screen) and its styles."""
        height, rows = self.size.height, self.rows
        track = self.get_component_rich_style("diff-view--track", partial=True)
        thumb = self.get_component_rich_style("diff-view--thumb", partial=True)
        if rows <= height or height <= 0:
            return 0, 0, NULL_STYLE, thumb  # all of it on screen: no bar, as Textual's
        size = max(1, round(height * height / rows))
        top = round(self.scroll_offset.y * (height - size) / (rows - height))
        return top, top + size, track, thumb

    def render_line(self, y: int) -> Strip:
        bar = self._bar or self._bar_layout()
        start, end, track, thumb = bar
        base = (self._frame or (0, False, self.rich_style))[2]
        segments, width = self._row(y)
        segments.append(Segment(" ", base + (thumb if start <= y < end else track)))
        return Strip(segments, width + 1)

    def _row(self, y: int) -> tuple[list[Segment], int]:
        """Line `y` of the view without the bar: its segments and their width."""
        width, split, base = self._frame or (self.size.width - 1, self.split, self.rich_style)
        width = max(width, 0)
        row = y + self.scroll_offset.y
        rows = len(self.diff.pairs) if split else len(self.diff.lines)
        if row >= rows or width <= 0:
            return ([Segment(" " * width, base)] if width else []), width
        # Keyed by the widget's style too: a CSS change (not only a theme change, which clears
        # the cache) then draws fresh rows.
        key = (row, width, split, self._style_id(base))
        drawn = self._cache.get(key)
        if drawn is None:
            if split:
                left, right = self.diff.pairs[row]
                if left is not None and self.diff.lines[left].kind in HEADER_KINDS:
                    segs = self._half(left, width, base)
                else:
                    half = (width - 1) // 2
                    segs = self._half(left, half, base)
                    segs.append(Segment("│", base + self._style("gutter")))
                    segs += self._half(right, width - half - 1, base)
            else:
                segs = self._half(row, width, base)
            # Neighbours of one style merged: Textual restyles, filters and cuts every segment
            # of every visible row on each repaint, so fewer segments make each scroll cheaper.
            # Kept as plain tuples (texts, palette ids), not a Strip: the collector stops
            # walking them, where a kept Strip is ~20 objects it walks on every full pass, and
            # a long review keeps hundreds (each pass then stalls the app for ~0.1 s).
            merged = _merge(segs)
            drawn = (
                tuple(segment.text for segment in merged),
                tuple(self._style_id(segment.style or NULL_STYLE) for segment in merged),
            )
            if len(self._cache) >= ROW_CACHE:
                del self._cache[next(iter(self._cache))]  # the oldest row out
            self._cache[key] = drawn
        texts, ids = drawn
        palette = self._palette
        return [Segment(text, palette[i]) for text, i in zip(texts, ids, strict=True)], width


HEADER_KINDS = frozenset(("file", "hunk", "meta"))
NULL_STYLE = Style()
# Rows kept drawn: ten screens of 50, so moving about a page builds no row again, while a row
# costs only ~25 us to build again (bench/bench_review.py).
ROW_CACHE = 500
Code = tuple[tuple[str, int], ...]  # a line's highlighted text: (text, palette id) pairs


def _cells(text: str) -> int:
    # Printable ASCII is one cell a character: skip Rich's per-character width look-up.
    return len(text) if text.isascii() and text.isprintable() else cell_len(text)


def _fit(parts: list[tuple[str, Style]], width: int, pad: Style) -> list[Segment]:
    """`parts` cut or padded (in `pad`) to exactly `width` cells, as `Strip.crop` and
    `Strip.extend_cell_length` would, without building a Strip for each step."""
    out: list[Segment] = []
    used = 0
    for text, style in parts:
        if used >= width:
            break
        if not text:
            continue
        cells = _cells(text)
        if used + cells > width:
            # A wide character cut in half becomes a space, as in Strip.crop.
            out.append(Segment(text, style).split_cells(width - used)[0])
            used = width
            break
        out.append(Segment(text, style))
        used += cells
    if used < width:
        out.append(Segment(" " * (width - used), pad))
    return out


def _merge(segments: list[Segment]) -> list[Segment]:
    out: list[Segment] = []
    for segment in segments:
        if out and (out[-1].style is segment.style or out[-1].style == segment.style):
            out[-1] = Segment(out[-1].text + segment.text, segment.style)
        else:
            out.append(segment)
    return out
