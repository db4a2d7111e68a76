"""The Convoys pane: convoys in flight with `n/m` and a progress bar, then the recently landed.
Enter opens a convoy's bead list."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.content import Content
from textual.widgets import Label, ListItem, ListView, ProgressBar

from gastown_tui.tui.format import clip, iso_ago
from gastown_tui.tui.messages import ConvoyOpened
from gastown_tui.tui.widgets.pane import Pane
from gastown_tui.views.rows import ConvoyRow, ConvoysSnapshot

if TYPE_CHECKING:
    from gastown_tui.views.actions import TownData


class ConvoyItem(ListItem):
    def __init__(self, row: ConvoyRow, now: float) -> None:
        super().__init__(classes="convoy -landed" if row.state == "landed" else "convoy")
        self.row = row
        self.now = now

    def compose(self) -> ComposeResult:
        # Two lines: the title gets the whole width, the bar and count go underneath.
        yield Label(self._title(), classes="convoy-title")
        with Horizontal(classes="convoy-line"):
            if self.row.state == "landed":
                yield Label(self._landed(), classes="convoy-landed")
            else:
                yield ProgressBar(
                    total=max(self.row.total, 1),
                    show_eta=False,
                    show_percentage=False,
                    classes="convoy-bar",
                )
                yield Label(self._count(), classes="convoy-count")

    def on_mount(self) -> None:
        self._update_bar()

    def _title(self) -> Content:
        return Content.assemble((self.row.id, "$text-muted"), " ", clip(self.row.title, 60))

    def _count(self) -> str:
        return f"{self.row.done}/{self.row.total}"

    def _landed(self) -> Content:
        when = iso_ago(self.row.landed_at, self.now)
        return Content.styled(f"✔ landed {when} ago" if when else "✔ landed", "$gt-landed")

    def _update_bar(self) -> None:
        for bar in self.query(ProgressBar):
            bar.update(total=max(self.row.total, 1), progress=self.row.done)

    def refresh_row(self, row: ConvoyRow, now: float) -> None:
        """Update in place. The item may not be composed yet (the list was just rebuilt) or
        be on its way out: then there is nothing to update (compose reads `self.row`), so
        query without `query_one`, which raised NoMatches and ended the app."""
        self.row = row
        self.now = now
        for label in self.query(".convoy-title").results(Label):
            label.update(self._title())
        if row.state == "landed":
            for label in self.query(".convoy-landed").results(Label):
                label.update(self._landed())
        else:
            for label in self.query(".convoy-count").results(Label):
                label.update(self._count())
            self._update_bar()


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
        self._shape: tuple[tuple[str, str], ...] | None = None

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
        if shape == self._shape:
            # Same convoys: update counts and bars in place, keeping the cursor where it is.
            for item in listing.query(ConvoyItem):
                row = next((r for r in rows if r.id == item.row.id), None)
                if row is not None:
                    item.refresh_row(row, now)
            return
        self._shape = shape
        index = listing.index
        listing.clear()
        items: list[ListItem] = [ConvoyItem(r, now) for r in snapshot.in_flight]
        if snapshot.landed:
            items.append(
                ListItem(Label("recently landed"), classes="convoy-heading", disabled=True)
            )
            items.extend(ConvoyItem(r, now) for r in snapshot.landed)
        listing.extend(items)
        if items:
            listing.index = min(index or 0, len(items) - 1)

    def on_list_view_selected(self, event: ListView.Selected) -> None:
        event.stop()
        if isinstance(event.item, ConvoyItem):
            self.post_message(ConvoyOpened(event.item.row.id))

    def selected_convoy(self) -> ConvoyRow | None:
        listing = self.query_one(ListView)
        item = listing.highlighted_child
        return item.row if isinstance(item, ConvoyItem) else None
