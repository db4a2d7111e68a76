"""The deacon: the town-wide patrol.

Checks that the witnesses and refineries run and the store reads; lands convoys whose beads
are all closed (so a landing is caught even if no process saw the last close); slings the
ready, unassigned beads of convoys marked `auto`; flags hooks older than `thresholds.hook_age`
once each. The dogs are scheduled by the supervisor beside it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from gastown_tui.town.clock import age, parse_iso
from gastown_tui.town.errors import GtError

if TYPE_CHECKING:
    from gastown_tui.tmux import TownTmux
    from gastown_tui.town.town import Town


class Deacon:
    def __init__(
        self,
        town: Town,
        tmux: TownTmux,
        notify: Callable[[str, str], None] | None = None,
        patrol_ages: Callable[[], dict[str, float | None]] | None = None,
    ) -> None:
        self.town = town
        self.tmux = tmux
        self.notify = notify or (lambda text, severity="warning": None)
        # name -> seconds since that patrol last ran (None: never), from the supervisor host.
        self.patrol_ages = patrol_ages or dict
        self._flagged_hooks: set[str] = set()
        self._stale_patrols: set[str] = set()
        self._flow_errors: dict[str, str] = {}
        self._over_budget = False

    def _event(self, kind: str, msg: str, **extra: Any) -> None:
        self.town.events.append(f"deacon.{kind}", actor="deacon", msg=msg, **extra)

    def patrol(self, now: float | None = None) -> list[str]:
        now = self.town.clock.now() if now is None else now
        actions: list[str] = []
        actions += self._check_patrols()
        actions += self._check_store()
        actions += self._finish_slings()
        for convoy in self.town.convoys.check_landings():
            actions.append(f"convoy {convoy.id} landed: {convoy.title}")
        actions += self._feed_stranded()
        actions += self._dispatch_flow()
        actions += self._old_hooks(now)
        actions += self._count_tokens()
        return actions

    def _count_tokens(self) -> list[str]:
        """With a budget set, bring the agent programs' own token counts in every patrol
        (town/transcripts.py), so the breaker sees running Claude Code / Codex / Gemini."""
        from gastown_tui.town.usage import budget_state, collect_transcripts

        budget = self.town.config.budget
        if not (budget.max_tokens or budget.max_usd):
            return []
        collect_transcripts(self.town)
        state = budget_state(self.town)
        if state["over"] and not self._over_budget:
            self._over_budget = True
            text = f"over budget: {state['reason']}; new work is not dispatched"
            self.notify(text, "error")
            return [text]
        self._over_budget = state["over"]
        return []

    def _check_patrols(self) -> list[str]:
        actions = []
        for name, seconds in self.patrol_ages().items():
            if seconds is None or seconds < 0:
                self._stale_patrols.discard(name)
                continue
            if name not in self._stale_patrols:
                self._stale_patrols.add(name)
                text = f"patrol {name} has not run for {age(seconds)}"
                self.notify(text, "error")
                self._event("patrol_stale", text, patrol=name)
                actions.append(text)
        return actions

    def _finish_slings(self) -> list[str]:
        """What follows a sling's hook, when its process died or could not write it: a
        rollback noted after a failed write (a full disk), and starts whose process is gone
        (dispatch/sling/: finish_rollbacks, resume_interrupted)."""
        from gastown_tui.dispatch.sling import finish_rollbacks, resume_interrupted

        actions = finish_rollbacks(self.town, self.tmux)
        if not any(p.interrupted for p in self.town.polecats.list()):
            return actions
        report = resume_interrupted(self.town, self.tmux)
        actions += [f"resumed interrupted sling of {r.bead} to {r.address}" for r in report.resumed]
        actions += [f"rolled back interrupted sling of {f.bead}: {f.error}" for f in report.failed]
        for text in actions:
            self._event("sling_finished", text)
        return actions

    def _check_store(self) -> list[str]:
        actions = []
        for text in self.town.storage.problems():
            self.notify(text, "error")
            self._event("store_unreadable", text)
            actions.append(text)
        return actions

    def _feed_stranded(self) -> list[str]:
        """Sling the ready, unassigned beads of `auto` convoys (respecting budgets)."""
        from gastown_tui.dispatch.sling import sling_many

        actions: list[str] = []
        stranded = self.town.convoys.stranded()
        if not stranded:
            return actions
        ready = {b.id: b for b in self.town.beads.ready()}  # unblocked ones only
        for convoy_id, bead_ids in stranded.items():
            convoy = self.town.convoys.get(convoy_id)
            if not convoy.auto:
                continue
            by_rig: dict[str, list[str]] = {}
            for bead_id in bead_ids:
                if bead_id in ready:
                    by_rig.setdefault(ready[bead_id].rig, []).append(bead_id)
            for rig, ids in by_rig.items():
                try:
                    batch = sling_many(self.town, self.tmux, ids, rig, convoy=convoy.id)
                except GtError as exc:
                    text = f"could not feed convoy {convoy.id}: {exc}"
                    self._event("feed_failed", text, convoy=convoy.id)
                    actions.append(text)
                    continue
                for result in batch.results:
                    text = f"fed convoy {convoy.id}: {result.bead} to {result.address}"
                    self._event("fed", text, convoy=convoy.id, bead=result.bead)
                    actions.append(text)
        return actions

    def _dispatch_flow(self) -> list[str]:
        """Formula steps whose needs closed, answer beads and queued slings, to agents of
        their roles as slots free (dispatch/scheduler.py)."""
        from gastown_tui.dispatch.scheduler import dispatch_pending

        return dispatch_pending(self.town, self.tmux, self._flow_errors)

    def _old_hooks(self, now: float) -> list[str]:
        limit = self.town.config.thresholds.hook_age
        actions = []
        for bead in self.town.beads.list(statuses=["hooked", "in_progress"]):
            since = parse_iso(bead.updated_at)
            if since is None or now - since < limit or bead.id in self._flagged_hooks:
                continue
            self._flagged_hooks.add(bead.id)
            text = f"{bead.id} has been on {bead.assignee}'s hook for {age(now - since)}"
            self._event("old_hook", text, bead=bead.id, rig=bead.rig)
            actions.append(text)
        return actions
