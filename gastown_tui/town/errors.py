"""Errors a person can act on.

The CLI prints them on one line. `GtError` is bad input (exit 2): nothing was written.
`GtFailure` is an operation that was valid but did not succeed (exit 1).
"""

from __future__ import annotations

from pathlib import Path


class GtError(Exception):
    """Bad input or a state that forbids the operation. Exit status 2, nothing written."""

    exit_code = 2

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message} ({self.hint})"
        return self.message


class GtFailure(GtError):
    """A valid request that failed to complete (a nudge not delivered, a tmux error). Exit 1."""

    exit_code = 1


class NotATown(GtError):
    def __init__(self, path: Path) -> None:
        super().__init__(
            f"{path} is not a town (no town.toml)",
            hint="create one with `gt init DIR` or point at one with --town DIR / GT_TOWN",
        )
        self.path = path


class StoreCorrupt(GtFailure):
    """A store file that cannot be parsed. Never silently reset: name the file and the fix."""

    def __init__(self, path: Path, detail: str) -> None:
        super().__init__(
            f"store file {path} is unreadable: {detail}",
            hint="run `gt doctor` to restore it from the newest good backup",
        )
        self.path = path
        self.detail = detail


class LockTimeout(GtFailure):
    def __init__(self, path: Path, seconds: float) -> None:
        super().__init__(
            f"timed out after {seconds:.0f}s waiting for the lock {path}",
            hint="another gt process is holding it; retry, or find it with `fuser` / `lsof`",
        )


class LockHolderStopped(LockTimeout):
    """The lock's holder is a stopped process (Ctrl-Z, SIGSTOP): waiting would not help."""

    def __init__(self, path: Path, pid: int, command: str) -> None:
        GtFailure.__init__(
            self,
            f"the lock {path} is held by process {pid} ({command}), which is stopped",
            hint=f"resume it (`fg` in its terminal, or `kill -CONT {pid}`), then retry",
        )
        self.pid = pid
