"""Sling: put a bead on a polecat's hook and start the polecat's agent in its tmux window.

The order is what makes it safe against races and kills (docs/ARCHITECTURE.md, sling):

1. validate everything (rig, beads, runtime and its binary, tmux, --to, --convoy): any error
   here leaves no trace;
2. ONE rig transaction re-checks each bead and hooks it (status hooked, assignee = polecat)
   together with the polecat's record, marked `starting: {pid, at, bead}`. Of N concurrent
   slings of one bead exactly one passes this step; the others fail "already hooked by …";
3. the worktree (fresh from the rig's main branch, or an idle polecat's reused: its dirty work
   committed on its old branch first, then a new branch), and the window, in parallel threads
   when several beads are slung at once;
4. a second transaction clears `starting` and records the window: the polecat is working.

An error after step 2 rolls back (bead open and unassigned, polecat idle, window killed). A
kill -9 after step 2 leaves a hooked bead whose polecat has a dead `starting.pid`: `gt status`
and `gt polecat list` show it as having no window, and `resume_interrupted` finishes the start.

The package by step: validate.py (1), hook.py (the transactions of steps 2 and 4), start.py
(3: the window; the worktree is town/worktrees.py), run.py (3-4 for a batch), rollback.py,
resume.py, and api.py (sling, sling_many, restart). Test pause points: pause.py.
"""

from __future__ import annotations

from gastown_tui.dispatch.sling.api import restart, sling, sling_many
from gastown_tui.dispatch.sling.jobs import (
    ResumeReport,
    SlingBatch,
    SlingFailure,
    SlingResult,
    Target,
)
from gastown_tui.dispatch.sling.pause import PAUSE_ENV, PAUSE_POINTS, pause_point
from gastown_tui.dispatch.sling.resume import resume_interrupted
from gastown_tui.dispatch.sling.rollback import finish_rollbacks, rollback_dir
from gastown_tui.dispatch.sling.start import StartFailure, last_output_path, save_last_output
from gastown_tui.town.worktrees import branch_name, prepare_worktree, worktree_lock

__all__ = [
    "PAUSE_ENV",
    "PAUSE_POINTS",
    "ResumeReport",
    "SlingBatch",
    "SlingFailure",
    "SlingResult",
    "StartFailure",
    "Target",
    "branch_name",
    "finish_rollbacks",
    "last_output_path",
    "pause_point",
    "prepare_worktree",
    "restart",
    "resume_interrupted",
    "rollback_dir",
    "save_last_output",
    "sling",
    "sling_many",
    "worktree_lock",
]
