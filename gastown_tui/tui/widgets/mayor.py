"""The Mayor pane: your input line, and under it the conversation with the town's mayor,
newest first (what you wrote, what it answered, what it did and what woke it). Enter on
something it did opens it (a bead or a convoy). What you type goes to the mayor as mail plus
a nudge (views/mayor.py, dispatch/mayor.py); its answers come back as mail and show here."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import work
from textual.app import ComposeResult
from textual.content import Content
from textual.widgets import Input, Label, ListItem, ListView

from gastown_tui.town.display import safe_lines
from gastown_tui.tui.messages import BeadChosen, ConvoyOpened
from gastown_tui.tui.widgets.pane import Pane
from gastown_tui.views.mayor import MayorSnapshot, load_mayor, tell_mayor

if TYPE_CHECKING:
    from gastown_tui.town.mayor import Entry
    from gastown_tui.tui.app import GasTownApp
    from gastown_tui.views.actions import TownData

WHO = {"you": ("you", "$accent"), "mayor": ("mayor", "$success"),
       "did": ("  did", "$text-muted"), "notice": (" mail", "$warning")}  # fmt: skip
PLACEHOLDER = "Tell the mayor what you want…"


class EntryItem(ListItem):
    def __init__(self, entry: Entry) -> None:
        super().__init__(classes=f"mayor-entry -{entry.who}")
        self.entry = entry

    def compose(self) -> ComposeResult:
        who, style = WHO.get(self.entry.who, (self.entry.who, "$text"))
        text = safe_lines(self.entry.text)  # stored text: shown, never obeyed
        link = " ⏎" if self.entry.link else ""  # Enter opens it
        yield Label(
            Content.assemble(
                (self.entry.ts[11:16] + " ", "$text-muted"),
                (f"{who}: ", style),
                text,
                (link, "$text-muted"),
            ),
            markup=False,
        )


class MayorPane(Pane):
    PANE = "mayor"
    TITLE = "Mayor"
    # Its answers (mail:overseer) follow what it did, so rig changes need not reload it.
    SCOPES = ("mail:mayor", "mail:overseer", "town")

    def __init__(self) -> None:
        super().__init__()
        self.snapshot = MayorSnapshot()
        self._shape: tuple[tuple[str, str, str], ...] | None = None
        self.data: TownData | None = None
        self._hint: str | None = None  # what #mayor-empty says now

    @classmethod
    def build(cls, app: GasTownApp) -> Pane:
        pane = cls()
        pane.data = app.data
        return pane

    @staticmethod
    def load(data: TownData) -> MayorSnapshot:
        return load_mayor(data.town, data.tmux)

    def compose(self) -> ComposeResult:
        # Your line on top, the conversation under it newest first (like the Feed): what just
        # happened is always in view, at any height, with no scrolling to chase.
        yield Input(placeholder=PLACEHOLDER, id="mayor-input")
        yield ListView(id="mayor-log")
        yield Label("", id="mayor-empty")

    def show_loaded(self, snapshot: MayorSnapshot, now: float) -> None:
        self.snapshot = snapshot
        self.set_border(subtitle=snapshot.status_line)
        empty = self.query_one("#mayor-empty", Label)
        empty.display = not snapshot.entries
        if snapshot.hint != self._hint:
            # An update lays the whole screen out, and the app shows every pane's data
            # again every AGE_REFRESH seconds (tui/app.py: _refresh_ages).
            self._hint = snapshot.hint
            empty.update(snapshot.hint)
        listing = self.query_one("#mayor-log", ListView)
        listing.display = bool(snapshot.entries)
        shape = tuple(e.key for e in snapshot.entries)
        if shape == self._shape:
            return
        old, self._shape = self._shape, shape
        if old and shape[: len(old)] == old:
            # Only newer entries (the usual case as the mayor works): put them on top and keep
            # the cursor on the entry it was on, so Enter opens what the person chose.
            fresh = snapshot.entries[len(old) :]
            at = listing.index
            listing.insert(0, [EntryItem(e) for e in reversed(fresh)])
            if at is not None:
                listing.call_after_refresh(setattr, listing, "index", at + len(fresh))
            return
        listing.clear()
        listing.extend(EntryItem(e) for e in reversed(snapshot.entries))

    def main_widget(self) -> Input:
        return self.query_one("#mayor-input", Input)

    def on_list_view_selected(self, event: ListView.Selected) -> None:
        event.stop()
        item = event.item
        if not isinstance(item, EntryItem) or item.entry.link is None:
            return
        kind, ident = item.entry.link
        self.post_message(BeadChosen(ident) if kind == "bead" else ConvoyOpened(ident))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        text = event.value.strip()
        if not text or self.data is None:
            return
        event.input.value = ""
        self.send(text)

    @work(thread=True, group="mayor-tell", exit_on_error=False)
    def send(self, text: str) -> None:
        """Mail and nudge the mayor off the UI thread (it types into tmux)."""
        assert self.data is not None
        try:
            notice, severity = tell_mayor(self.data.town, self.data.tmux, text), "information"
        except Exception as exc:  # a failed tell is reported, never fatal
            notice, severity = f"not sent: {exc}", "error"
        self.app.call_from_thread(self.app.notify, notice, title="mayor", severity=severity)
        snapshot = load_mayor(self.data.town, self.data.tmux)
        self.app.call_from_thread(self.show_loaded, snapshot, 0.0)
