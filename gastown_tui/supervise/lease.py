"""One supervisor per town: an exclusive flock on `.runtime/supervisor.lock`.

Whoever holds the lock runs the patrols (an app or `gt daemon`); everyone else is a viewer and
can say who supervises from `.runtime/supervisor.json`. The kernel drops a flock when its
holder dies, however it dies, so a killed supervisor frees the town at once and the next
contender takes over at its next try (within one interval).
"""

from __future__ import annotations

import contextlib
import os
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from gastown_tui.town.clock import iso
from gastown_tui.town.store import atomic_write_bytes, try_flock

if TYPE_CHECKING:
    from gastown_tui.town.town import Town


@dataclass(frozen=True)
class Holder:
    pid: int
    kind: str  # "app" or "daemon"
    host: str
    since: str

    def describe(self) -> str:
        return f"supervised by {self.kind} pid {self.pid}"


def status_path(town: Town):  # -> Path
    return town.paths.runtime / "supervisor.json"


def read_status(town: Town) -> dict[str, Any]:
    try:
        doc = orjson.loads(status_path(town).read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return {}
    return doc if isinstance(doc, dict) else {}


def current_holder(town: Town) -> Holder | None:
    """Who supervises the town now, or None. Checks the lock itself, not only the file: a
    status file left by a dead supervisor must not claim the town is supervised."""
    fd = try_flock(town.paths.supervisor_lock)
    if fd is not None:
        os.close(fd)  # we could take it: nobody holds it
        return None
    doc = read_status(town)
    try:
        return Holder(
            int(doc["pid"]), str(doc["kind"]), str(doc.get("host", "")), str(doc["since"])
        )
    except (KeyError, TypeError, ValueError):
        return Holder(0, "unknown", "", "")


class SupervisorLease:
    def __init__(self, town: Town, kind: str) -> None:
        self.town = town
        self.kind = kind
        self._fd: int | None = None
        self.since = ""

    @property
    def held(self) -> bool:
        return self._fd is not None

    def try_acquire(self) -> bool:
        if self._fd is not None:
            return True
        fd = try_flock(self.town.paths.supervisor_lock)
        if fd is None:
            return False
        self._fd = fd
        self.since = iso(self.town.clock.now())
        self.write_status({})
        self.town.events.append(
            "supervisor.started",
            actor=self.kind,
            msg=f"{self.kind} pid {os.getpid()} supervises the town",
            pid=os.getpid(),
        )
        return True

    def write_status(self, patrols: dict[str, Any]) -> None:
        """Who supervises and what each patrol last did, for viewers (`gt status`, a 2nd app)."""
        if self._fd is None:
            return
        doc = {
            "pid": os.getpid(),
            "kind": self.kind,
            "host": socket.gethostname(),
            "since": self.since,
            "updated": iso(self.town.clock.now()),
            "patrols": patrols,
        }
        with contextlib.suppress(OSError):
            atomic_write_bytes(status_path(self.town), orjson.dumps(doc))

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            status_path(self.town).unlink()
        os.close(self._fd)
        self._fd = None
        with contextlib.suppress(Exception):
            self.town.events.append(
                "supervisor.stopped", actor=self.kind, msg=f"{self.kind} pid {os.getpid()} stopped"
            )
