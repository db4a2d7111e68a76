"""The app's handle on the supervisor (supervise.host, .lease, .notify)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gastown_tui.tmux import TownTmux
    from gastown_tui.town.town import Town


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
