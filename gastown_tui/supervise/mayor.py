"""The mayor's patrol: keep it running like a polecat, and wake it for mail that needs it.

- desired running and its window dead or gone: restart it with the witness's backoff
  (supervise/witness.py backoff_delay); more than `crash_loop_restarts` deaths inside
  `crash_loop_window` is a crash loop: stop it (desired stopped) and mail the overseer once;
- deaths older than the window are forgotten (the count decays);
- queued nudges are typed in while it is idle;
- unread mail from agents (escalations, crash loops, MERGE_FAILED) wakes it once per message.

A plain class over (town, tmux, clock), like the witness.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from gastown_tui.dispatch import mayor as dispatch_mayor
from gastown_tui.supervise.witness import ExitWait, Settings, backoff_delay
from gastown_tui.town.clock import age
from gastown_tui.town.errors import GtError
from gastown_tui.town.mayor import MAYOR, OVERSEER, edit_state, load_state

if TYPE_CHECKING:
    from gastown_tui.tmux import TownTmux
    from gastown_tui.town.town import Town

ACTOR = "deacon"  # the town-level supervisor is who restarts the mayor


class MayorPatrol:
    def __init__(self, town: Town, tmux: TownTmux) -> None:
        self.town = town
        self.tmux = tmux
        self.woken: set[str] = set()  # mail ids already nudged about
        self._exit_wait = ExitWait()

    def patrol(self, now: float) -> list[str]:
        state = load_state(self.town)
        if state.desired != "running" or not self.tmux.available():
            return []
        settings = Settings.from_town(self.town)
        info = dispatch_mayor.find(self.tmux)
        if info is not None and not info.pane_dead:
            return self._tend(now, settings)
        if self._exit_wait.wait("mayor", info is not None and info.exit_pending):
            return []  # how it ended is known in a moment (tmux/server.py WindowInfo)
        why = "its window is gone" if info is None else f"it {info.how_it_ended}"
        recent = [t for t in state.restarts if now - t < settings.crash_loop_window]
        if len(recent) >= settings.crash_loop_restarts:
            return [self._crash_loop(len(recent) + 1, settings, why)]
        wait = backoff_delay(len(recent), settings.restart_backoff, settings.restart_backoff_cap)
        if now - state.last_start < wait:
            return []
        with edit_state(self.town) as fresh:
            fresh.restarts = [*recent, now]
        try:
            what, _ = dispatch_mayor.start(self.town, self.tmux, state.runtime or None, by=ACTOR)
        except GtError as exc:
            with edit_state(self.town) as fresh:
                fresh.last_start = now  # back off before the next try
            self.town.events.append(
                "mayor.restart_failed", actor=ACTOR, msg=f"mayor restart failed: {exc}"
            )
            return [f"mayor restart failed: {exc}"]
        return [f"restarted the mayor ({why}): {what}"]

    def _tend(self, now: float, settings: Settings) -> list[str]:
        actions: list[str] = []
        state = load_state(self.town)
        if state.restarts and all(now - t >= settings.crash_decay for t in state.restarts):
            with edit_state(self.town) as fresh:
                fresh.restarts = []
        with contextlib.suppress(GtError):
            delivered = dispatch_mayor.deliver_queued(self.town, self.tmux)
            if delivered:
                actions.append(f"delivered {delivered} queued nudge(s) to the mayor")
        unread = [
            m
            for m in self.town.mail.inbox(MAYOR, unread_only=True)
            if m.id not in self.woken and m.sender not in (OVERSEER, MAYOR)
        ]
        if unread:
            self.woken.update(m.id for m in unread)
            for line in dispatch_mayor.wake_for_mail(self.town, self.tmux, list(reversed(unread))):
                actions.append(f"woke the mayor for {line}")
        return actions

    def _crash_loop(self, deaths: int, settings: Settings, why: str) -> str:
        note = (
            f"crash loop: the mayor died {deaths} times within {age(settings.crash_loop_window)}"
            f" ({why}); stopped restarting it"
        )
        with edit_state(self.town) as fresh:
            fresh.desired = "stopped"
            fresh.stopped_reason = note
            fresh.restarts = []
        with contextlib.suppress(GtError):
            self.town.mail.send(
                [OVERSEER],
                "ESCALATION: crash loop of the mayor",
                f"{note}.\n\nSee its last screen: gt mayor attach; start it again when the "
                "cause is fixed: gt mayor start",
                sender=ACTOR,
                type="escalation",
                priority="urgent",
            )
        self.town.events.append("mayor.crash_loop", actor=ACTOR, msg=note)
        return note
