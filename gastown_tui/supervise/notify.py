"""How supervisors tell a person: an event always, plus whatever the host can show.

The daemon shows a tmux message on every client attached to the town's server and rings the
terminal bell there; the app adds an in-app notification. Both go through this one type.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gastown_tui.tmux import TownTmux

Severity = str  # "information" | "warning" | "error" (Textual's notification severities)


def ring_bell(tmux: TownTmux) -> int:
    """Ring the terminal bell of every client attached to the town's server (a person in
    another window of their terminal hears it; tmux marks the window). Returns how many."""
    rung = 0
    for tty in tmux.people_clients("#{client_tty}"):
        with contextlib.suppress(OSError), open(tty, "w") as handle:
            handle.write("\a")
            rung += 1
    return rung


@dataclass
class Notifier:
    tmux: TownTmux | None = None
    # Extra sinks, e.g. the app's `notify`. Called from patrol threads: they must be safe.
    sinks: list[Callable[[str, Severity], None]] = field(default_factory=list)
    sent: list[tuple[str, Severity]] = field(default_factory=list)

    def __call__(self, text: str, severity: Severity = "warning") -> None:
        self.sent.append((text, severity))
        if self.tmux is not None:
            with contextlib.suppress(Exception):
                self.tmux.display_message(f"gt: {text}")
                if severity != "information":
                    ring_bell(self.tmux)
        for sink in list(self.sinks):
            with contextlib.suppress(Exception):
                sink(text, severity)
