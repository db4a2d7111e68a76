"""Mail dialogs: compose (`m`), read (enter on a message), reply (`r`), switch inbox (`i`).
Everything is sent as the overseer: the person at the app."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.content import Content
from textual.fuzzy import Matcher
from textual.suggester import SuggestFromList
from textual.widgets import Button, Input, Label, OptionList, Select, Static, TextArea
from textual.widgets.option_list import Option

from gastown_tui.tui.keys import focus_now
from gastown_tui.tui.screens.base import Dialog

if TYPE_CHECKING:
    from gastown_tui.views.actions import TownData
    from gastown_tui.views.rows import MailRow

PRIORITIES = ("normal", "high", "urgent", "low")


def split_addresses(text: str) -> list[str]:
    return [a for a in (p.strip() for p in text.replace(";", ",").split(",")) if a]


class ComposeScreen(Dialog[int]):
    TITLE_TEXT = "New mail"
    BINDINGS = [Binding("ctrl+s", "send", "Send", id="mail-send")]

    def __init__(
        self,
        data: TownData,
        addresses: list[str],
        *,
        to: str = "",
        subject: str = "",
    ) -> None:
        super().__init__(classes="compose")
        self.data = data
        self.addresses = addresses
        self.to = to
        self.subject = subject

    def compose_body(self) -> ComposeResult:
        with Horizontal(classes="form-row"):
            yield Label("to", classes="form-label")
            yield Input(
                value=self.to,
                placeholder=to_placeholder(self.addresses),
                suggester=SuggestFromList(self.addresses, case_sensitive=False),
                id="mail-to",
                compact=True,
            )
        with Horizontal(classes="form-row"):
            yield Label("subject", classes="form-label")
            yield Input(value=self.subject, id="mail-subject", compact=True)
        with Horizontal(classes="form-row"):
            yield Label("priority", classes="form-label")
            yield Select(
                [(p, p) for p in PRIORITIES],
                value="normal",
                allow_blank=False,
                id="mail-priority",
                compact=True,
            )
        yield TextArea(id="mail-body", soft_wrap=True, show_line_numbers=False)
        yield Label("ctrl+s sends · tab moves · esc discards", classes="form-hint")

    def compose_buttons(self) -> ComposeResult:
        yield Button("Send", variant="primary", id="send", compact=True)
        yield Button("Discard", id="cancel", compact=True)

    def on_mount(self) -> None:
        focus_now(self.query_one("#mail-subject" if self.to else "#mail-to", Input))

    @on(Input.Submitted)
    def _next_field(self, event: Input.Submitted) -> None:
        event.stop()
        self.focus_next()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "send":
            event.stop()
            self.action_send()

    def action_send(self) -> None:
        to = split_addresses(self.query_one("#mail-to", Input).value)
        subject = self.query_one("#mail-subject", Input).value
        body = self.query_one("#mail-body", TextArea).text
        priority = self.query_one("#mail-priority", Select).value
        data = self.data

        def call() -> int:
            return len(data.send_mail(to, subject, body, priority=str(priority)))

        self.submit(call)


class ReadScreen(Dialog[str]):
    """One message in full. Dismisses with "reply" when `r` is pressed."""

    BINDINGS = [Binding("r", "reply", "Reply", id="mail-read-reply")]

    def __init__(self, message: MailRow) -> None:
        super().__init__(classes="read")
        self.message = message

    def dialog_title(self) -> str:
        return self.message.subject

    def compose_body(self) -> ComposeResult:
        m = self.message
        yield Label(
            Content.assemble(
                ("from ", "$text-muted"),
                (m.sender, "bold"),
                ("  to ", "$text-muted"),
                ", ".join(m.to),
                ("  ", ""),
                (f"{m.type} · {m.priority} · {m.created[:16].replace('T', ' ')}", "$text-muted"),
            ),
            classes="mail-meta",
        )
        with VerticalScroll(classes="mail-body-scroll"):
            yield Static(m.body or "(no body)", markup=False, classes="mail-body")

    def compose_buttons(self) -> ComposeResult:
        yield Button("Reply", variant="primary", id="reply", compact=True)
        yield Button("Close", id="cancel", compact=True)

    def on_mount(self) -> None:
        focus_now(self.query_one(VerticalScroll))

    def action_reply(self) -> None:
        self.dismiss("reply")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "reply":
            event.stop()
            self.dismiss("reply")


class ReplyScreen(Dialog[int]):
    BINDINGS = [Binding("ctrl+s", "send", "Send", id="mail-reply-send")]

    def __init__(self, data: TownData, message: MailRow) -> None:
        super().__init__(classes="reply")
        self.data = data
        self.message = message

    def dialog_title(self) -> str:
        return f"Reply to {self.message.sender}"

    def compose_body(self) -> ComposeResult:
        quoted = "\n".join(f"> {line}" for line in self.message.body.strip().splitlines()[:6])
        yield Label(Content.assemble(("re: ", "$text-muted"), (self.message.subject, "bold")))
        if quoted:
            yield Static(quoted, markup=False, classes="mail-quote")
        yield TextArea(id="reply-body", soft_wrap=True, show_line_numbers=False)
        yield Label("ctrl+s sends · esc discards", classes="form-hint")

    def compose_buttons(self) -> ComposeResult:
        yield Button("Send", variant="primary", id="send", compact=True)
        yield Button("Discard", id="cancel", compact=True)

    def on_mount(self) -> None:
        focus_now(self.query_one("#reply-body", TextArea))

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "send":
            event.stop()
            self.action_send()

    def action_send(self) -> None:
        body = self.query_one("#reply-body", TextArea).text
        data, message_id = self.data, self.message.id

        def call() -> int:
            return len(data.reply(message_id, body))

        self.submit(call)


class InboxScreen(Dialog[str]):
    """Pick whose inbox the Mail pane shows."""

    TITLE_TEXT = "Read whose inbox?"
    BINDINGS = [Binding("down", "to_list", "List", show=False, id="inbox-to-list")]

    def __init__(self, addresses: list[str], current: str) -> None:
        super().__init__(classes="inbox")
        self.addresses = addresses
        self.current = current

    def compose_body(self) -> ComposeResult:
        yield Input(placeholder="filter addresses", id="inbox-filter", compact=True)
        yield OptionList(id="inbox-list")

    def compose_buttons(self) -> ComposeResult:
        yield Button("Close", id="cancel", compact=True)

    def on_mount(self) -> None:
        self._fill("")
        focus_now(self.query_one("#inbox-filter", Input))

    def _fill(self, query: str) -> None:
        listing = self.query_one("#inbox-list", OptionList)
        listing.clear_options()
        matcher = Matcher(query) if query.strip() else None
        for address in self.addresses:
            if matcher is not None and matcher.match(address) <= 0:
                continue
            label = f"{address}  (current)" if address == self.current else address
            listing.add_option(Option(label, id=address))
        if listing.option_count:
            listing.highlighted = 0

    @on(Input.Changed, "#inbox-filter")
    def _typed(self, event: Input.Changed) -> None:
        self._fill(event.value)

    @on(Input.Submitted, "#inbox-filter")
    def _enter(self, _event: Input.Submitted) -> None:
        listing = self.query_one("#inbox-list", OptionList)
        if listing.highlighted is not None:
            self.dismiss(listing.get_option_at_index(listing.highlighted).id)

    @on(OptionList.OptionSelected, "#inbox-list")
    def _pick(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_to_list(self) -> None:
        listing = self.query_one("#inbox-list", OptionList)
        if self.focused is self.query_one("#inbox-filter") and listing.option_count:
            focus_now(listing)

    def submitted(self, result: Any) -> None:
        self.dismiss(result)


def to_placeholder(addresses: list[str]) -> str:
    """An example made of this town's own addresses (a rig that exists, one of its polecats)."""
    rigs = [a.split("/")[0] for a in addresses if a.endswith("/witness")]
    if not rigs:
        return "mayor, overseer …"
    rig = rigs[0]
    polecat = next(
        (a for a in addresses if a.startswith(f"{rig}/") and a.split("/")[1] not in
         ("witness", "refinery")),
        f"{rig}/witness",
    )  # fmt: skip
    return f"mayor, {polecat}, @rig/{rig} …"
