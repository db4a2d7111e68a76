"""Finishing the slings a kill interrupted: their `starting.pid` is dead."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

from gastown_tui.dispatch.sling.hook import finish
from gastown_tui.dispatch.sling.jobs import Job, ResumeReport, SlingBatch, SlingFailure
from gastown_tui.dispatch.sling.rollback import rollback
from gastown_tui.dispatch.sling.run import result_of, run_jobs, track
from gastown_tui.runtimes.presets import Runtime, resolve_runtime
from gastown_tui.town.clock import iso
from gastown_tui.town.errors import GtError
from gastown_tui.town.models import ACTIVE_STATUSES
from gastown_tui.town.paths import session_for
from gastown_tui.town.polecats import Polecat

if TYPE_CHECKING:
    from gastown_tui.tmux import TownTmux
    from gastown_tui.town.town import Town


def claim_interrupted(town: Town, rig: str) -> tuple[list[Job], list[str]]:
    """Take over the starts whose sling process died: mark them as ours, in one txn."""
    now = iso(town.clock.now())
    mine = os.getpid()
    jobs: list[Job] = []
    cleared: list[str] = []
    with town.beads.rig_txn(rig) as tx:
        for doc in tx.polecats():
            record = Polecat.from_dict(doc)
            starting = record.starting
            if not starting or record.is_starting:
                continue
            bead = tx.get_bead(str(starting.get("bead")))
            if (
                bead is None
                or bead.assignee != record.address
                or bead.status not in ACTIVE_STATUSES
            ):
                record.starting = None
                tx.put_polecat(record.to_dict())
                cleared.append(record.address)
                continue
            record.starting = {**starting, "pid": mine, "at": now, "resumed": True}
            tx.put_polecat(record.to_dict())
            jobs.append(Job(bead=bead, polecat=record, created=False))
    return jobs, cleared


def resume_interrupted(town: Town, tmux: TownTmux) -> ResumeReport:
    """Finish every sling that a kill interrupted (its `starting.pid` is dead): the worktree
    and window are made (or found, when already up) and the polecat recorded as working; a
    start that cannot be finished is rolled back, so no hook stays without an agent.
    The supervisor and the app call this at start-up; it is safe to run concurrently."""
    report = ResumeReport()
    for rig_name in town.rigs.names():
        jobs, cleared = claim_interrupted(town, rig_name)
        report.cleared.extend(cleared)
        if not jobs:
            continue
        rig = town.rigs.get(rig_name)
        batch = SlingBatch()
        fresh: list[Job] = []
        running: list[Job] = []
        for job in jobs:
            job.started = time.monotonic()
            info = tmux.find_window(session_for(rig_name), job.polecat.name)
            prev_pid = (job.polecat.starting or {}).get("prev_pid")
            if info is not None and not info.pane_dead and info.pane_pid != prev_pid:
                job.info = info  # killed after the window was up: only the record is missing
                running.append(job)
            else:
                fresh.append(job)
        for runtime_name, group in by_runtime(fresh):
            try:
                runtime = resolve_runtime(town, runtime_name)
                runtime.require_installed()
            except GtError as exc:
                for job in group:
                    rollback(town, tmux, rig_name, job, str(exc))
                    batch.failures.append(SlingFailure(job.bead.id, job.polecat.address, str(exc)))
                continue
            run_jobs(town, tmux, rig, runtime, group, None, batch)
        for job in finish(town, rig_name, running):
            runtime_name = job.polecat.runtime or town.config.default_runtime
            result = result_of(job, rig_name, runtime_or_stub(town, runtime_name))
            result.convoy, note = track(town, job, None)
            if note:
                result.notes.append(note)
            batch.results.append(result)
        for result in batch.results:
            town.events.append(
                "polecat.resumed",
                actor=town.actor,
                rig=rig_name,
                bead=result.bead,
                msg=f"interrupted sling of {result.bead} to {result.address} finished",
                polecat=result.address,
            )
        report.resumed.extend(batch.results)
        report.failed.extend(batch.failures)
    return report


def by_runtime(jobs: Iterable[Job]) -> list[tuple[str | None, list[Job]]]:
    groups: dict[str | None, list[Job]] = {}
    for job in jobs:
        groups.setdefault(job.polecat.runtime or None, []).append(job)
    return list(groups.items())


def runtime_or_stub(town: Town, name: str) -> Runtime:
    try:
        return resolve_runtime(town, name)
    except GtError:
        return Runtime(name=name, command=[name])
