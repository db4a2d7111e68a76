"""One supervisor per town: an exclusive flock, a heartbeat, and a takeover of a stopped holder.

Whoever holds the lease runs the patrols (an app or `gt daemon`); everyone else is a viewer and
can say who supervises from `.runtime/supervisor.json`. The kernel drops a flock when its
holder dies, however it dies, so a killed supervisor frees the town at once.

A holder that is *stopped* (SIGSTOP, Ctrl-Z on the app) or hung keeps its flock forever, so the
lease also has:

- a heartbeat (`.runtime/supervisor.heartbeat`: pid, epoch, a CLOCK_MONOTONIC reading and the
  boot it belongs to, and the wall time), written every second by a thread of the holder while
  its main loop makes progress (a loop stuck longer than `supervise.lease_hung` stops it);
- an epoch (`.runtime/supervisor.epoch`): the lock file of epoch N is `supervisor.lock` for 0,
  `supervisor.lock.N` after. A contender that finds the holder in process state T
  (/proc/PID/stat) or its heartbeat older than `supervise.lease_stale` moves the town to the
  next epoch under a takeover lock, takes that epoch's lock, and logs a
  `supervisor.takeover` warning in the feed. The old holder, if it ever runs again, sees the
  epoch moved at its next tick and steps down (`supervisor.lost_lease`).
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from gastown_tui.town.clock import iso
from gastown_tui.town.procs import process_state
from gastown_tui.town.storage.files import atomic_write_bytes, flocked, try_flock

if TYPE_CHECKING:
    from gastown_tui.town.town import Town

BEAT_EVERY = 1.0


@dataclass(frozen=True)
class Holder:
    pid: int
    kind: str  # "app" or "daemon"
    host: str
    since: str
    stale: str | None = None  # why it looks stopped or hung, if it does

    def describe(self) -> str:
        text = f"supervised by {self.kind} pid {self.pid}"
        return f"{text} ({self.stale})" if self.stale else text


def status_path(town: Town) -> Path:
    return town.paths.runtime / "supervisor.json"


def heartbeat_path(town: Town) -> Path:
    return town.paths.runtime / "supervisor.heartbeat"


def epoch_path(town: Town) -> Path:
    return town.paths.runtime / "supervisor.epoch"


def lock_path(town: Town, epoch: int) -> Path:
    base = town.paths.supervisor_lock
    return base if epoch == 0 else base.with_name(f"{base.name}.{epoch}")


def read_epoch(town: Town) -> int:
    try:
        return int(epoch_path(town).read_bytes().strip() or 0)
    except (OSError, ValueError):
        return 0


def _read_json(path: Path) -> dict[str, Any]:
    try:
        doc = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return {}
    return doc if isinstance(doc, dict) else {}


def read_status(town: Town) -> dict[str, Any]:
    return _read_json(status_path(town))


_BOOT_ID: str | None = None


def boot_id() -> str:
    """This boot's id: CLOCK_MONOTONIC readings compare only within one boot."""
    global _BOOT_ID
    if _BOOT_ID is None:
        try:
            _BOOT_ID = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        except OSError:
            _BOOT_ID = ""
    return _BOOT_ID


def _seconds(town: Town, key: str) -> float:
    """[supervise] lease_stale (no heartbeat this long: the holder is stopped, hung or frozen)
    or lease_hung (a main loop quiet this long stops beating; longer than a verify)."""
    from gastown_tui.town.config import SuperviseSection

    try:
        return float(getattr(town.config.supervise, key))
    except Exception:  # a bad town.toml must not stop supervision: the default then
        return float(getattr(SuperviseSection(), key))


def stale_reason(town: Town, epoch: int) -> str | None:
    """Why the holder of `epoch` should be taken over (stopped, or no heartbeat), or None."""
    beat = _read_json(heartbeat_path(town))
    status = read_status(town)
    pid = beat.get("pid") if beat.get("epoch") == epoch else None
    if not isinstance(pid, int):
        pid = status.get("pid") if status.get("epoch", 0) == epoch else None
    if isinstance(pid, int) and pid > 0:
        state = process_state(pid)
        if state in ("T", "t"):
            return f"pid {pid} is stopped (SIGSTOP or Ctrl-Z)"
    if not beat or beat.get("epoch") != epoch:
        return None  # no heartbeat of this epoch yet (just taken, or an older version)
    limit = _seconds(town, "lease_stale")
    age: float | None = None
    mono = beat.get("mono")
    if beat.get("boot") == boot_id() and isinstance(mono, int | float):
        age = time.monotonic() - mono
    elif isinstance(beat.get("wall"), int | float):
        age = time.time() - beat["wall"]
    if age is not None and age > limit:
        return f"pid {pid} has not sent a heartbeat for {age:.0f}s"
    return None


def lease_free(town: Town, epoch: int | None = None) -> bool:
    """Whether nobody holds the town's lease at this moment (a hint: it may change)."""
    fd = try_flock(lock_path(town, read_epoch(town) if epoch is None else epoch))
    if fd is None:
        return False
    os.close(fd)  # we could take it: nobody holds it
    return True


def current_holder(town: Town) -> Holder | None:
    """Who supervises the town now, or None. Checks the lock itself, not only the file: a
    status file left by a dead supervisor must not claim the town is supervised."""
    epoch = read_epoch(town)
    if lease_free(town, epoch):
        return None
    # A holder writes its status just after it takes the lock: give it a moment.
    deadline = time.monotonic() + 1.0
    doc = read_status(town)
    while "pid" not in doc and time.monotonic() < deadline:
        time.sleep(0.01)
        doc = read_status(town)
    stale = stale_reason(town, epoch)
    try:
        return Holder(
            int(doc["pid"]), str(doc["kind"]), str(doc.get("host", "")), str(doc["since"]), stale
        )
    except (KeyError, TypeError, ValueError):
        return Holder(0, "unknown", "", "", stale)


class SupervisorLease:
    def __init__(self, town: Town, kind: str) -> None:
        self.town = town
        self.kind = kind
        self._fd: int | None = None
        self.epoch = 0
        self.since = ""
        self.lost: str | None = None  # why this process lost the lease, once it has
        self._progress = time.monotonic()
        self._stop_beating = threading.Event()
        self._beater: threading.Thread | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def try_acquire(self) -> bool:
        """Hold the lease (True), or be a viewer this tick (False). Called every tick by the
        holder too: it notes the loop's progress and steps down if it was taken over."""
        self._progress = time.monotonic()
        if self._fd is not None:
            if read_epoch(self.town) == self.epoch:
                return True
            self._step_down()
            return False
        epoch = read_epoch(self.town)
        fd = try_flock(lock_path(self.town, epoch))
        if fd is not None:
            if read_epoch(self.town) != epoch:  # a takeover moved on meanwhile
                os.close(fd)
                return False
            self._take(fd, epoch, None)
            return True
        why = stale_reason(self.town, epoch)
        if why is None:
            return False
        with flocked(self.town.paths.lock("supervisor-takeover"), timeout=5):
            if read_epoch(self.town) != epoch:
                return False
            fd = try_flock(lock_path(self.town, epoch + 1))
            if fd is None:
                return False
            atomic_write_bytes(epoch_path(self.town), str(epoch + 1).encode())
            self._take(fd, epoch + 1, why)
        return True

    def _take(self, fd: int, epoch: int, takeover: str | None) -> None:
        self._fd = fd
        self.epoch = epoch
        self.lost = None
        self.since = iso(self.town.clock.now())
        # The feed first: a viewer that sees the status file finds the event already there.
        if takeover is not None:
            text = f"{self.kind} pid {os.getpid()} took the town over: {takeover}"
            self.town.events.append(
                "supervisor.takeover", actor=self.kind, msg=text, pid=os.getpid(), level="warning"
            )
        self.town.events.append(
            "supervisor.started",
            actor=self.kind,
            msg=f"{self.kind} pid {os.getpid()} supervises the town",
            pid=os.getpid(),
        )
        self.write_status({})
        self.beat()
        self._stop_beating = threading.Event()
        self._beater = threading.Thread(
            target=self._beat_loop, args=(self._stop_beating,), name="lease-heartbeat", daemon=True
        )
        self._beater.start()

    def beat(self) -> None:
        doc = {
            "pid": os.getpid(),
            "epoch": self.epoch,
            "mono": time.monotonic(),
            "boot": boot_id(),
            "wall": time.time(),
        }
        with contextlib.suppress(OSError):
            # Every second, and meaningless after a crash: no fsync (issue 12).
            atomic_write_bytes(heartbeat_path(self.town), orjson.dumps(doc), durable=False)

    def _beat_loop(self, stop: threading.Event) -> None:
        hung_after = _seconds(self.town, "lease_hung")
        while not stop.wait(BEAT_EVERY):
            # A main loop that stopped making progress must not look alive.
            if time.monotonic() - self._progress <= hung_after and self._fd is not None:
                self.beat()

    def _step_down(self) -> None:
        self.lost = f"the town was taken over (epoch {read_epoch(self.town)})"
        self._close()
        with contextlib.suppress(Exception):
            self.town.events.append(
                "supervisor.lost_lease",
                actor=self.kind,
                msg=f"{self.kind} pid {os.getpid()} stopped supervising: {self.lost}",
                level="warning",
            )

    def _close(self) -> None:
        self._stop_beating.set()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

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
            "epoch": self.epoch,
            "patrols": patrols,
        }
        with contextlib.suppress(OSError):
            # Rewritten every tick for viewers: a lost one is rewritten a second later.
            atomic_write_bytes(status_path(self.town), orjson.dumps(doc), durable=False)

    def release(self) -> None:
        if self._fd is None:
            return
        for path in (status_path(self.town), heartbeat_path(self.town)):
            if _read_json(path).get("pid") == os.getpid():
                with contextlib.suppress(OSError):
                    path.unlink()
        self._close()
        with contextlib.suppress(Exception):
            self.town.events.append(
                "supervisor.stopped", actor=self.kind, msg=f"{self.kind} pid {os.getpid()} stopped"
            )
