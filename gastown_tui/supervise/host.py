"""The supervisor: every patrol of a town on its schedule, for the app and `gt daemon`.

Patrols: a witness and a refinery per rig, the deacon, and the dogs (gc, backup, rotate,
sweep). The host decides what is due, runs it, catches its failure (one failed patrol never
stops the others), and keeps what each did last, which it publishes through the lease so a
viewer can show "supervised by pid N" and when each patrol last ran.

While it holds the lease it also runs the town's one observer (dispatch/live.py): the
witnesses read its state instead of capturing every pane, and a change it sees (an agent
starts waiting, dies, or its hook signals) brings that rig's witness patrol forward, so a
person is told within a second or two, not at the next 30 s round.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gastown_tui.dispatch.live import LiveObserver, LiveState
from gastown_tui.supervise import dogs
from gastown_tui.supervise.deacon import Deacon
from gastown_tui.supervise.mayor import MayorPatrol
from gastown_tui.supervise.notify import Notifier
from gastown_tui.supervise.notify_route import NotifyRouter
from gastown_tui.supervise.refinery import Refinery
from gastown_tui.supervise.witness import Witness
from gastown_tui.town.clock import iso

if TYPE_CHECKING:
    from gastown_tui.tmux import TownTmux
    from gastown_tui.town.town import Town

STALE_FACTOR = 3  # a patrol this many intervals late is reported by the deacon
POKE_GAP = 1.0  # a witness brought forward by the observer runs at most this often
NOTIFY_INTERVAL = 2.0  # seconds between looks at new events for [notify] sinks
MAYOR_INTERVAL = 2.0  # the mayor's patrol: a store read and a tmux query when it runs


@dataclass
class PatrolResult:
    name: str
    started: float  # wall clock, for people
    duration: float
    actions: list[str] = field(default_factory=list)
    error: str | None = None
    mono: float = 0.0  # monotonic clock: what schedules (a wall clock step must not)

    def summary(self) -> str:
        if self.error:
            return f"failed: {self.error}"
        if not self.actions:
            return "all quiet"
        more = f" (+{len(self.actions) - 1} more)" if len(self.actions) > 1 else ""
        return self.actions[0] + more


@dataclass
class Patrol:
    name: str
    group: str  # witness | refinery | deacon | dogs (the app's worker groups)
    interval: float
    run: Callable[[float], list[str]]
    last: PatrolResult | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    poked: bool = False  # brought forward: something changed that it should act on now

    def due(self, mono: float) -> bool:
        """Due on the monotonic clock (`Clock.monotonic`), never the wall clock."""
        if self.last is None or mono - self.last.mono >= self.interval:
            return True
        return self.poked and mono - self.last.mono >= POKE_GAP


class Supervisor:
    def __init__(
        self,
        town: Town,
        tmux: TownTmux,
        notifier: Notifier | None = None,
        *,
        wake: threading.Event | None = None,
    ) -> None:
        self.town = town
        self.tmux = tmux
        self.notifier = notifier or Notifier(tmux)
        self._patrols: dict[str, Patrol] = {}
        self._rigs: tuple[str, ...] | None = None
        self.deacon = Deacon(town, tmux, self.notifier, self.overdue)
        self.notify_router = NotifyRouter(town, tmux, self.notifier)
        self.mayor = MayorPatrol(town, tmux)
        self.observer = LiveObserver(town, tmux, on_change=self._observed)
        # Set when a patrol was brought forward: a loop waiting for its next tick may wake.
        self.wake = wake or threading.Event()

    # the observer --------------------------------------------------------------------------
    def start_observing(self, wait: float = 5.0) -> None:
        """Run the town's observer (call while holding the lease; idempotent). Waits up to
        `wait` seconds for its first look, so the first patrols already read it."""
        if self.tmux.available() and not self.observer.running:
            self.observer.start()
            self.observer.ready.wait(wait)

    def stop_observing(self) -> None:
        if self.observer.running:
            self.observer.stop()

    def live(self) -> LiveState | None:
        """The observer's state when it runs in this process, for the witnesses."""
        if self.observer.running and self.observer.ready.is_set():
            return self.observer.snapshot()
        return None

    def _observed(self, agents: set[str]) -> None:
        """Called from the observer's thread: bring the witnesses of these rigs forward."""
        rigs = {a.split("/", 1)[0] for a in agents if "/" in a}
        poked = False
        for patrol in list(self._patrols.values()):
            if patrol.group == "witness" and patrol.name.split("/", 1)[1] in rigs:
                patrol.poked = poked = True
        if poked:
            self.wake.set()

    # schedule ----------------------------------------------------------------------------
    def _interval(self, key: str) -> float:
        return float(getattr(self.town.config.supervise, key))

    def patrols(self) -> list[Patrol]:
        """The patrols of the town as it is now (rigs added or removed are picked up)."""
        rigs = tuple(self.town.rigs.names())
        if rigs != self._rigs:
            self._rigs = rigs
            wanted: dict[str, Patrol] = {}
            for rig in rigs:
                witness = Witness(self.town, self.tmux, rig, self.notifier, live=self.live)
                refinery = Refinery(self.town, rig, self.notifier)
                for patrol in (
                    Patrol(f"witness/{rig}", "witness", self._interval("witness_interval"),
                           witness.patrol),
                    Patrol(f"refinery/{rig}", "refinery", self._interval("refinery_interval"),
                           refinery.patrol),
                ):  # fmt: skip
                    wanted[patrol.name] = self._patrols.get(patrol.name, patrol)
            backup_every = self._interval("backup_interval")
            deacon_every = self._interval("deacon_interval")
            for patrol in (
                Patrol("deacon", "deacon", deacon_every, self.deacon.patrol),
                Patrol("dog/gc", "dogs", deacon_every,
                       lambda now: dogs.gc(self.town, self.tmux, now)),
                Patrol("dog/sweep", "dogs", deacon_every * 5, lambda now: dogs.sweep(self.town)),
                Patrol("dog/rotate", "dogs", deacon_every * 5,
                       lambda now: dogs.rotate_events(self.town)),
                Patrol("dog/backup", "dogs", backup_every, lambda now: dogs.backup(self.town)),
                Patrol("mayor", "deacon", MAYOR_INTERVAL, self.mayor.patrol),
                # Last, so a notice made by this round's patrols goes out in the same round.
                Patrol("notify", "notify", NOTIFY_INTERVAL, self.notify_router.patrol),
            ):  # fmt: skip
                wanted[patrol.name] = self._patrols.get(patrol.name, patrol)
            self._patrols = wanted
        return list(self._patrols.values())

    def due(self, now: float | None = None) -> list[Patrol]:
        mono = self.town.clock.monotonic()
        return [p for p in self.patrols() if p.due(mono)]

    def next_due_in(self, now: float | None = None) -> float:
        mono = self.town.clock.monotonic()
        waits = [0.0 if p.last is None else p.last.mono + p.interval - mono for p in self.patrols()]
        return max(0.0, min(waits, default=1.0))

    def overdue(self) -> dict[str, float | None]:
        """For the deacon: seconds since each late patrol last ran; None when on time."""
        mono = self.town.clock.monotonic()
        out: dict[str, float | None] = {}
        for patrol in self.patrols():
            if patrol.last is None or patrol.name in ("deacon", "notify", "mayor"):
                continue  # notify runs every 2 s: a pause of the app is no failure
            late = mono - patrol.last.mono
            out[patrol.name] = late if late > STALE_FACTOR * patrol.interval else None
        return out

    # running -----------------------------------------------------------------------------
    def run(self, patrol: Patrol, now: float | None = None) -> PatrolResult:
        """Run one patrol; its failure is caught, reported and recorded, never raised."""
        now = self.town.clock.now() if now is None else now
        clock_start = time.monotonic()
        mono = self.town.clock.monotonic()
        with patrol.lock:  # the app may run a patrol from a worker while another is running
            patrol.poked = False
            try:
                actions = patrol.run(now)
                result = PatrolResult(patrol.name, now, time.monotonic() - clock_start, actions)
            except Exception as exc:  # one failed patrol must never stop supervision
                detail = f"{type(exc).__name__}: {exc}"
                result = PatrolResult(patrol.name, now, time.monotonic() - clock_start, [], detail)
                self.town.events.append(
                    "supervisor.patrol_failed",
                    actor="deacon",
                    msg=f"{patrol.name} failed: {detail}",
                    traceback=traceback.format_exc(limit=5),
                )
            result.mono = mono
            patrol.last = result
        return result

    def run_due(self, now: float | None = None) -> list[PatrolResult]:
        now = self.town.clock.now() if now is None else now
        return [self.run(patrol, now) for patrol in self.due(now)]

    def run_all(self, now: float | None = None) -> list[PatrolResult]:
        now = self.town.clock.now() if now is None else now
        return [self.run(patrol, now) for patrol in self.patrols()]

    def recover(self) -> list[str]:
        """At start (after a reboot, a crash, an SSH drop): finish interrupted slings, then let
        every witness restart the polecats that hold work and have no agent."""
        from gastown_tui.dispatch.sling import resume_interrupted

        actions: list[str] = []
        if not self.tmux.available():
            return ["tmux is not installed: polecats cannot be recovered"]
        report = resume_interrupted(self.town, self.tmux)
        actions += [f"resumed interrupted sling of {r.bead} to {r.address}" for r in report.resumed]
        actions += [f"rolled back interrupted sling of {f.bead}: {f.error}" for f in report.failed]
        for patrol in self.patrols():
            if patrol.group == "witness":
                actions += self.run(patrol).actions
        if actions:
            self.town.events.append(
                "supervisor.recovered", actor="deacon", msg="; ".join(actions)[:500]
            )
        return actions

    def status(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for patrol in self.patrols():
            last = patrol.last
            out[patrol.name] = {
                "interval": patrol.interval,
                "last_run": iso(last.started) if last else None,
                "duration_ms": round(last.duration * 1000, 1) if last else None,
                "summary": last.summary() if last else "not yet run",
                "error": last.error if last else None,
            }
        return out
