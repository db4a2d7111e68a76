"""The Problems view (`p`): everything that needs a person, most urgent first. Enter acts on
the highlighted problem (attach to the polecat, read the mail, show the bead); `n` nudges."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.content import Content
from textual.widgets import Button, Label, OptionList

from gastown_tui.tui.keys import focus_now
from gastown_tui.tui.screens.base import Dialog
from gastown_tui.tui.widgets.problems import ProblemsList
from gastown_tui.views.problems import Problem


class ProblemsScreen(Dialog[tuple[str, Problem]]):
    """Dismisses with (action, problem): action is "open" or "nudge"."""

    TITLE_TEXT = "Problems: what needs you"
    BINDINGS = [Binding("n", "nudge", "Nudge", id="problems-nudge")]

    def __init__(self, problems: list[Problem], now: float) -> None:
        super().__init__(classes="problems")
        self.problems = problems
        self.now = now

    def compose_body(self) -> ComposeResult:
        count = len(self.problems)
        word = "problem" if count == 1 else "problems"
        yield Label(
            Content.styled(
                f"{count} {word} · enter: attach / read / show · n: nudge · esc: close",
                "$text-muted",
            )
        )
        yield ProblemsList(self.problems, self.now)

    def compose_buttons(self) -> ComposeResult:
        yield Button("Close", id="cancel", compact=True)

    def on_mount(self) -> None:
        focus_now(self.query_one(ProblemsList))

    def update_problems(self, problems: list[Problem], now: float) -> None:
        self.problems = problems
        self.query_one(ProblemsList).show(problems, now)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        problem = self.query_one(ProblemsList).selected()
        if problem is not None:
            self.dismiss(("open", problem))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "nudge":
            problem = self.query_one(ProblemsList).selected() if self.is_mounted else None
            return problem is not None and problem.polecat is not None
        return True

    def action_nudge(self) -> None:
        problem = self.query_one(ProblemsList).selected()
        if problem is not None and problem.polecat is not None:
            self.dismiss(("nudge", problem))

    def on_option_list_option_highlighted(self, _event: OptionList.OptionHighlighted) -> None:
        self.refresh_bindings()
