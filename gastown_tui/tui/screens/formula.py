"""Run a formula from the app: the palette's "run formula…" opens a form with the formula's
variables (town/formulas.py); running it makes the beads and the convoy, and the deacon
dispatches the steps to their roles."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.content import Content
from textual.widgets import Button, Input, Label

from gastown_tui.tui.screens.base import Dialog

if TYPE_CHECKING:
    from textual.app import App

    from gastown_tui.town.formulas import Formula, RunResult
    from gastown_tui.town.town import Town


class FormulaRunScreen(Dialog[Any]):
    BINDINGS = [Binding("ctrl+s", "run", "Run", id="formula-run")]

    def __init__(self, town: Town, formula: Formula) -> None:
        super().__init__(classes="formula-run")
        self.town = town
        self.formula = formula

    def dialog_title(self) -> str:
        return f"Run formula {self.formula.name}"

    def compose_body(self) -> ComposeResult:
        if self.formula.description.strip():
            summary = " ".join(self.formula.description.split())
            yield Label(Content.styled(summary, "$text-muted"), classes="form-hint")
        with Horizontal(classes="form-row"):
            yield Label("rig", classes="form-label")
            names = self.town.rigs.names()
            yield Input(
                value=names[0] if len(names) == 1 else "",
                placeholder="rig of steps that name none: " + ", ".join(names),
                id="formula-rig",
                compact=True,
            )
        for var in self.formula.vars.values():
            with Horizontal(classes="form-row"):
                yield Label(var.name, classes="form-label")
                hint = var.description + (" (required)" if var.required and not var.default else "")
                yield Input(
                    value=var.default or "",
                    placeholder=hint,
                    id=f"formula-var-{var.name}",
                    compact=True,
                )
        steps = " → ".join(f"{s.id} [{s.role}]" for s in self.formula.steps)
        with VerticalScroll(classes="convoy-beads"):
            yield Label(Content.styled(f"steps: {steps}", "$text-muted"))

    def compose_buttons(self) -> ComposeResult:
        yield Button("Run", variant="primary", id="run", compact=True)
        yield Button("Cancel", id="cancel", compact=True)

    def on_mount(self) -> None:
        self.query(Input).first().focus()

    @on(Input.Submitted)
    def _enter(self, _event: Input.Submitted) -> None:
        self.action_run()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "run":
            event.stop()
            self.action_run()

    def values(self) -> tuple[str | None, dict[str, str]]:
        rig = self.query_one("#formula-rig", Input).value.strip() or None
        out: dict[str, str] = {}
        for var in self.formula.vars.values():
            value = self.query_one(f"#formula-var-{var.name}", Input).value
            if value.strip() or var.default is not None:
                out[var.name] = value.strip()
        return rig, out

    def action_run(self) -> None:
        from gastown_tui.town.formulas import run_formula

        rig, values = self.values()
        town, name = self.town, self.formula.name
        self.submit(lambda: run_formula(town, name, values, rig))


def open_run_formula(app: App[Any], town: Town, name: str) -> None:
    """The palette's action: the form, then a note with the convoy it made."""
    from gastown_tui.town.errors import GtError
    from gastown_tui.town.formulas import load_formula

    try:
        formula = load_formula(town, name)
    except GtError as exc:
        app.notify(str(exc), title="formula", severity="error")
        return

    def done(result: RunResult | None) -> None:
        if result is not None:
            app.notify(
                f"{result.formula}: {len(result.beads)} steps, convoy {result.convoy}",
                title="formula",
            )

    app.push_screen(FormulaRunScreen(town, formula), done)
