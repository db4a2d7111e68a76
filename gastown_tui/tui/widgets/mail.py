"""The Mail pane: one inbox (the overseer's unless switched), newest first, unread in bold.
Enter reads a message; `r` replies, `m` composes, `i` switches to another agent's inbox."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.content import Content
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option

from gastown_tui.tui.format import clip, short_date
from gastown_tui.tui.messages import MessageOpened, MessageSelected
from gastown_tui.tui.widgets.pane import Pane
from gastown_tui.views.rows import OVERSEER, MailRow, MailSnapshot

TYPE_STYLES = {
    "escalation": "$gt-problem bold",
    "task": "$accent",
    "reply": "$secondary",
}
PRIORITY_MARKS = {"urgent": "!!", "high": "! "}


def mail_prompt(message: MailRow, now: float) -> Content:
    weight = "" if message.read else "bold"
    mark = PRIORITY_MARKS.get(message.priority, "  ")
    dot = "•" if not message.read else " "
    subject_style = TYPE_STYLES.get(message.type, "")
    if message.head in ("ESCALATION", "MERGE_FAILED", "HELP"):
        subject_style = "$gt-problem"
    return Content.assemble(
        (dot, "$gt-unread bold"),
        (mark, "$gt-problem bold"),
        (f"{short_date(message.created, now):>6} ", "$text-muted"),
        (f"{clip(message.sender, 16):<16} ", f"{weight}"),
        (clip(message.subject, 200), f"{subject_style} {weight}".strip()),
    )


class MailList(OptionList):
    """The messages of one inbox; option ids are message ids."""

    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False, id="mail-down"),
        Binding("k", "cursor_up", "Up", show=False, id="mail-up"),
    ]


class MailPane(Pane):
    PANE = "mail"
    TITLE = "Mail"

    def __init__(self) -> None:
        super().__init__()
        self.snapshot = MailSnapshot(OVERSEER)
        self._shape: tuple[tuple[str, bool], ...] | None = None

    @property
    def address(self) -> str:
        return self.snapshot.address

    def compose(self) -> ComposeResult:
        yield Label("", id="mail-header")
        yield MailList(id="mail-list")

    def on_mount(self) -> None:
        self._header()

    def _header(self) -> None:
        snap = self.snapshot
        whose = "your inbox (overseer)" if snap.address == OVERSEER else f"inbox of {snap.address}"
        unread = f" · {snap.unread} unread" if snap.unread else ""
        self.query_one("#mail-header", Label).update(
            Content.assemble((whose, "bold"), (unread, "$gt-unread"))
        )
        self.border_subtitle = "i: other inbox" if snap.address == OVERSEER else "i: back"

    def show(self, snapshot: MailSnapshot, now: float) -> None:
        same_inbox = snapshot.address == self.snapshot.address
        self.snapshot = snapshot
        self._header()
        listing = self.query_one(MailList)
        shape = tuple((m.id, m.read) for m in snapshot.messages)
        if same_inbox and shape == self._shape:
            return
        self._shape = shape
        highlighted = self.selected_id() if same_inbox else None
        listing.clear_options()
        if not snapshot.messages:
            listing.add_option(Option(Content.styled("No mail.", "$text-muted"), disabled=True))
            self.post_message(MessageSelected(None))
            return
        listing.add_options(Option(mail_prompt(m, now), id=m.id) for m in snapshot.messages)
        index = 0
        if highlighted is not None:
            ids = [m.id for m in snapshot.messages]
            index = ids.index(highlighted) if highlighted in ids else 0
        listing.highlighted = index

    def selected_id(self) -> str | None:
        listing = self.query_one(MailList)
        if listing.highlighted is None or not self.snapshot.messages:
            return None
        option = listing.get_option_at_index(listing.highlighted)
        return option.id

    def selected(self) -> MailRow | None:
        wanted = self.selected_id()
        return next((m for m in self.snapshot.messages if m.id == wanted), None)

    def message(self, message_id: str) -> MailRow | None:
        return next((m for m in self.snapshot.messages if m.id == message_id), None)

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        event.stop()
        self.post_message(MessageSelected(event.option.id))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id:
            self.post_message(MessageOpened(event.option.id))
