"""Agent control from the app (`z` on the selected polecat): stop, kill, restart, pause, thaw,
release — dispatch/control.py, in a thread worker; a refusal (the agent is gone, nothing on its
hook) shows in the dialog and nothing changes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.content import Content
from textual.widgets import Button, Label

from gastown_tui.tui.screens.base import Dialog

if TYPE_CHECKING:
    from gastown_tui.tmux import TownTmux
    from gastown_tui.town.town import Town

CHOICES = (
    ("stop", "s", "Stop", "interrupt its turn (Escape / Ctrl-C); it stays up"),
    ("pause", "p", "Pause", "hold it: the witness leaves it alone (thaw resumes)"),
    ("thaw", "t", "Thaw", "resume a paused agent"),
    ("restart", "r", "Restart", "save its work, start it again on its hook"),
    ("kill", "k", "Kill", "save its work, close it; the witness restarts it"),
    ("release", "e", "Release", "save its work, bead back to ready, branch kept"),
)


class ControlScreen(Dialog[Any]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(key, f"do('{action}')", label, id=f"control-{action}")
        for action, key, label, _ in CHOICES
    ]

    def __init__(self, town: Town, tmux: TownTmux | None, address: str, state: str) -> None:
        super().__init__(classes="control")
        self.town = town
        self.tmux = tmux
        self.address = address
        self.state = state

    def dialog_title(self) -> str:
        return f"Control {self.address}"

    def compose_body(self) -> ComposeResult:
        yield Label(Content.assemble(("state ", "$text-muted"), (self.state, "bold")))
        for _action, key, label, text in CHOICES:
            yield Label(
                Content.assemble((f" {key} ", "bold $accent"), (f"{label:<8}", "bold"), text)
            )

    def compose_buttons(self) -> ComposeResult:
        yield Button("Close", id="cancel", compact=True)

    def action_do(self, action: str) -> None:
        from gastown_tui.dispatch import control
        from gastown_tui.dispatch.tmuxfor import tmux_for

        tmux = self.tmux or tmux_for(self.town)
        fn = getattr(control, action)
        if action in ("pause", "thaw"):
            self.submit(lambda: fn(self.town, tmux, self.address)[0].detail)
        else:
            self.submit(lambda: fn(self.town, tmux, self.address).detail)
