"""The one supervisor loop, shared by `gt daemon` (supervise/daemon.py) and the app
(tui/supervision.py).

At every tick it contends for the town's supervisor lease (supervise/lease.py). On taking it
it first recovers the town (restarts what a reboot or a crash left behind); while it holds
it, it hands the due patrols to `run_patrols` and publishes what each patrol last did (for
`gt status` and viewers); while another process holds it, it says who, and takes over at its
next tick when that process dies. How patrols run is the caller's: the daemon runs them in
turn, the app in a thread worker per patrol group.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol

from gastown_tui.supervise.command_server import CommandServerProcess
from gastown_tui.supervise.lease import Holder, SupervisorLease, current_holder

if TYPE_CHECKING:
    from gastown_tui.supervise.host import Patrol, PatrolResult, Supervisor
    from gastown_tui.tmux import TownTmux
    from gastown_tui.town.town import Town

TICK = 1.0  # how often the loop checks the lease and the schedule


class LoopReport(Protocol):
    """What the loop tells its owner (a log line, a status line)."""

    def took_over(self, pid: int) -> None: ...

    def recovered(self, actions: list[str]) -> None: ...

    def stepped_down(self, reason: str | None) -> None: ...

    def viewer(self, holder: Holder | None) -> None: ...


class SupervisorLoop:
    def __init__(
        self,
        town: Town,
        tmux: TownTmux,
        kind: str,
        *,
        report: LoopReport,
        run_patrols: Callable[[list[Patrol]], object] | None = None,
        sinks: Sequence[Callable[[str, str], None]] = (),
        tick: float = TICK,
        serve_commands: bool = True,
    ) -> None:
        self.town = town
        self.tmux = tmux
        self.sinks = list(sinks)
        # The town's command server runs with the lease too, except for one-off loops (--once).
        self.command_server = CommandServerProcess(town) if serve_commands else None
        self._supervisor: Supervisor | None = None  # built on first taking the lease
        # Set when the observer brings a patrol forward (host.py): a waiting loop wakes.
        self.wake = threading.Event()
        self.lease = SupervisorLease(town, kind)
        self.report = report
        self.run_patrols = run_patrols or self.run_in_turn
        self.tick = tick
        self.holding = False
        self._viewer_of: str | None = None  # the holder last reported, to say it once

    @property
    def supervisor(self) -> Supervisor:
        """The patrols and the observer, built when first needed: an app that stays a viewer
        (another process holds the lease) never imports them (~1 MB held all day)."""
        if self._supervisor is None:
            from gastown_tui.supervise.host import Supervisor
            from gastown_tui.supervise.notify import Notifier

            notifier = Notifier(self.tmux, sinks=self.sinks)
            self._supervisor = Supervisor(self.town, self.tmux, notifier, wake=self.wake)
        return self._supervisor

    def patrols(self) -> list[Patrol]:
        return self.supervisor.patrols()

    def run_in_turn(self, patrols: list[Patrol]) -> list[PatrolResult]:
        now = self.town.clock.now()
        return [self.supervisor.run(patrol, now) for patrol in patrols]

    def step(self, *, every_patrol: bool = False) -> bool:
        """One tick: take or keep the lease and run what is due (`every_patrol`: all of them).
        True while this process supervises."""
        self.wake.clear()
        if self.lease.try_acquire():
            # The town's one observer (dispatch/live.py) runs with the lease; even one patrol
            # (--once) reads every pane cheaper through it than with an exec per pane.
            self.supervisor.start_observing()
            if self.command_server is not None:
                self.command_server.ensure()
            if not self.holding:
                self.holding = True
                self._viewer_of = None
                self.report.took_over(os.getpid())
                self.report.recovered(self.supervisor.recover())
            now = self.town.clock.now()
            due = self.supervisor.patrols() if every_patrol else self.supervisor.due(now)
            if due:
                self.run_patrols(due)
            self.lease.write_status(self.supervisor.status())
            return True
        if self._supervisor is not None:
            self._supervisor.stop_observing()  # taken over: the new holder observes
        if self.command_server is not None:
            self.command_server.stop()  # and serves the town's commands
        if self.holding:
            self.holding = False
            self.report.stepped_down(self.lease.lost)
        holder = current_holder(self.town)
        described = holder.describe() if holder is not None else ""
        if described != self._viewer_of:
            self._viewer_of = described
            self.report.viewer(holder)
        return False

    def wait(self) -> float:
        """How long until the next tick is worth taking."""
        if not self.holding:
            return self.tick
        return max(0.05, min(self.tick, self.supervisor.next_due_in(self.town.clock.now())))

    def run(self, stop: threading.Event) -> None:
        """Tick until `stop` is set, then let go of the lease."""
        try:
            while not stop.is_set():
                self.step()
                # The observer sets `wake` when it brings a witness patrol forward (host.py).
                self.wake.wait(self.wait())
        finally:
            self.close()

    def close(self, timeout: float = 5.0) -> None:
        if self.command_server is not None:
            self.command_server.stop()
        if self._supervisor is not None:
            self._supervisor.stop_observing()
            self._supervisor.notify_router.close(timeout=timeout)  # send what is claimed first
        self.lease.release()
        self.holding = False
