"""The nudge dialog (`n`): type a line into the selected polecat's window. The result —
delivered, queued (the agent was busy) or failed, with the reason — shows in the dialog.

On an agent that waits at a question the dialog shows the question and its choices instead,
and answers with exactly one choice (dispatch/answer.py): typed text would answer it by
accident."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual import on
from textual.app import ComposeResult
from textual.content import Content
from textual.widgets import Button, Input, Label

from gastown_tui.tui.keys import focus_now
from gastown_tui.tui.screens.base import Dialog

if TYPE_CHECKING:
    from gastown_tui.views.actions import TownData
    from gastown_tui.views.rows import NudgeReport, PolecatRow


class NudgeScreen(Dialog["NudgeReport"]):
    def __init__(self, data: TownData, polecat: PolecatRow) -> None:
        super().__init__(classes="nudge")
        self.data = data
        self.polecat = polecat

    def dialog_title(self) -> str:
        verb = "Answer" if self.polecat.prompt is not None else "Nudge"
        return f"{verb} {self.polecat.address}"

    def compose_body(self) -> ComposeResult:
        pole = self.polecat
        hook = f"{pole.hook.id} {pole.hook.title}" if pole.hook else "nothing hooked"
        yield Label(
            Content.assemble(("state ", "$text-muted"), (pole.state, f"$gt-{pole.state} bold"))
            + Content.assemble(("  hook ", "$text-muted"), hook)
        )
        prompt = pole.prompt
        if prompt is not None:
            yield Label(
                Content.assemble(("waiting at: ", "$text-muted"), (prompt.question, "bold")),
                id="nudge-question",
            )
            for choice in prompt.choices:
                mark = "❯ " if choice.selected else "  "
                yield Label(f"{mark}{choice.key}. {choice.label}", classes="nudge-choice")
            hint = "type a choice (its number or first word), Enter answers"
            yield Input(placeholder=hint, id="nudge-text", compact=True)
            return
        yield Input(placeholder="what should it hear?", id="nudge-text", compact=True)

    def compose_buttons(self) -> ComposeResult:
        answering = self.polecat.prompt is not None
        label = "Answer" if answering else "Nudge"
        yield Button(label, variant="primary", id="nudge", compact=True)
        yield Button("Close", id="cancel", compact=True)

    def on_mount(self) -> None:
        if self.polecat.state == "zombie":
            self.show_error(f"{self.polecat.address} is dead: a nudge cannot reach it.")
        focus_now(self.query_one("#nudge-text", Input))

    @on(Input.Submitted, "#nudge-text")
    def _enter(self, _event: Input.Submitted) -> None:
        self._send()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "nudge":
            event.stop()
            self._send()

    def _send(self) -> None:
        text = self.query_one("#nudge-text", Input).value
        data, address = self.data, self.polecat.address
        if self.polecat.prompt is not None:
            self.submit(lambda: data.answer(address, text))
            return
        self.submit(lambda: data.nudge(address, text))

    def submitted(self, result: Any) -> None:
        report: NudgeReport = result
        if report.status == "failed":
            # Stay open: the person sees why and can try again or close.
            self.show_error(f"not delivered: {report.detail or 'no reason given'}")
            return
        self.dismiss(report)
