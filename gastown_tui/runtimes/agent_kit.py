"""The agent kit: what an agent program of our own does to live in a polecat's window.

The DEMO AGENT (runtimes/demo_agent.py) and the built-in agent (runtimes/builtin_agent.py)
both start with `start_agent` (say who it is, show the beacon, open the town as GT_AGENT),
read their hook through `Agent` (the same code as `gt prime`), and talk to the town through
the real `gt` as its own process (`gt done`, `gt escalate`) or the town's own API (mail,
heartbeats). A new agent program starts from here; its runtime (runtimes/presets.py) then
says how to launch it and read its screen.

Nothing here imports the town eagerly: an agent prints its banner before paying for it.
"""

from __future__ import annotations

import os
import select
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from gastown_tui.town.display import safe

if TYPE_CHECKING:
    from gastown_tui.town.errors import GtError
    from gastown_tui.town.models import Bead
    from gastown_tui.town.polecats import Polecat
    from gastown_tui.town.town import Town


def say(text: str = "") -> None:
    """One line to the window. A bead title is shown in the pane, never obeyed."""
    sys.stdout.write(safe(text) + "\n")
    sys.stdout.flush()


def run_gt(args: list[str]) -> subprocess.CompletedProcess[str]:
    """The real `gt`, as its own process (the agent's PATH may not even have it)."""
    return subprocess.run(
        [sys.executable, "-m", "gastown_tui", *args], capture_output=True, text=True
    )


def output_of(proc: subprocess.CompletedProcess[str]) -> str:
    return (proc.stdout + proc.stderr).strip()


def read_typed_lines() -> list[str]:
    """Lines typed into the window since the last look (nudges), without waiting."""
    lines: list[str] = []
    try:
        while select.select([sys.stdin], [], [], 0)[0]:
            line = sys.stdin.readline()
            if not line:
                break
            if line.strip():
                lines.append(line.strip())
    except (OSError, ValueError):
        pass
    return lines


@dataclass
class Agent:
    """An agent program's view of itself: its address, its town, its hook and worktree."""

    label: str
    address: str
    town: Town

    @property
    def rig(self) -> str:
        return self.address.split("/", 1)[0]

    def hooked(self) -> Bead | None:
        """The bead on its hook (None: nothing to do)."""
        from gastown_tui.town.work import hooked_bead

        return hooked_bead(self.town, self.address)

    def prime(self) -> str:
        """What `gt prime` prints: who it is, its hook, what to do."""
        from gastown_tui.town.work import prime_text

        return prime_text(self.town, self.address)

    def polecat(self) -> Polecat | None:
        return self.town.polecats.find(self.address)

    def worktree(self, polecat: Polecat | None = None) -> Path:
        """Its worktree (the window's folder when the record has none)."""
        record = polecat if polecat is not None else self.polecat()
        return Path(record.worktree) if record and record.worktree else Path.cwd()

    def heartbeat(self, command: str) -> None:
        self.town.touch_heartbeat(self.address, command=command)

    def mail(self, to: str, subject: str, body: str) -> str:
        """Send mail as this agent; the new message's id."""
        sent = self.town.mail.send([to], subject, body, sender=self.address)
        return sent[0].id if sent else ""

    def done(self, note: str, status: str | None = None) -> subprocess.CompletedProcess[str]:
        """`gt done`: the work is committed and handed on (or deferred, escalated)."""
        return run_gt(["done", *(["--status", status] if status else []), "-m", note])

    def escalate(
        self, subject: str, body: str, severity: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        return run_gt(
            ["escalate", "-s", subject, "-m", body, *(["--severity", severity] if severity else [])]
        )

    def failed(self, exc: GtError) -> int:
        """Say what went wrong; the exit status for it."""
        say(f"{self.label}: error: {exc}")
        return exc.exit_code


def start_agent(label: str, what: str, argv: list[str] | None) -> Agent | int:
    """What every agent program does first: say who it is, show the beacon, and open its
    town as its own address (GT_AGENT). The Agent, or an exit status. The banner is what
    its runtime's `started` patterns wait for (runtimes/presets.py agent_banner)."""
    from gastown_tui.town.errors import GtError
    from gastown_tui.town.town import Town

    args = list(sys.argv[1:] if argv is None else argv)
    say(f"=== {label} === ({what})")
    if args:
        say(f"beacon: {' '.join(args)}")
    address = os.environ.get("GT_AGENT", "")
    if not address or not os.environ.get("GT_TOWN"):
        say(f"{label}: GT_TOWN and GT_AGENT must be set (it runs in a polecat's window)")
        return 2
    try:
        return Agent(label, address, Town.open(os.environ["GT_TOWN"], actor=address))
    except GtError as exc:
        say(f"{label}: error: {exc}")
        return exc.exit_code
