"""The Convoys pane: convoys in flight with `n/m` and a progress bar, then the recently landed.
Enter opens a convoy's bead list."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.content import Content
from textual.widgets import Label, ListItem, ListView, Static

from gastown_tui.tui.format import clip, iso_ago
from gastown_tui.tui.messages import ConvoyOpened
from gastown_tui.tui.widgets.pane import Pane
from gastown_tui.views.rows import ConvoyRow, ConvoysSnapshot

if TYPE_CHECKING:
    from gastown_tui.views.actions import TownData


FLYING_SHOWN = 40  # convoys in flight listed as rows (the rest: a count and the palette)


BAR_CELLS = 24  # the progress bar's width


def progress_bar(done: int, total: int) -> Content:
    """The bar Textual's ProgressBar draws (textual/renderables/bar.py), as text: lit to the
    half cell below done/total, the rest in the surface colour; the landed colour when full."""
    share = min(max(done / max(total, 1), 0.0), 1.0)
    halves = int(share * 2 * BAR_CELLS)
    if halves == 0:
        return Content.styled("━" * BAR_CELLS, "$surface")
    full, half = divmod(halves, 2)
    lit = "━" * full + ("╸" if half else "")
    rest = ("" if half or full == BAR_CELLS else "╺") + "━" * max(0, BAR_CELLS - full - 1)
    colour = "$gt-landed" if full == BAR_CELLS else "$gt-working"
    return Content.assemble((lit, colour), (rest, "$surface"))


class ConvoyItem(ListItem):
    """One convoy, two lines: id and title, then its bar and `n/m` (or when it landed).

    Two widgets inside, the title and the line under it, which draws the bar itself: as a
    row of ProgressBar, Bar and count Label it was six widgets a convoy, each with its message
    queue, styles and line caches: ~7 MB of the app for the 40 convoys listed at 200 agents
    (issue 12: the town's own memory)."""

    def __init__(self, row: ConvoyRow, now: float) -> None:
        super().__init__(classes="convoy -landed" if row.state == "landed" else "convoy")
        self.row = row
        self.now = now
        # Kept at hand: a refresh of hundreds of convoys (a sling makes one) must not run CSS
        # queries per row (issue 12: a third of the app's time).
        self._title_label: Label | None = None
        self._line: Static | None = None
        self._landed_text = ""

    def compose(self) -> ComposeResult:
        self._title_label = Label(self._title(), classes="convoy-title")
        yield self._title_label
        self._line = Static(self._line_content(), classes="convoy-line")
        yield self._line

    def _title(self) -> Content:
        return Content.assemble((self.row.id, "$text-muted"), " ", clip(self.row.title, 60))

    def _line_content(self) -> Content:
        row = self.row
        if row.state == "landed":
            when = iso_ago(row.landed_at, self.now)
            self._landed_text = when
            return Content.styled(f"✔ landed {when} ago" if when else "✔ landed", "$gt-landed")
        # The gap is a span of its own, as the count's padding was (the same segments drawn).
        gap = (" ", "$surface")
        return Content.assemble(progress_bar(row.done, row.total), gap, f"{row.done}/{row.total}")

    def refresh_row(self, row: ConvoyRow, now: float) -> None:
        """Update in place what changed. The item may not be composed yet (the list was just
        rebuilt: compose reads `self.row`) or be on its way out: then it has no labels yet."""
        old, self.row, self.now = self.row, row, now
        if row == old:
            self.refresh_age(now)
            return
        if self._title_label is not None and (row.id, row.title) != (old.id, old.title):
            self._title_label.update(self._title())
        if self._line is not None:
            self._line.update(self._line_content())

    def refresh_age(self, now: float) -> None:
        """The age in "landed 3m ago": repainted only when its text changes."""
        self.now = now
        if self._line is None or self.row.state != "landed":
            return
        if iso_ago(self.row.landed_at, now) != self._landed_text:
            self._line.update(self._line_content())


class ConvoysPane(Pane):
    PANE = "convoys"
    TITLE = "Convoys"
    SCOPES = ("town", "rig:*", "archive")

    @staticmethod
    def load(data: TownData) -> ConvoysSnapshot:
        return data.load_convoys()

    def show_loaded(self, snapshot: ConvoysSnapshot, now: float) -> None:
        self.show(snapshot, now)

    def __init__(self) -> None:
        super().__init__()
        self.snapshot = ConvoysSnapshot()
        self._shape: tuple[object, ...] | None = None

    def compose(self) -> ComposeResult:
        yield ListView(id="convoy-list")
        yield Label("No convoys in flight. `c` makes one from marked beads.", id="convoys-empty")

    def show(self, snapshot: ConvoysSnapshot, now: float) -> None:
        self.snapshot = snapshot
        listing = self.query_one(ListView)
        rows = [*snapshot.in_flight, *snapshot.landed]
        shape = tuple((r.id, r.state) for r in rows)
        empty = not rows
        self.query_one("#convoys-empty").display = empty
        listing.display = not empty
        flying = len(snapshot.in_flight)
        landed = len(snapshot.landed)
        self.set_border(subtitle=f"{flying} in flight · {landed} landed" if rows else "")
        shape = (*shape[:FLYING_SHOWN], len(snapshot.in_flight), *shape[flying:])
        if shape == self._shape:
            # Same convoys: update in place what changed, keeping the cursor where it is.
            by_id = {r.id: r for r in rows}
            for item in listing.children:
                if isinstance(item, ConvoyItem) and item.row.id in by_id:
                    item.refresh_row(by_id[item.row.id], now)
            return
        self._shape = shape
        index = listing.index
        listing.clear()
        items: list[ListItem] = [ConvoyItem(r, now) for r in snapshot.in_flight[:FLYING_SHOWN]]
        if flying > FLYING_SHOWN:
            # Every sling makes a convoy: hundreds of rows of widgets would make every layout
            # of the screen (a key, a new event) walk them all. The rest is one palette away.
            more = f"… {flying - FLYING_SHOWN} more in flight: ctrl+p finds any convoy"
            items.append(ListItem(Label(more), classes="convoy-heading", disabled=True))
        if snapshot.landed:
            items.append(
                ListItem(Label("recently landed"), classes="convoy-heading", disabled=True)
            )
            items.extend(ConvoyItem(r, now) for r in snapshot.landed)
        listing.extend(items)
        if items:
            listing.index = min(index or 0, len(items) - 1)

    def refresh_ages(self, snapshot: ConvoysSnapshot, now: float) -> None:
        """The ages of landed convoys on screen (the app's timer, every AGE_REFRESH s): the
        rows scrolled out of sight are left alone, a later tick finds them on screen. It
        walked every convoy with three CSS queries each, and a sling makes a convoy."""
        if snapshot is not self.snapshot:
            self.show(snapshot, now)
            return
        listing = self.query_one(ListView)
        if not listing.display or not self.display:
            return
        top = listing.scroll_offset.y
        bottom = top + listing.scrollable_content_region.height
        for item in listing.children:
            if not isinstance(item, ConvoyItem) or item.row.state != "landed":
                continue
            region = item.virtual_region
            if region.bottom > top and region.y < bottom:
                item.refresh_age(now)

    def on_list_view_selected(self, event: ListView.Selected) -> None:
        event.stop()
        if isinstance(event.item, ConvoyItem):
            self.post_message(ConvoyOpened(event.item.row.id))

    def selected_convoy(self) -> ConvoyRow | None:
        listing = self.query_one(ListView)
        item = listing.highlighted_child
        return item.row if isinstance(item, ConvoyItem) else None
