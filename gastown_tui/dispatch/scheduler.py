"""The scheduler's dispatch side: admission inside a sling, and dispatching pending work.

`admitted` wraps a sling's hook transaction (dispatch/sling/hook.py): under the town-wide
scheduler lock it counts the slots held, admits what fits (a long-lived role's target gets
its role's polecat name) and queues the rest; the lock is released only after the hook has
committed, so racing slings never exceed `max_polecats` or a role's capacity.

`dispatch_pending` is what the deacon (and `gt schedule`, run after `gt done`) does: answers
handed back to escalated steps, then every ready bead with a role (a formula step whose needs
are closed, an escalation's answer bead) or a queued sling is slung, by priority then age,
while slots are free.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from gastown_tui.town.errors import GtError
from gastown_tui.town.roles import hand_back_answers, load_roles, role_of_bead
from gastown_tui.town.scheduler import (
    LOCK_TIMEOUT,
    META_QUEUED,
    admission,
    decide,
    holdings,
    mark_queued,
    max_polecats,
    pending,
)
from gastown_tui.town.storage.files import flocked

if TYPE_CHECKING:
    from gastown_tui.dispatch.sling import Target
    from gastown_tui.tmux import TownTmux
    from gastown_tui.town.models import Rig
    from gastown_tui.town.town import Town


def role_runtime(town: Town, targets: Sequence[str]) -> str | None:
    """The runtime the beads' role asks for (None: the town's default or the caller's)."""
    names: set[str] = set()
    for raw in targets:
        value = (raw or "").strip()
        if value and value in town.ids:
            bead = town.beads.find(value)
            role = role_of_bead(bead) if bead is not None else None
            if role:
                names.add(role)
    if not names:
        return None
    roles = load_roles(town)
    runtimes = {roles[n].runtime for n in names if n in roles} - {None}
    return runtimes.pop() if len(runtimes) == 1 else None


def _track_queued(town: Town, bead_id: str, title: str, convoy: str | None) -> None:
    """A queued bead is tracked at once, as a slung one would be (nothing is untracked)."""
    try:
        if convoy is not None:
            town.convoys.add(convoy, [bead_id])
        elif not any(c.is_open for c in town.convoys.convoys_of(bead_id)):
            town.convoys.create(title, [bead_id], quiet=True)
    except GtError:
        pass


@contextlib.contextmanager
def admitted(
    town: Town,
    rig: Rig,
    targets: list[Target],
    runtime: str,
    to: str | None,
    convoy: str | None,
    queued_out: list[dict[str, Any]],
) -> Iterator[list[Target]]:
    """Yield the targets to hook now; queue the others (recorded in `queued_out`)."""
    for target in targets:
        target.role = role_of_bead(target.bead) if target.bead is not None else None
    with_roles = any(t.role for t in targets)
    roles = load_roles(town) if with_roles else None  # a bad role table: error, nothing written
    limit = max_polecats(town)
    if not limit and not with_roles:
        yield targets
        return
    with admission(town, True):
        decisions = decide(
            town, rig.name, [(t.bead_id, t.role) for t in targets], to=to, roles=roles
        )
        admit: list[Target] = []
        for decision, target in zip(decisions, targets, strict=True):
            if decision.admit:
                target.to = decision.to
                role = (roles or {}).get(target.role or "")
                target.long_lived = bool(role and role.long_lived and decision.to)
                admit.append(target)
                continue
            if target.bead_id is None:
                bead = town.beads.create(target.text or "", rig=rig.name)
                target.bead_id = bead.id
            title = target.bead.title if target.bead is not None else (target.text or "")
            mark_queued(
                town,
                target.bead_id,
                why=decision.why,
                runtime=runtime,
                to=to,
                convoy=convoy,
            )
            _track_queued(town, target.bead_id, title, convoy)
            queued_out.append({"bead": target.bead_id, "why": decision.why, "role": target.role})
        yield admit


def dispatch_pending(town: Town, tmux: TownTmux, errors: dict[str, str] | None = None) -> list[str]:
    """Hand answers back, then sling pending beads while slots are free. `errors` (kept by
    the caller between patrols) stops a bead that cannot start from logging every patrol."""

    errors = errors if errors is not None else {}
    # One pass at a time (the deacon, and `gt schedule` after each `gt done`): a second
    # pass then finds what the first dispatched, instead of racing it for the same bead.
    with flocked(town.paths.lock("dispatch"), timeout=LOCK_TIMEOUT):
        return _dispatch_pending(town, tmux, errors)


def _dispatch_pending(town: Town, tmux: TownTmux, errors: dict[str, str]) -> list[str]:
    from gastown_tui.dispatch.sling import sling_many
    from gastown_tui.town.formulas import run_intake  # here: every `gt sling` imports this module

    actions = hand_back_answers(town)
    try:
        actions += run_intake(town)  # new tickets start their formula (town/formulas.py)
    except GtError as exc:
        text = f"intake: {exc}"
        if errors.get("intake") != text:
            errors["intake"] = text
            town.events.append("scheduler.failed", actor="deacon", msg=text)
            actions.append(text)
    candidates = pending(town)
    if not candidates:
        return actions
    try:
        roles = load_roles(town)
        limit = max_polecats(town)
    except GtError as exc:
        text = f"cannot dispatch: {exc}"
        if errors.get("") != text:
            errors[""] = text
            town.events.append("scheduler.failed", actor="deacon", msg=text)
        return [*actions, text]
    held = holdings(town)
    full: set[str] = set()
    for bead in candidates:
        if limit and held.total >= limit:
            break
        role = role_of_bead(bead)
        if role and role in full:
            continue
        if role in roles and held.by_role[role] >= roles[role].capacity:
            full.add(role)
            continue
        mark = bead.metadata.get(META_QUEUED) or {}
        try:
            batch = sling_many(
                town,
                tmux,
                [bead.id],
                bead.rig,
                runtime=mark.get("runtime"),
                to=mark.get("to"),
                convoy=mark.get("convoy"),
            )
        except GtError as exc:
            text = f"could not dispatch {bead.id}: {exc}"
            if errors.get(bead.id) != text:
                errors[bead.id] = text
                town.events.append(
                    "scheduler.failed", actor="deacon", rig=bead.rig, bead=bead.id, msg=text
                )
                actions.append(text)
            continue
        errors.pop(bead.id, None)
        if batch.queued:
            if role:
                full.add(role)
            continue
        for result in batch.results:
            held.total += 1
            if role:
                held.by_role[role] += 1
            text = f"dispatched {result.bead}" + (f" ({role})" if role else "")
            text += f" to {result.address}"
            town.events.append(
                "scheduler.dispatched",
                actor="deacon",
                rig=result.rig,
                bead=result.bead,
                msg=text,
                polecat=result.address,
                role=role,
            )
            actions.append(text)
        for failure in batch.failures:
            actions.append(f"could not dispatch {failure.bead}: {failure.error}")
    return actions
