"""The mayor for a front end (the app's Mayor pane, a web view): the conversation and the
mayor's state in one snapshot, and telling it something. Textual-free."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from gastown_tui.town.mayor import Entry, conversation

if TYPE_CHECKING:
    from gastown_tui.tmux import TownTmux
    from gastown_tui.town.town import Town


@dataclass
class MayorSnapshot:
    entries: list[Entry] = field(default_factory=list)
    running: bool = False
    runtime: str = ""
    busy: bool = False
    desired: str = "stopped"
    stopped_reason: str = ""

    @property
    def demo(self) -> bool:
        return self.runtime == "demo"

    @property
    def status_line(self) -> str:
        what = f"{'DEMO' if self.demo else self.runtime}" if self.runtime else ""
        if self.running:
            return f"{what} · {'busy' if self.busy else 'idle'}"
        if self.desired == "running":
            return f"{what} · down (restarting)"
        return "not running"

    @property
    def hint(self) -> str:
        if not self.running and self.desired != "running":
            why = f" ({self.stopped_reason})" if self.stopped_reason else ""
            return (
                f"The mayor is not running{why}. What you type waits in its inbox; start it "
                "with gt mayor start [--agent claude|builtin|demo]."
            )
        return 'Say what you want below: a goal ("Add a health endpoint"), or "what\'s going on?"'


def load_mayor(town: Town, tmux: TownTmux | None, limit: int = 200) -> MayorSnapshot:
    """The conversation (town/mayor.py) and whether the mayor runs (its window in tmux)."""
    from gastown_tui.town.mayor import load_state

    entries = conversation(town, limit)
    state = load_state(town)
    snapshot = MayorSnapshot(
        entries=entries,
        runtime=state.runtime,
        desired=state.desired,
        stopped_reason=state.stopped_reason,
    )
    if tmux is not None and state.runtime:
        from gastown_tui.dispatch.mayor import status

        try:
            now = status(town, tmux)
        except Exception:  # tmux gone or the store mid-repair: show the conversation anyway
            return snapshot
        snapshot.running, snapshot.busy = now.running, now.busy
    return snapshot


def tell_mayor(town: Town, tmux: TownTmux | None, text: str) -> str:
    """Mail to the mayor plus a nudge (dispatch/mayor.py tell); the notice to show."""
    from gastown_tui.dispatch.mayor import tell
    from gastown_tui.dispatch.tmuxfor import tmux_for

    return tell(town, tmux or tmux_for(town), text).notice
