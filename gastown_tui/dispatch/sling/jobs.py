"""What a sling works with and returns: its targets, one job per hooked bead, the results."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gastown_tui.town.errors import GtError

if TYPE_CHECKING:
    from gastown_tui.tmux import WindowInfo
    from gastown_tui.town.models import Bead
    from gastown_tui.town.polecats import Polecat
    from gastown_tui.town.worktrees import PendingWorktree


@dataclass
class SlingResult:
    bead: str
    title: str
    address: str
    rig: str
    runtime: str
    worktree: str
    branch: str | None
    session: str
    window: str
    pane_id: str
    pid: int | None
    created_polecat: bool
    created_bead: bool = False
    convoy: str | None = None
    beacon: str = ""
    elapsed: float = 0.0
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "bead": self.bead,
            "title": self.title,
            "agent": self.address,
            "rig": self.rig,
            "runtime": self.runtime,
            "worktree": self.worktree,
            "branch": self.branch,
            "session": self.session,
            "window": self.window,
            "pane_id": self.pane_id,
            "pid": self.pid,
            "created_polecat": self.created_polecat,
            "created_bead": self.created_bead,
            "convoy": self.convoy,
            "elapsed": round(self.elapsed, 3),
            "notes": list(self.notes),
        }


@dataclass
class SlingFailure:
    bead: str
    address: str | None
    error: str

    def to_dict(self) -> dict[str, Any]:
        return {"bead": self.bead, "agent": self.address, "error": self.error}


@dataclass
class SlingBatch:
    results: list[SlingResult] = field(default_factory=list)
    failures: list[SlingFailure] = field(default_factory=list)
    queued: list[dict[str, Any]] = field(default_factory=list)  # past a limit: {bead, why}

    @property
    def ok(self) -> bool:
        return not self.failures


@dataclass
class ResumeReport:
    resumed: list[SlingResult] = field(default_factory=list)
    failed: list[SlingFailure] = field(default_factory=list)
    cleared: list[str] = field(default_factory=list)  # stale `starting` marks, bead gone


@dataclass
class Target:
    bead_id: str | None = None
    text: str | None = None
    bead: Bead | None = None
    to: str | None = None  # a long-lived role's polecat (dispatch/scheduler.py)
    role: str | None = None
    long_lived: bool = False


@dataclass
class Job:
    bead: Bead
    polecat: Polecat
    created: bool
    created_bead: bool = False
    displaced: str | None = None  # a polecat that held this bead before a --force re-sling
    info: WindowInfo | None = None
    # Its fresh worktree, begun right after the hook so that git works while the sling does
    # (api.py); start_job waits for it.
    worktree: PendingWorktree | None = None
    window_started: bool = False
    beacon: str = ""
    started: float = 0.0
    keep_window: bool = False  # it died during start-up: its pane stays for `gt peek`
    # False for a supervisor's restart: a death then is the witness's to count (crash loops),
    # not a failed sling that returns the bead to ready.
    wait_started: bool = True
    restarted_by: str | None = None  # a supervisor's restart: its address, in the feed


def describe(error: BaseException) -> str:
    if isinstance(error, GtError):
        return str(error)
    if isinstance(error, OSError) and error.strerror:
        return error.strerror + (f": {error.filename}" if error.filename else "")
    return f"{type(error).__name__}: {error}"
