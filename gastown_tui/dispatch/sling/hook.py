"""The sling's two transactions: the hook (step 2: each bead hooked with its polecat, marked
`starting`) and the finish (step 4: the window recorded, `starting` cleared)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from gastown_tui.dispatch.sling.jobs import Job, Target
from gastown_tui.dispatch.sling.validate import check_bead_for_sling
from gastown_tui.town.clock import iso
from gastown_tui.town.errors import GtError
from gastown_tui.town.models import ACTIVE_STATUSES, Bead
from gastown_tui.town.paths import session_for
from gastown_tui.town.polecats import STATE_WORKING, Polecat, split_address
from gastown_tui.town.worktrees import branch_name

if TYPE_CHECKING:
    from gastown_tui.runtimes.presets import Runtime
    from gastown_tui.town.beads import RigTxn
    from gastown_tui.town.models import Rig
    from gastown_tui.town.town import Town


def hook_all(
    town: Town,
    rig: Rig,
    targets: list[Target],
    runtime: Runtime,
    *,
    to: str | None,
    force: bool,
    avoid: set[str],
    actor: str | None = None,
) -> list[Job]:
    """Step 2: in ONE rig transaction, re-check each bead (or create it from its text), hook
    it and allocate its polecat."""
    now = iso(town.clock.now())
    jobs: list[Job] = []
    with town.beads.rig_txn(rig.name) as tx:
        taken: list[str] = []
        for target in targets:
            created_bead = target.bead_id is None
            if created_bead:
                # Created here, in the hook's own transaction: a new bead is never left
                # behind unhooked by a sling that did not happen.
                bead = Bead(
                    id=town.ids.reserve(rig.prefix, rig.name),
                    title=target.text or "",
                    rig=rig.name,
                    created_at=now,
                    updated_at=now,
                    created_by=town.actor,
                )
                tx.add_new_bead(bead)
            else:
                found = tx.get_bead(target.bead_id or "")
                if found is None:
                    raise GtError(f"{target.bead_id} is no longer in rig {rig.name}")
                bead = found
            check_bead_for_sling(bead, rig.name, force)
            previous = bead.assignee if bead.status in ACTIVE_STATUSES else None
            prefer = None
            if previous and previous.startswith(f"{rig.name}/"):
                prefer = previous.split("/", 1)[1]
            polecat, created = town.polecats.allocate(
                tx,
                runtime=runtime.name,
                bead_id=bead.id,
                to=target.to or to,
                prefer=prefer,
                exclude=taken,
                avoid=avoid,
            )
            taken.append(polecat.name)
            set_role(polecat, bead, target.role, target.long_lived)
            displaced = previous if previous and previous != polecat.address else None
            if displaced:
                release_displaced(tx, displaced, bead.id, now)
            bead.status = "hooked"
            bead.assignee = polecat.address
            bead.updated_at = now
            bead.closed_at = None
            bead.close_reason = ""
            tx.put_bead(bead)
            # The window is unknown until it is confirmed. The old agent's pid is kept so a
            # resume can tell a leftover window from the one this sling started.
            if polecat.starting is not None:
                polecat.starting["prev_pid"] = polecat.pid
            polecat.window = None
            polecat.pid = None
            # Known now, so `gt prime` in the new window already names it.
            polecat.branch = branch_name(polecat.name, bead.id) if rig.git else None
            tx.put_polecat(polecat.to_dict())
            jobs.append(
                Job(
                    bead=bead,
                    polecat=polecat,
                    created=created,
                    created_bead=created_bead,
                    displaced=displaced,
                )
            )
    for job in jobs:
        if job.created_bead:
            town.events.append(
                "bead.created", actor=town.actor, rig=rig.name, bead=job.bead.id, msg=job.bead.title
            )
        town.events.append(
            "bead.hooked",
            actor=actor or town.actor,
            rig=rig.name,
            bead=job.bead.id,
            msg=f"hooked to {job.polecat.address}",
            polecat=job.polecat.address,
            record=job.bead.to_dict(),  # for `gt doctor` (town/storage/doctor.py)
        )
    return jobs


def set_role(polecat: Polecat, bead: Bead, role: str | None, long_lived: bool) -> None:
    """The polecat records the role it works as (GT_ROLE); the bead leaves the queue."""
    if role:
        polecat.extra["role"] = role
    else:
        polecat.extra.pop("role", None)
    if long_lived:
        polecat.extra["long_lived"] = True  # kept out of the pool (town/polecats.py)
    bead.metadata.pop("queued", None)


def release_displaced(tx: RigTxn, address: str, bead_id: str, now: str) -> None:
    """A polecat loses a bead (moved away with --force)."""
    _, name = split_address(address)
    doc = tx.get_polecat(name)
    if doc is None:
        return
    record = Polecat.from_dict(doc)
    record.release(bead_id, "reassigned", now)
    tx.put_polecat(record.to_dict())


def finish(town: Town, rig: str, jobs: list[Job]) -> list[Job]:
    """Step 4: one transaction records the windows and clears `starting`. Jobs another
    process took over meanwhile (a resume) are left alone and not returned."""
    now = iso(town.clock.now())
    mine = os.getpid()
    done: list[Job] = []
    with town.beads.rig_txn(rig) as tx:
        for job in jobs:
            doc = tx.get_polecat(job.polecat.name)
            if doc is None:
                continue
            record = Polecat.from_dict(doc)
            starting = record.starting or {}
            if starting and (starting.get("pid") != mine or starting.get("bead") != job.bead.id):
                # A fast agent already ran `gt done`, and the freed polecat was slung again:
                # this sling worked; the record now belongs to the newer one.
                ran = tx.get_bead(job.bead.id)
                if ran is not None and ran.is_closed and ran.assignee == record.address:
                    done.append(job)
                continue
            bead = tx.get_bead(job.bead.id)
            still_hooked = (
                bead is not None
                and bead.assignee == record.address
                and bead.status in ACTIVE_STATUSES
            )
            record.starting = None
            record.runtime = job.polecat.runtime
            record.worktree = job.polecat.worktree
            record.branch = job.polecat.branch
            record.session = session_for(rig)
            record.window = job.polecat.name
            record.pid = job.info.pane_pid if job.info else None
            record.started_at = now
            record.updated_at = now
            # The agent may already have finished (gt done) before we got here.
            if still_hooked:
                record.state = STATE_WORKING
            tx.put_polecat(record.to_dict())
            done.append(job)
    return done
