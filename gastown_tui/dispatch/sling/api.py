"""The entry points: sling beads to a rig's polecats, restart a polecat on its hook."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from gastown_tui.dispatch.sling.hook import hook_all
from gastown_tui.dispatch.sling.jobs import Job, SlingBatch, SlingResult
from gastown_tui.dispatch.sling.pause import pause_point
from gastown_tui.dispatch.sling.rollback import write_note
from gastown_tui.dispatch.sling.run import run_jobs
from gastown_tui.dispatch.sling.validate import validate
from gastown_tui.town.errors import GtError, GtFailure
from gastown_tui.town.paths import session_for
from gastown_tui.town.worktrees import begin_worktree

if TYPE_CHECKING:
    from gastown_tui.runtimes.presets import Runtime
    from gastown_tui.tmux import TownTmux
    from gastown_tui.town.models import Rig
    from gastown_tui.town.town import Town


def sling_many(
    town: Town,
    tmux: TownTmux,
    targets: Sequence[str],
    rig: str,
    *,
    runtime: str | None = None,
    to: str | None = None,
    convoy: str | None = None,
    force: bool = False,
    wait_started: bool = True,
    restarted_by: str | None = None,
) -> SlingBatch:
    """Sling several beads (ids, or texts of new beads) to distinct polecats of `rig`.

    Bad input raises GtError before anything is written. Beads whose start fails after the
    hook are rolled back and listed in `failures`; the others run.
    """
    started = time.monotonic()
    from gastown_tui.dispatch.scheduler import role_runtime

    runtime = runtime or role_runtime(town, targets)
    # One control-mode client for the sling's tmux calls when the rig's session is up and
    # tmux survives it (tmux/server.py `batched`); the first sling of a rig makes the session
    # with processes.
    with tmux.batched(session_for(rig)):
        rig_record, chosen, parsed = validate(
            town, tmux, targets, rig, runtime=runtime, to=to, convoy=convoy, force=force
        )
        return _sling_many(
            town, tmux, rig_record, chosen, parsed, started, to, convoy, force, wait_started,
            restarted_by,
        )  # fmt: skip


def _sling_many(
    town: Town,
    tmux: TownTmux,
    rig_record: Rig,
    chosen: Runtime,
    parsed: list[Any],
    started: float,
    to: str | None,
    convoy: str | None,
    force: bool,
    wait_started: bool,
    restarted_by: str | None,
) -> SlingBatch:
    from gastown_tui.dispatch.scheduler import admitted

    session = session_for(rig_record.name)
    # Prefer idle polecats whose windows are gone: a live one is an agent someone may watch.
    # (Not asked when every target names its polecat.)
    avoid = (
        {w.window for w in tmux.list_windows(session) if not w.pane_dead}
        if to is None and any(target.to is None for target in parsed)
        else set()
    )
    pause_point("before_hook")
    batch = SlingBatch()
    # Past a limit (max_polecats, a role's capacity) a target is queued, not hooked; the
    # count and the hook share one town-wide lock so racing slings never exceed a limit.
    with admitted(town, rig_record, parsed, chosen.name, to, convoy, batch.queued) as admit:
        jobs = (
            hook_all(
                town, rig_record, admit, chosen, to=to, force=force, avoid=avoid, actor=restarted_by
            )
            if admit
            else []
        )
    if len(jobs) == 1:
        begin_worktree_of(town, rig_record, jobs[0])
    for job in jobs:
        job.started = started
        job.wait_started = wait_started
        job.restarted_by = restarted_by
        write_note(town, rig_record.name, job, "starting")
    pause_point("after_hook")
    if jobs:  # none when every target was queued
        run_jobs(town, tmux, rig_record, chosen, jobs, convoy, batch)
    return batch


def begin_worktree_of(town: Town, rig: Rig, job: Job) -> None:
    """Start a lone job's fresh worktree now: `git worktree add` is most of a sling's own
    time, and the note and the look at tmux before the window starts go on meanwhile. (A
    batch's worktrees are made in its parallel starts, run.py.) Whatever fails here fails
    again in start_job, where a failure is rolled back."""
    try:
        job.worktree = begin_worktree(town, rig, job.polecat, job.bead)
    except (GtError, OSError):
        job.worktree = None


def sling(
    town: Town,
    tmux: TownTmux,
    target: str,
    rig: str,
    *,
    runtime: str | None = None,
    to: str | None = None,
    convoy: str | None = None,
    force: bool = False,
    wait_started: bool = True,
    restarted_by: str | None = None,
) -> SlingResult:
    """Sling one bead (id or new text). Raises GtError on bad input, GtFailure if it could
    not start (after rolling back)."""
    batch = sling_many(
        town,
        tmux,
        [target],
        rig,
        runtime=runtime,
        to=to,
        convoy=convoy,
        force=force,
        wait_started=wait_started,
        restarted_by=restarted_by,
    )
    if batch.failures:
        failure = batch.failures[0]
        undone = "" if "rollback could not be written" in failure.error else " (rolled back)"
        raise GtFailure(f"sling of {failure.bead} failed{undone}: {failure.error}")
    return batch.results[0]


def restart(town: Town, tmux: TownTmux, agent: str, by: str | None = None) -> SlingResult:
    """Start a polecat's agent again on the bead its hook holds, in the same worktree and
    branch (for the supervisor, and `gt sling --force BEAD`). It does not touch `restarts`:
    counting and backing off is the supervisor's business. The feed shows it as
    `polecat.restarted` by `by` (default: the rig's witness)."""
    address = town.polecats.resolve(agent)
    polecat = town.polecats.get(address)
    bead = town.polecats.hooked(address)
    if bead is None:
        raise GtError(f"{address} has nothing on its hook to restart")
    return sling(
        town,
        tmux,
        bead.id,
        polecat.rig,
        runtime=polecat.runtime or None,
        to=polecat.name,
        force=True,
        wait_started=False,
        restarted_by=by or f"{polecat.rig}/witness",
    )
