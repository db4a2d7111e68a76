"""The app as the town's supervisor: while it holds the lease (`gt --supervise`, the
default), a thread worker keeps the patrols on their schedule and each due patrol runs in a
thread worker of its own group. `Supervising` is mixed into GasTownApp (tui/app.py)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from textual import work
from textual.worker import Worker, WorkerState, get_current_worker

from gastown_tui.supervise.lease import Holder
from gastown_tui.supervise.loop import SupervisorLoop
from gastown_tui.tui.messages import PatrolsDue, SupervisorStatus
from gastown_tui.tui.widgets.status import StatusBar

if TYPE_CHECKING:
    from gastown_tui.town.town import Town
    from gastown_tui.views.actions import TownData


class _StatusLine:
    """The supervisor loop's news (supervise/loop.py) as the status line's text."""

    def __init__(self, post: Callable[[SupervisorStatus], object]) -> None:
        self.post = post

    def took_over(self, pid: int) -> None:
        self.post(SupervisorStatus(f"supervised by this app (pid {pid})"))

    def recovered(self, actions: list[str]) -> None:
        """Recovery writes its own event (supervise/host.py); the feed shows it."""

    def stepped_down(self, reason: str | None) -> None:
        """The next tick says who supervises now."""

    def viewer(self, holder: Holder | None) -> None:
        text = holder.describe() if holder is not None else "nobody supervises"
        self.post(SupervisorStatus(f"viewer: {text}"))


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
    _supervisor: SupervisorLoop | None  # while this app holds the lease
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
        """The town's supervisor loop (supervise/loop.py, the same as `gt daemon`'s) in a
        thread worker. Each due patrol runs in a thread worker of its own group (witness,
        refinery, deacon, dogs), so a slow merge never holds up a witness. While another
        process holds the lease this app is a viewer and says who supervises; when that
        process dies, this one takes over at its next tick."""
        worker = get_current_worker()
        if self.data.tmux is None:
            self.post_message(SupervisorStatus("not supervising: no tmux", warn=True))
            return

        def hand_over(due: list[Any]) -> None:
            self._supervisor = loop  # before the message: its handler runs them
            self.post_message(PatrolsDue(due))

        loop = SupervisorLoop(
            self.town,
            self.data.tmux,
            "app",
            report=_StatusLine(self.post_message),
            run_patrols=hand_over,
            sinks=[self._supervisor_says],
        )
        try:
            while not worker.is_cancelled:
                if not loop.step():
                    self._supervisor = None  # never held, or taken over while stopped
                worker.cancelled_event.wait(loop.wait())
        finally:
            self._supervisor = None
            loop.close(timeout=2.0)

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
                partial(supervisor.supervisor.run, patrol),
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
