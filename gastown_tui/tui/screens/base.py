"""The dialog every modal is built on, and the yes/no confirmation.

A dialog that changes the town submits through `submit()`: the call runs in a thread worker
(the UI never waits on the disk or tmux), a GtError comes back as an inline message under the
form and nothing else happens, and success dismisses the dialog with the call's result.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static

from gastown_tui.town.display import safe, safe_lines
from gastown_tui.town.errors import GtError
from gastown_tui.tui.keys import focus_now
from gastown_tui.tui.messages import FormDone

T = TypeVar("T")


class Dialog(ModalScreen[T]):
    """A centred dialog; escape cancels (dismisses with None)."""

    BINDINGS = [Binding("escape", "cancel", "Close", id="dialog-close")]
    TITLE_TEXT = ""

    def dialog_title(self) -> str:
        return self.TITLE_TEXT

    def compose_body(self) -> ComposeResult:
        yield from ()

    def compose_buttons(self) -> ComposeResult:
        yield from ()

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            # A title holds stored text (a bead's title): shown as written, never as markup.
            yield Label(Content(safe(self.dialog_title())), classes="dialog-title")
            yield from self.compose_body()
            yield Static("", classes="form-error")
            with Horizontal(classes="dialog-buttons"):
                yield from self.compose_buttons()

    def action_cancel(self) -> None:
        self.dismiss(None)

    # -- errors and results --------------------------------------------------------------
    def show_error(self, text: str, *, style: str = "$error") -> None:
        box = self.query_one(".form-error", Static)
        box.update(Content.styled(text, style))
        box.set_class(bool(text), "-shown")

    def show_note(self, text: str) -> None:
        self.show_error(text, style="$text-muted")

    def set_busy(self, busy: bool) -> None:
        for button in self.query(Button):
            if button.variant == "primary":
                button.disabled = busy

    def submit(self, call: Callable[[], Any]) -> None:
        self.show_error("")
        self.set_busy(True)
        self._submit(call)

    @work(thread=True, group="submit", exclusive=True, exit_on_error=False, name="submit")
    def _submit(self, call: Callable[[], Any]) -> None:
        try:
            result = call()
        except GtError as exc:
            self.post_message(FormDone(error=str(exc)))
            return
        self.post_message(FormDone(result=result))

    def on_form_done(self, message: FormDone) -> None:
        message.stop()
        self.set_busy(False)
        if message.error is not None:
            self.show_error(message.error)
        else:
            self.submitted(message.result)

    def submitted(self, result: Any) -> None:
        self.dismiss(result)

    # Textual calls this after any subclass's own handler (handlers run down the MRO): the
    # base answers only the "cancel" button, subclasses answer theirs.
    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "cancel":
            event.stop()
            self.action_cancel()


class ConfirmScreen(Dialog[bool]):
    """A yes/no question: y/enter answers yes, n/escape answers no."""

    BINDINGS = [
        Binding("y", "answer(True)", "Yes", id="confirm-yes"),
        Binding("n", "answer(False)", "No", id="confirm-no"),
    ]

    def __init__(self, title: str, text: str, yes: str = "Yes", no: str = "No") -> None:
        super().__init__(classes="confirm")
        self.title_text = title
        self.text = text
        self.yes = yes
        self.no = no

    def dialog_title(self) -> str:
        return self.title_text

    def compose_body(self) -> ComposeResult:
        yield Static(Content(safe_lines(self.text)), classes="confirm-text")

    def compose_buttons(self) -> ComposeResult:
        yield Button(self.yes, variant="primary", id="yes", compact=True)
        yield Button(self.no, id="no", compact=True)

    def on_mount(self) -> None:
        focus_now(self.query_one("#yes", Button))

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)

    def action_cancel(self) -> None:
        self.dismiss(False)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id in ("yes", "no"):
            event.stop()
            self.dismiss(event.button.id == "yes")
