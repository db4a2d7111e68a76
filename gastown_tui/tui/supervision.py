"""The app as the town's supervisor: while it holds the lease (`gt --supervise`, the
default), a thread worker keeps the patrols on their schedule and each due patrol runs in a
thread worker of its own group. `Supervising` is mixed into GasTownApp (tui/app.py)."""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from textual import work
from textual.worker import Worker, WorkerState, get_current_worker

from gastown_tui.tui.messages import PatrolsDue, SupervisorStatus
from gastown_tui.tui.widgets.status import StatusBar

if TYPE_CHECKING:
    from gastown_tui.tmux import TownTmux
    from gastown_tui.town.town import Town
    from gastown_tui.views.actions import TownData

SUPERVISE_TICK = 1.0  # how often the supervisor worker checks the schedule and the lease


class Supervision:
    """The app's handle on the supervisor (supervise.host, .lease, .notify): the lease that
    makes one process per town the supervisor, the patrol schedule, and the patrols."""

    def __init__(
        self, town: Town, tmux: TownTmux, notify: Callable[[str, str], None], kind: str = "app"
    ) -> None:
        from gastown_tui.supervise.host import Supervisor
        from gastown_tui.supervise.lease import SupervisorLease
        from gastown_tui.supervise.notify import Notifier

        self.town = town
        self.supervisor = Supervisor(town, tmux, Notifier(tmux, sinks=[notify]))
        self.lease = SupervisorLease(town, kind)

    def try_acquire(self) -> bool:
        return self.lease.try_acquire()

    def holder(self) -> str:
        """Who supervises while this process does not: "supervised by daemon pid 42"."""
        from gastown_tui.supervise.lease import current_holder

        holder = current_holder(self.town)
        return holder.describe() if holder is not None else "nobody supervises"

    def recover(self) -> list[str]:
        return self.supervisor.recover()

    def due(self, now: float) -> list[Any]:
        return self.supervisor.due(now)

    def next_due_in(self, now: float) -> float:
        return self.supervisor.next_due_in(now)

    def patrols(self) -> list[Any]:
        return self.supervisor.patrols()

    def run(self, patrol: Any) -> Any:
        """Run one patrol (its failure is caught and recorded by the supervisor)."""
        return self.supervisor.run(patrol)

    def publish(self) -> None:
        """What each patrol last did, for viewers (`gt status`, a second app)."""
        self.lease.write_status(self.supervisor.status())

    def release(self) -> None:
        self.supervisor.notify_router.close(timeout=2.0)  # send what is claimed before going
        self.lease.release()


class Supervising:
    """The supervisor worker and the status line's word on supervision (mixed into
    GasTownApp)."""

    town: Town
    data: TownData
    supervise: bool
    showing: bool
    town_screen: Any
    post_message: Any
    notify: Any
    run_worker: Any
    _supervisor: Supervision | None
    _patrols_running: set[str]

    def _initial_supervisor_text(self) -> str:
        if not self.supervise:
            return "viewer"
        return "supervisor: starting…"

    def set_supervisor_status(self, text: str, *, warn: bool = False) -> None:
        """What the status line says about supervision ("supervised by app pid 4242")."""
        self.town_screen.query_one(StatusBar).set_supervisor(text, warn=warn)

    def on_supervisor_status(self, message: SupervisorStatus) -> None:
        if self.showing:
            self.set_supervisor_status(message.text, warn=message.warn)

    # -- supervision ---------------------------------------------------------------------
    @work(thread=True, group="supervisor", exit_on_error=False, name="supervisor")
    def supervise_loop(self) -> None:
        """Hold the town's supervisor lease while it is free and keep the patrols on their
        schedule; each due patrol runs in a thread worker of its own group (witness,
        refinery, deacon, dogs), so a slow merge never holds up a witness. While another
        process holds the lease this app is a viewer and says who supervises; when that
        process dies, this one takes over at its next tick (DESIGN.md section 2)."""
        worker = get_current_worker()
        if self.data.tmux is None:
            self.post_message(SupervisorStatus("not supervising: no tmux", warn=True))
            return
        supervision = Supervision(self.town, self.data.tmux, self._supervisor_says)
        shown = ""
        try:
            while not worker.is_cancelled:
                if supervision.try_acquire():
                    if self._supervisor is None:
                        self._supervisor = supervision
                        self.post_message(
                            SupervisorStatus(f"supervised by this app (pid {os.getpid()})")
                        )
                        supervision.recover()  # what a reboot or a crash left behind
                    now = self.town.clock.now()
                    due = supervision.due(now)
                    if due:
                        self.post_message(PatrolsDue(due))
                    supervision.publish()
                    wait = min(SUPERVISE_TICK, supervision.next_due_in(now))
                else:
                    self._supervisor = None  # never held, or taken over while stopped
                    text = supervision.holder()
                    if text != shown:
                        shown = text
                        self.post_message(SupervisorStatus(f"viewer: {text}"))
                    wait = SUPERVISE_TICK
                worker.cancelled_event.wait(max(0.05, wait))
        finally:
            supervision.release()
            self._supervisor = None

    def _supervisor_says(self, text: str, severity: str) -> None:
        # Called from patrol threads; App.notify posts a message, which is thread-safe.
        self.notify(text, title="supervisor", severity=severity)  # type: ignore[arg-type]

    def on_patrols_due(self, message: PatrolsDue) -> None:
        supervisor = self._supervisor
        if supervisor is None or not self.showing:
            return
        for patrol in message.patrols:
            if patrol.name in self._patrols_running:
                continue  # still running from last time: never two of one patrol
            self._patrols_running.add(patrol.name)
            self.run_worker(
                partial(supervisor.run, patrol),
                thread=True,
                group=patrol.group,
                name=f"patrol {patrol.name}",
                exit_on_error=False,
            )

    def _patrol_finished(self, worker: Worker[Any]) -> None:
        name = (worker.name or "").removeprefix("patrol ")
        self._patrols_running.discard(name)
        result = worker.result if worker.state == WorkerState.SUCCESS else None
        error = getattr(result, "error", None)
        if error:
            self.notify(f"{name}: {error}", title="patrol failed", severity="warning")
