"""Step 3 of a sling: the worktree, then the agent's window, confirmed up."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from gastown_tui.dispatch.agents import agent_bin, launch_argv, unset_names, window_env
from gastown_tui.dispatch.agents import beacon as make_beacon
from gastown_tui.dispatch.sling.jobs import Job
from gastown_tui.dispatch.sling.pause import pause_point
from gastown_tui.tmux import TownTmux, WindowInfo, nudge
from gastown_tui.tmux.server import TmuxCommandFailed
from gastown_tui.town.clock import iso
from gastown_tui.town.errors import GtError, GtFailure
from gastown_tui.town.paths import encode_address, session_for
from gastown_tui.town.storage.files import atomic_write_bytes
from gastown_tui.town.worktrees import branch_name, prepare_worktree

if TYPE_CHECKING:
    from gastown_tui.runtimes.presets import Runtime
    from gastown_tui.town.models import Rig
    from gastown_tui.town.town import Town

START_ATTEMPTS = 3


def start_window(
    tmux: TownTmux,
    session: str,
    window: str,
    command: list[str],
    folder: Path,
    env: dict[str, str],
    fresh: bool = False,
) -> WindowInfo:
    """Start the window; when the server was exiting at that moment (its last session just
    closed: "server exited unexpectedly", "no server running"), start it again, on a new
    server, rather than fail the sling. `fresh`: the polecat's worktree was just made, so a
    leftover agent of it is in no worktree of ours and is replaced here."""
    for attempt in range(1, START_ATTEMPTS + 1):
        try:
            return tmux.start_window(
                session, window, command, start_dir=folder, env=env, replace_live=fresh
            )
        except TmuxCommandFailed as exc:
            if not exc.no_server or attempt == START_ATTEMPTS:
                raise
            time.sleep(0.1 * attempt)  # let the exiting server finish going away
    raise AssertionError("unreachable")


def wait_ready(tmux: TownTmux, info: WindowInfo, runtime: Runtime) -> None:
    deadline = time.monotonic() + runtime.ready_timeout
    pause = 0.01
    while True:
        fresh = tmux.pane_info(info.pane_id)
        if fresh is None or fresh.pane_dead:
            raise GtFailure(f"the agent in {info.target} exited before it was ready")
        if runtime.is_ready(tmux.capture(info.pane_id, lines=20)):
            return
        if time.monotonic() >= deadline:
            raise GtFailure(
                f"{runtime.name} in {info.target} did not show it was ready within "
                f"{runtime.ready_timeout:.0f}s",
                hint=f"check [runtimes.{runtime.name}] ready in town.toml",
            )
        time.sleep(pause)
        pause = min(pause * 2, 0.1)


def wait_started(
    town: Town, tmux: TownTmux, info: WindowInfo, runtime: Runtime, address: str
) -> WindowInfo:
    """Return once the agent is really up: its program drew its own screen (the runtime's
    `started` text, a busy line, or a start-up question), or it has lived `start_grace`
    seconds. An agent that exits first fails the sling, quoting its last lines (also kept on
    disk for `gt peek`), and its dead pane is kept."""
    began = time.monotonic()
    # A cheap program is up in a few ms: look often at first, then back off. Inside a sling
    # a look is ~0.2 ms down its control-mode client (tmux/server.py `batched`).
    pause = 0.001
    while True:
        fresh, rows = tmux.pane_screen(info.pane_id)  # one tmux call a look
        if fresh is None:
            # Confirmed by a `tmux` process before the sling fails: under racing slings the
            # control client answered for a server that had gone (the pane was there).
            fresh, rows = tmux.pane_screen(info.pane_id, own_process=True)
        if fresh is None:
            asked = tmux.run("display-message", "-p", "-t", info.pane_id, "#{pane_id}", check=False)
            said = asked.stderr.strip() or f"exit status {asked.returncode}"
            raise GtFailure(
                f"the window of {address} vanished right after it started (tmux: {said})"
            )
        elapsed = time.monotonic() - began
        if fresh.pane_dead:
            # tmux marks a pane dead when its terminal closes, a moment before it reaps the
            # program and knows how it ended: that is waited for (a quick look could
            # otherwise take a crash for a clean exit).
            if fresh.exit_pending and elapsed < runtime.start_grace:
                pass
            elif fresh.dead_status == 0 or fresh.exit_pending:
                return fresh  # ran and finished cleanly (an agent with nothing to do)
            else:
                raise StartFailure(town, tmux, fresh, address, time.monotonic() - began)
        elif elapsed >= runtime.start_grace or runtime.shows_started(bottom(rows, 40)):
            return fresh
        time.sleep(pause)
        pause = min(pause * 1.5, 0.05)


def bottom(rows: list[str], lines: int) -> str:
    """The last `lines` rows of a screen, trailing blank rows left out (as screen_bottom)."""
    while rows and not rows[-1].strip():
        rows = rows[:-1]
    return "\n".join(rows[-lines:])


class StartFailure(GtFailure):
    """The agent exited during start-up. Its last lines are in the message and on disk."""

    def __init__(
        self, town: Town, tmux: TownTmux, info: WindowInfo, address: str, after: float
    ) -> None:
        try:
            text = tmux.capture(info.pane_id, lines=200)
        except GtError:
            text = ""
        lines = [line.rstrip() for line in text.splitlines() if line.strip()]
        saved = save_last_output(town, address, text, f"exited during start-up ({info.target})")
        last = "\n".join(f"  | {line[:200]}" for line in lines[-8:]) or "  | (nothing)"
        super().__init__(
            f"the agent in {info.target} exited during start-up after {after:.1f}s"
            f" (it {info.how_it_ended}); its last lines:\n{last}",
            hint=f"its pane is kept: gt peek {address} (also saved to {saved})",
        )


def save_last_output(town: Town, address: str, text: str, why: str) -> Path:
    """Keep an agent's last screen on disk (`gt peek` shows it once the window is gone)."""
    path = last_output_path(town, address)
    stamp = iso(town.clock.now())
    atomic_write_bytes(path, f"# {address} {why} at {stamp}\n{text.rstrip()}\n".encode())
    return path


def last_output_path(town: Town, address: str) -> Path:
    return town.paths.runtime / "last-output" / f"{encode_address(address)}.txt"


def start_job(town: Town, tmux: TownTmux, rig: Rig, runtime: Runtime, job: Job) -> None:
    """Step 3 for one job: worktree, then the window, confirmed up."""
    polecat = job.polecat
    session = session_for(rig.name)
    pending, job.worktree = job.worktree, None
    try:
        existing = None if pending is not None else tmux.find_window(session, polecat.name)
        if existing is not None and not existing.pane_dead:
            # An idle polecat's leftover agent, or the one being restarted: it goes before
            # its worktree changes under it. (A worktree begun early is a fresh one, which no
            # agent is in: start_window replaces a leftover then. A dead pane is respawned in
            # place by start_window.)
            tmux.kill_window(session, polecat.name)
        continuing = bool(polecat.worktree) and polecat.branch == branch_name(
            polecat.name, job.bead.id
        )
        fresh = pending is not None
        if pending is not None:
            folder, branch = pending.wait()
            pending = None
        else:
            folder, branch = prepare_worktree(town, rig, polecat, job.bead)
    finally:
        if pending is not None:
            pending.abandon()
    polecat.worktree = str(folder)
    polecat.branch = branch
    pause_point("after_worktree")
    runtime.prepare_worktree(folder, git=branch is not None)
    job.beacon = make_beacon(polecat.address, job.bead.id, town.actor, town.clock.now())
    role = str(polecat.extra.get("role") or "polecat")
    env = window_env(town, polecat.address, job.bead.id, job.beacon, role=role, runtime=runtime)
    # Restarted on the same branch in the same worktree: continue the program's own
    # conversation where it has one, so its context survives (`claude --continue`).
    resume = continuing and runtime.can_resume(env, folder)
    argv = launch_argv(
        env, runtime.argv(job.beacon, resume=resume), unset_names(town, runtime, env)
    )
    agent_bin(town)  # the `gt` its PATH starts with
    job.info = start_window(tmux, session, polecat.name, argv, folder, env, fresh=fresh)
    job.window_started = True
    if runtime.prompt == "nudge":
        wait_ready(tmux, job.info, runtime)
        lock = town.paths.lock(f"nudge~{encode_address(polecat.address)}")
        result = nudge(
            tmux, job.info.pane_id, job.beacon, lock_path=lock, settle=runtime.enter_delay
        )
        if not result.delivered:
            raise GtFailure(f"the beacon was not delivered to {polecat.address}: {result.detail}")
    if job.wait_started:
        try:
            job.info = wait_started(town, tmux, job.info, runtime, polecat.address)
        except StartFailure:
            job.keep_window = True
            raise
    pause_point("after_window")
