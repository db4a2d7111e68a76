"""Steps 3-4 for a batch of hooked jobs: start them (in parallel threads when several), roll
back each that fails, record the others, and track them in convoys."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from gastown_tui.dispatch.sling.hook import finish
from gastown_tui.dispatch.sling.jobs import Job, SlingBatch, SlingFailure, SlingResult, describe
from gastown_tui.dispatch.sling.rollback import drop_note, rollback, safe_rollback
from gastown_tui.dispatch.sling.start import start_job
from gastown_tui.town.errors import GtError
from gastown_tui.town.paths import session_for
from gastown_tui.town.work import commit_all, is_git_worktree

if TYPE_CHECKING:
    from gastown_tui.runtimes.presets import Runtime
    from gastown_tui.tmux import TownTmux
    from gastown_tui.town.models import Rig
    from gastown_tui.town.town import Town

MAX_PARALLEL = 8


def run_jobs(
    town: Town,
    tmux: TownTmux,
    rig: Rig,
    runtime: Runtime,
    jobs: list[Job],
    convoy: str | None,
    batch: SlingBatch,
) -> None:
    """Steps 3-4 for hooked jobs (parallel when several), rolling back each that fails."""
    for job in jobs:
        job.started = job.started or time.monotonic()

    def run(job: Job) -> BaseException | None:
        try:
            start_job(town, tmux, rig, runtime, job)
        except Exception as exc:
            return exc
        return None

    try:
        if len(jobs) == 1:
            errors = [run(jobs[0])]
        else:  # concurrent.futures (logging, queue...) only for a batch: ~3 ms of a `gt sling`
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL, len(jobs))) as pool:
                errors = list(pool.map(run, jobs))
    except BaseException as exc:  # Ctrl-C: undo every start, then stop
        for job in jobs:
            rollback(town, tmux, rig.name, job, f"interrupted ({type(exc).__name__})")
        raise
    if not any(errors):
        tmux.end_batch()  # no more tmux calls unless something fails below
    good: list[Job] = []
    for job, error in zip(jobs, errors, strict=True):
        if error is None or done_meanwhile(town, job):
            good.append(job)
            continue
        message = describe(error)
        undone = safe_rollback(town, tmux, rig.name, job, message)
        if not undone:
            drop_note(town, rig.name, job)
        batch.failures.append(SlingFailure(job.bead.id, job.polecat.address, message + undone))
    try:
        finished = finish(town, rig.name, good)
    except BaseException as exc:
        for job in good:
            rollback(town, tmux, rig.name, job, f"could not record the window: {exc}")
        raise
    for job in finished:
        drop_note(town, rig.name, job)
        result = result_of(job, rig.name, runtime)
        if job.displaced:
            note = cleanup_displaced(town, tmux, rig, job.displaced)
            if note:
                result.notes.append(note)
        result.convoy, note = track(town, job, convoy)
        if note:
            result.notes.append(note)
        town.events.append(
            "polecat.restarted" if job.restarted_by else "polecat.slung",
            actor=job.restarted_by or town.actor,
            rig=rig.name,
            bead=job.bead.id,
            msg=f"{job.bead.id} -> {job.polecat.address} ({runtime.name})",
            polecat=job.polecat.address,
            runtime=runtime.name,
            window=result.window,
            convoy=result.convoy,
        )
        batch.results.append(result)


def cleanup_displaced(town: Town, tmux: TownTmux, rig: Rig, address: str) -> str | None:
    """A polecat whose bead moved to another (--force): save its work, stop its agent."""
    polecat = town.polecats.find(address)
    if polecat is None:
        return None
    notes: list[str] = []
    if polecat.worktree and is_git_worktree(Path(polecat.worktree)):
        try:
            saved = commit_all(
                address, Path(polecat.worktree), "work saved: its bead was re-slung elsewhere"
            )
            if saved:
                notes.append(f"saved {address}'s uncommitted work as {saved[:12]}")
        except GtError as exc:
            notes.append(f"could not save {address}'s work: {exc}")
    try:
        if tmux.kill_window(session_for(rig.name), polecat.name):
            notes.append(f"stopped {address}'s window")
    except GtError:
        pass
    return "; ".join(notes) or None


def track(town: Town, job: Job, convoy: str | None) -> tuple[str | None, str | None]:
    """Put the bead in `convoy`, or in a new one-bead convoy unless an open one tracks it.
    Returns (convoy id, note). Tracking never fails a sling that already runs."""
    try:
        if convoy is not None:
            town.convoys.add(convoy, [job.bead.id])
            return convoy, None
        for existing in town.convoys.convoys_of(job.bead.id):
            if existing.is_open:
                return existing.id, None
        made = town.convoys.create(job.bead.title, [job.bead.id], quiet=True)
        return made.id, None
    except (GtError, ImportError, OSError) as exc:
        return None, f"convoy not updated: {exc}"


def result_of(job: Job, rig: str, runtime: Runtime) -> SlingResult:
    info = job.info
    return SlingResult(
        bead=job.bead.id,
        title=job.bead.title,
        address=job.polecat.address,
        rig=rig,
        runtime=runtime.name,
        worktree=job.polecat.worktree,
        branch=job.polecat.branch,
        session=session_for(rig),
        window=job.polecat.name,
        pane_id=info.pane_id if info else "",
        pid=info.pane_pid if info else None,
        created_polecat=job.created,
        created_bead=job.created_bead,
        beacon=job.beacon,
        elapsed=time.monotonic() - job.started,
    )


def done_meanwhile(town: Town, job: Job) -> bool:
    """The agent already finished the bead (`gt done`) and its freed polecat's window was
    reused by a newer sling before this one confirmed it: the sling worked."""
    bead = town.beads.find(job.bead.id)
    return bead is not None and bead.is_closed and bead.assignee == job.polecat.address
