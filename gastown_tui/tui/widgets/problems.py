"""The Problems list: everything that needs a person, most urgent first (the `p` view)."""

from __future__ import annotations

from textual.content import Content
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from gastown_tui.tui.format import PROBLEM_GLYPHS, ago, clip
from gastown_tui.views.problems import Problem

KIND_LABELS = {
    "waiting": "waiting",
    "zombie": "zombie",
    "gupp": "GUPP",
    "stalled": "stalled",
    "escalation": "escalation",
    "merge-failed": "merge failed",
    "help": "help asked",
    "urgent": "urgent mail",
    "needs-human": "needs human",
}
KIND_STYLES = {
    "waiting": "$gt-waiting bold",
    "zombie": "$gt-zombie bold",
    "gupp": "$gt-gupp bold",
    "stalled": "$gt-stalled",
    "escalation": "$gt-problem bold",
    "merge-failed": "$gt-problem",
    "help": "$gt-waiting",
    "urgent": "$gt-problem",
    "needs-human": "$gt-waiting",
}


def problem_prompt(problem: Problem, now: float) -> Content:
    style = KIND_STYLES.get(problem.kind, "")
    when = ago(problem.since, now)
    head = Content.assemble(
        (PROBLEM_GLYPHS.get(problem.kind, "!") + " ", style),
        (f"{KIND_LABELS.get(problem.kind, problem.kind):<12} ", style),
        (problem.title, "bold"),
        (f"  {when}" if when else "", "$text-muted"),
    )
    if problem.detail:
        return Content.assemble(
            head, "\n", ("               " + clip(problem.detail, 200), "$text-muted")
        )
    return head


class ProblemsList(OptionList):
    def __init__(self, problems: list[Problem], now: float) -> None:
        super().__init__(id="problems-list")
        self.problems = problems
        self.now = now

    def on_mount(self) -> None:
        self.show(self.problems, self.now)

    def show(self, problems: list[Problem], now: float) -> None:
        keep = self.selected_key()
        self.problems = problems
        self.now = now
        self.clear_options()
        if not problems:
            self.add_option(
                Option(Content.styled("Nothing needs you right now.", "$gt-working"), disabled=True)
            )
            return
        self.add_options(Option(problem_prompt(p, now), id=p.key) for p in problems)
        keys = [p.key for p in problems]
        self.highlighted = keys.index(keep) if keep in keys else 0

    def selected_key(self) -> str | None:
        if self.highlighted is None or not self.problems:
            return None
        return self.get_option_at_index(self.highlighted).id

    def selected(self) -> Problem | None:
        key = self.selected_key()
        return next((p for p in self.problems if p.key == key), None)
