"""Sling: put a bead on a polecat's hook and start the polecat's agent in its tmux window.

The order is what makes it safe against races and kills (DESIGN.md sections 5-7):

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
"""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gastown_tui.dispatch.agents import beacon as make_beacon
from gastown_tui.dispatch.agents import launch_argv, screen_bottom, unset_names, window_env
from gastown_tui.runtimes.presets import (
    Runtime,
    install_claude_hook,
    resolve_runtime,
)
from gastown_tui.tmux import TownTmux, WindowInfo, nudge
from gastown_tui.tmux.server import TmuxCommandFailed
from gastown_tui.town import git as gitcmd
from gastown_tui.town.beads import check_title
from gastown_tui.town.clock import iso
from gastown_tui.town.errors import GtError, GtFailure
from gastown_tui.town.models import ACTIVE_STATUSES, Bead, Rig
from gastown_tui.town.paths import encode_address
from gastown_tui.town.polecats import (
    STATE_IDLE,
    STATE_WORKING,
    Polecat,
    check_polecat_name,
    split_address,
)
from gastown_tui.town.procs import pid_alive
from gastown_tui.town.store import atomic_write_bytes, flocked
from gastown_tui.town.usage import require_budget
from gastown_tui.town.work import commit_all, is_git_worktree

if TYPE_CHECKING:
    from gastown_tui.town.beads import RigTxn
    from gastown_tui.town.town import Town

# Tests kill `gt sling` at these points: it prints `GT_TEST_PAUSED <point>` and sleeps.
PAUSE_ENV = "GT_TEST_PAUSE_AT"
PAUSE_POINTS = ("before_hook", "after_hook", "after_worktree", "after_window")
MAX_PARALLEL = 8
# How long a new agent must stay alive to count as started: catches a command that fails at
# once (a missing module, a bad flag) without making every sling wait for the agent's output.
ID_RE = re.compile(r"^[a-z][a-z0-9]*-[a-z0-9][a-z0-9.]*$")


@dataclass
class SlingResult:
    bead: str
    title: str
    address: str
    rig: str
    runtime: str
    worktree: str
    branch: str | None
    session: str
    window: str
    pane_id: str
    pid: int | None
    created_polecat: bool
    created_bead: bool = False
    convoy: str | None = None
    beacon: str = ""
    elapsed: float = 0.0
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "bead": self.bead,
            "title": self.title,
            "agent": self.address,
            "rig": self.rig,
            "runtime": self.runtime,
            "worktree": self.worktree,
            "branch": self.branch,
            "session": self.session,
            "window": self.window,
            "pane_id": self.pane_id,
            "pid": self.pid,
            "created_polecat": self.created_polecat,
            "created_bead": self.created_bead,
            "convoy": self.convoy,
            "elapsed": round(self.elapsed, 3),
            "notes": list(self.notes),
        }


@dataclass
class SlingFailure:
    bead: str
    address: str | None
    error: str

    def to_dict(self) -> dict[str, Any]:
        return {"bead": self.bead, "agent": self.address, "error": self.error}


@dataclass
class SlingBatch:
    results: list[SlingResult] = field(default_factory=list)
    failures: list[SlingFailure] = field(default_factory=list)
    queued: list[dict[str, Any]] = field(default_factory=list)  # past a limit: {bead, why}

    @property
    def ok(self) -> bool:
        return not self.failures


@dataclass
class _Target:
    bead_id: str | None = None
    text: str | None = None
    bead: Bead | None = None
    to: str | None = None  # a long-lived role's polecat (dispatch/scheduler.py)
    role: str | None = None
    long_lived: bool = False


@dataclass
class _Job:
    bead: Bead
    polecat: Polecat
    created: bool
    created_bead: bool = False
    displaced: str | None = None  # a polecat that held this bead before a --force re-sling
    info: WindowInfo | None = None
    window_started: bool = False
    beacon: str = ""
    started: float = 0.0
    keep_window: bool = False  # it died during start-up: its pane stays for `gt peek`
    # False for a supervisor's restart: a death then is the witness's to count (crash loops),
    # not a failed sling that returns the bead to ready.
    wait_started: bool = True
    restarted_by: str | None = None  # a supervisor's restart: its address, in the feed


def pause_point(name: str) -> None:
    """A test hook: stop here so a test can kill -9 this process at a known point (or, with
    GT_TEST_PAUSE_UNTIL=FILE, change the world, e.g. fill the disk, and let it go on)."""
    if os.environ.get(PAUSE_ENV) == name:
        sys.stderr.write(f"GT_TEST_PAUSED {name}\n")
        sys.stderr.flush()
        until = os.environ.get("GT_TEST_PAUSE_UNTIL")
        deadline = time.monotonic() + float(os.environ.get("GT_TEST_PAUSE_SECONDS", "120"))
        while time.monotonic() < deadline:
            if until and os.path.exists(until):
                return
            time.sleep(0.02)


# -- validation (no side effects) -----------------------------------------------------------------
def _looks_like_id(town: Town, value: str) -> bool:
    """A bead id, as opposed to the text of a new bead. Any one word shaped like an id counts
    (an unknown one is then an error, not a bead titled after a typo)."""
    return value in town.ids or bool(ID_RE.match(value.lower()))  # upper case: same id


def _check_bead_for_sling(bead: Bead, rig: str, force: bool) -> None:
    if bead.rig != rig:
        raise GtError(
            f"bead {bead.id} belongs to rig {bead.rig!r}, not {rig!r}",
            hint=f"sling it to its own rig: gt sling {bead.id} {bead.rig}",
        )
    if force:
        return
    if bead.status in ACTIVE_STATUSES:
        who = bead.assignee or "someone"
        raise GtError(
            f"{bead.id} is already hooked by {who}",
            hint="pass --force to take it back and sling it again",
        )
    if bead.status != "open":
        raise GtError(
            f"{bead.id} is {bead.status}, not open",
            hint="reopen it (gt bead reopen) or pass --force",
        )


def _validate(
    town: Town,
    tmux: TownTmux,
    targets: Sequence[str],
    rig: str,
    *,
    runtime: str | None,
    to: str | None,
    convoy: str | None,
    force: bool,
) -> tuple[Rig, Runtime, list[_Target]]:
    if not targets:
        raise GtError("name a bead (or the text of a new one) to sling")
    require_budget(town)  # over budget, nothing new is dispatched
    tmux.require()
    rig_record = town.rigs.get(rig)
    if to is not None:
        check_polecat_name(to)
        if len(targets) > 1:
            raise GtError("--to names one polecat: sling one bead with it")
    if convoy is not None:
        town.convoys.get(convoy)
    if rig_record.git and not is_git_worktree(Path(rig_record.path)):
        raise GtFailure(
            f"rig {rig_record.name}'s repository {rig_record.path} is missing",
            hint="run `gt doctor`, or remove and re-add the rig",
        )
    if to is not None:
        for polecat, hooked in town.polecats.list_with_hooks(rig_record.name):
            if polecat.name == to and (hooked is not None or polecat.is_starting):
                busy = hooked.id if hooked else "a sling in progress"
                if not (force and hooked is not None and hooked.id in targets):
                    raise GtError(
                        f"polecat {polecat.address} is busy with {busy}",
                        hint="pick another with --to, or leave --to out",
                    )
    in_rig = {d.get("id") for d in town.rig_file(rig_record.name).table("beads").values()}
    out: list[_Target] = []
    seen: set[str] = set()
    for raw in targets:
        value = (raw or "").strip()
        if _looks_like_id(town, value):
            bead = town.beads.find(value)
            if bead is None:
                raise GtError(
                    f"unknown bead {value!r}",
                    hint=town.beads.did_you_mean(value).replace(
                        "list beads with `gt bead list --all`", "list beads with `gt bead list`"
                    )
                    + "; to sling new work, describe it in words",
                )
            _check_bead_for_sling(bead, rig_record.name, force)
            if bead.id not in in_rig:
                raise GtError(f"{bead.id} is archived", hint="reopen it first (gt bead reopen)")
            if bead.id in seen:
                raise GtError(f"{bead.id} is named twice")
            seen.add(bead.id)
            out.append(_Target(bead_id=bead.id, bead=bead))
        else:
            out.append(_Target(text=check_title(value)))
    if runtime is None:
        runtime = _runtime_of_holders(town, [t.bead for t in out if t.bead is not None])
    chosen_runtime = resolve_runtime(town, runtime)
    # Checked against the environment its windows will really get (root, API keys).
    chosen_runtime.require_installed(
        window_env(town, f"{rig_record.name}/check", "", runtime=chosen_runtime)
    )
    return rig_record, chosen_runtime, out


def _runtime_of_holders(town: Town, beads: list[Bead]) -> str | None:
    """A re-sling (--force) of hooked beads restarts them with their polecats' runtime."""
    runtimes: set[str] = set()
    for bead in beads:
        if bead.assignee and bead.status in ACTIVE_STATUSES:
            holder = town.polecats.find(bead.assignee) if "/" in bead.assignee else None
            if holder is not None and holder.runtime:
                runtimes.add(holder.runtime)
    return runtimes.pop() if len(runtimes) == 1 else None


# -- the hook transaction ---------------------------------------------------------------------
def _hook_all(
    town: Town,
    rig: Rig,
    targets: list[_Target],
    runtime: Runtime,
    *,
    to: str | None,
    force: bool,
    avoid: set[str],
    actor: str | None = None,
) -> list[_Job]:
    """Step 2: in ONE rig transaction, re-check each bead (or create it from its text), hook
    it and allocate its polecat."""
    now = iso(town.clock.now())
    jobs: list[_Job] = []
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
            _check_bead_for_sling(bead, rig.name, force)
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
            _set_role(polecat, bead, target.role, target.long_lived)
            displaced = previous if previous and previous != polecat.address else None
            if displaced:
                _release(tx, displaced, bead.id, now, "reassigned")
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
                _Job(
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
            record=job.bead.to_dict(),  # for `gt doctor` (town/backup.py)
        )
    return jobs


def _set_role(polecat: Polecat, bead: Bead, role: str | None, long_lived: bool) -> None:
    """The polecat records the role it works as (GT_ROLE); the bead leaves the queue."""
    if role:
        polecat.extra["role"] = role
    else:
        polecat.extra.pop("role", None)
    if long_lived:
        polecat.extra["long_lived"] = True  # kept out of the pool (town/polecats.py)
    bead.metadata.pop("queued", None)


def _release(tx: RigTxn, address: str, bead_id: str, now: str, result: str) -> None:
    """A polecat loses a bead (moved away with --force): idle, with a history entry."""
    _, name = split_address(address)
    doc = tx.get_polecat(name)
    if doc is None:
        return
    record = Polecat.from_dict(doc)
    record.state = STATE_IDLE
    record.updated_at = now
    record.starting = None
    record.history.append({"bead": bead_id, "result": result, "at": now, "commit": None})
    tx.put_polecat(record.to_dict())


# -- worktree and window ----------------------------------------------------------------------
def branch_name(polecat: str, bead_id: str) -> str:
    return f"polecat/{polecat}/{bead_id}"


def _branch_exists(repo: Path, branch: str) -> bool:
    proc = gitcmd.git(
        ["show-ref", "--verify", "--quiet", f"refs/heads/{branch}"], cwd=repo, check=False
    )
    return proc.returncode == 0


def worktree_lock(town: Town, rig: str) -> Path:
    """Held around git commands that read or change the repository's worktree list: git
    reads every worktree's metadata while another `worktree add` is half-written ("failed to
    read .git/worktrees/<x>/commondir"), so concurrent adds in one repository fail."""
    return town.paths.lock(f"git-worktrees~{rig}")


def prepare_worktree(town: Town, rig: Rig, polecat: Polecat, bead: Bead) -> tuple[Path, str | None]:
    """The polecat's worktree on `polecat/<name>/<bead>`. Work is never lost: a reused
    worktree's dirty files are committed on its old branch before it switches, and a branch
    that already exists (an earlier attempt at this bead) is continued, not reset."""
    folder = Path(polecat.worktree or town.paths.polecat_dir(rig.name, polecat.name))
    if not rig.git:
        folder.mkdir(parents=True, exist_ok=True)  # a plain-directory rig: a work folder
        return folder, None
    repo = Path(rig.path)
    branch = branch_name(polecat.name, bead.id)
    main = rig.branch or "main"
    if is_git_worktree(folder):
        current = gitcmd.current_branch(folder)
        if current == branch:
            return folder, branch  # a restart: continue exactly where it was
        commit_all(
            polecat.address,
            folder,
            f"{current or 'work'}: uncommitted work saved before {polecat.name} took {bead.id}",
        )
        with flocked(worktree_lock(town, rig.name)):
            if _branch_exists(repo, branch):
                gitcmd.git(["checkout", "-q", branch], cwd=folder)
            else:
                gitcmd.git(["checkout", "-q", "-b", branch, main], cwd=folder)
        return folder, branch
    if folder.exists():
        # Not a worktree (a worktree add killed half-way, or a stray folder): never delete
        # files; an empty folder goes, anything else is moved aside.
        try:
            folder.rmdir()
        except OSError:
            aside = folder.with_name(f"{folder.name}.orphan-{int(time.time())}")
            folder.rename(aside)
    folder.parent.mkdir(parents=True, exist_ok=True)
    with flocked(worktree_lock(town, rig.name)):
        for attempt in range(2):
            if _branch_exists(repo, branch):
                add = ["worktree", "add", "-q", str(folder), branch]
            else:
                add = ["worktree", "add", "-q", "-b", branch, str(folder), main]
            proc = gitcmd.git(add, cwd=repo, check=False)
            if proc.returncode == 0:
                break
            if attempt == 0:
                # A worktree still registered for a folder that is gone (a kill earlier).
                gitcmd.git(["worktree", "prune"], cwd=repo, check=False)
                continue
            detail = (proc.stderr or proc.stdout).strip().splitlines()
            raise GtFailure(
                f"could not create the worktree {folder}: {detail[-1] if detail else '?'}"
            )
    return folder, branch


START_ATTEMPTS = 3


def _start_window(
    tmux: TownTmux,
    session: str,
    window: str,
    command: list[str],
    folder: Path,
    env: dict[str, str],
) -> WindowInfo:
    """Start the window; when the server was exiting at that moment (its last session just
    closed: "server exited unexpectedly", "no server running"), start it again, on a new
    server, rather than fail the sling."""
    for attempt in range(1, START_ATTEMPTS + 1):
        try:
            return tmux.start_window(session, window, command, start_dir=folder, env=env)
        except TmuxCommandFailed as exc:
            if not exc.no_server or attempt == START_ATTEMPTS:
                raise
            time.sleep(0.1 * attempt)  # let the exiting server finish going away
    raise AssertionError("unreachable")


def _wait_ready(tmux: TownTmux, info: WindowInfo, runtime: Runtime) -> None:
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


def _wait_started(
    town: Town, tmux: TownTmux, info: WindowInfo, runtime: Runtime, address: str
) -> WindowInfo:
    """Return once the agent is really up: its program drew its own screen (the runtime's
    `started` text, a busy line, or a start-up question), or it has lived `start_grace`
    seconds. An agent that exits first fails the sling, quoting its last lines (also kept on
    disk for `gt peek`), and its dead pane is kept."""
    began = time.monotonic()
    pause = 0.01
    while True:
        fresh = tmux.pane_info(info.pane_id)
        if fresh is None:
            raise GtFailure(f"the window of {address} vanished right after it started")
        if fresh.pane_dead:
            if fresh.dead_status in (None, 0):
                return fresh  # ran and finished cleanly (an agent with nothing to do)
            raise StartFailure(town, tmux, fresh, address, time.monotonic() - began)
        elapsed = time.monotonic() - began
        if elapsed >= runtime.start_grace:
            return fresh
        if runtime.shows_started(_bottom(tmux, info.pane_id)):
            return fresh
        time.sleep(pause)
        pause = min(pause * 2, 0.05)


def _bottom(tmux: TownTmux, pane_id: str) -> str:
    try:
        return screen_bottom(tmux, pane_id, 40)
    except GtError:
        return ""


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
            f"the agent in {info.target} exited during start-up after {after:.1f}s "
            f"(status {info.dead_status}); its last lines:\n{last}",
            hint=f"its pane is kept: gt peek {address} (also saved to {saved})",
        )


def save_last_output(town: Town, address: str, text: str, why: str) -> Path:
    """Keep an agent's last screen on disk (`gt peek` shows it once the window is gone)."""
    from gastown_tui.town.store import atomic_write_bytes

    path = last_output_path(town, address)
    stamp = iso(town.clock.now())
    atomic_write_bytes(path, f"# {address} {why} at {stamp}\n{text.rstrip()}\n".encode())
    return path


def last_output_path(town: Town, address: str) -> Path:
    return town.paths.runtime / "last-output" / f"{encode_address(address)}.txt"


def _start(town: Town, tmux: TownTmux, rig: Rig, runtime: Runtime, job: _Job) -> None:
    """Step 3 for one job: worktree, then the window, confirmed up."""
    polecat = job.polecat
    session = f"gt-{rig.name}"
    existing = tmux.find_window(session, polecat.name)
    if existing is not None and not existing.pane_dead:
        # An idle polecat's leftover agent, or the one being restarted: it goes before its
        # worktree changes under it. (A dead pane is respawned in place by start_window.)
        tmux.kill_window(session, polecat.name)
    continuing = bool(polecat.worktree) and polecat.branch == branch_name(polecat.name, job.bead.id)
    folder, branch = prepare_worktree(town, rig, polecat, job.bead)
    polecat.worktree = str(folder)
    polecat.branch = branch
    pause_point("after_worktree")
    if runtime.settings_hook and branch is not None:
        install_claude_hook(folder)
    job.beacon = make_beacon(polecat.address, job.bead.id, town.actor, town.clock.now())
    role = str(polecat.extra.get("role") or "polecat")
    env = window_env(town, polecat.address, job.bead.id, job.beacon, role=role, runtime=runtime)
    # Restarted on the same branch in the same worktree: continue the program's own
    # conversation where it has one, so its context survives (`claude --continue`).
    resume = continuing and runtime.can_resume(env, folder)
    argv = launch_argv(
        env, runtime.argv(job.beacon, resume=resume), unset_names(town, runtime, env)
    )
    job.info = _start_window(tmux, session, polecat.name, argv, folder, env)
    job.window_started = True
    if runtime.prompt == "nudge":
        _wait_ready(tmux, job.info, runtime)
        lock = town.paths.lock(f"nudge~{encode_address(polecat.address)}")
        result = nudge(tmux, job.info.pane_id, job.beacon, lock_path=lock)
        if not result.delivered:
            raise GtFailure(f"the beacon was not delivered to {polecat.address}: {result.detail}")
    if job.wait_started:
        try:
            job.info = _wait_started(town, tmux, job.info, runtime, polecat.address)
        except StartFailure:
            job.keep_window = True
            raise
    pause_point("after_window")


def _finish(town: Town, rig: str, jobs: list[_Job]) -> list[_Job]:
    """Step 4: one transaction records the windows and clears `starting`. Jobs another
    process took over meanwhile (a resume) are left alone and not returned."""
    now = iso(town.clock.now())
    mine = os.getpid()
    done: list[_Job] = []
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
            record.session = f"gt-{rig}"
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


def _rollback(
    town: Town, tmux: TownTmux, rig: str, job: _Job, error: str, owner: int | None = None
) -> None:
    """Undo a sling that failed after its hook: bead open and unassigned, polecat idle (a
    polecat created by this sling disappears), the window killed. Worktrees stay. `owner` is
    the pid of the sling being undone (this process, or a dead one: finish_rollbacks)."""
    if job.window_started and not job.keep_window:
        try:
            tmux.kill_window(f"gt-{rig}", job.polecat.name)
        except GtError:
            pass
    now = iso(town.clock.now())
    mine = owner if owner is not None else os.getpid()
    with town.beads.rig_txn(rig) as tx:
        doc = tx.get_polecat(job.polecat.name)
        if doc is not None:
            record = Polecat.from_dict(doc)
            starting = record.starting or {}
            if starting.get("pid") == mine and starting.get("bead") == job.bead.id:
                if job.created and not record.history and not job.keep_window:
                    tx.remove_polecat(record.name)
                else:
                    record.starting = None
                    record.state = STATE_IDLE
                    record.window = None
                    record.pid = None
                    record.updated_at = now
                    tx.put_polecat(record.to_dict())
        bead = tx.get_bead(job.bead.id)
        if (
            bead is not None
            and bead.assignee == job.polecat.address
            and bead.status in ACTIVE_STATUSES
        ):
            bead.status = "open"
            bead.assignee = None
            bead.updated_at = now
            tx.put_bead(bead)
            record = bead.to_dict()
        else:
            record = None
    town.events.append(
        "polecat.sling_failed",
        actor=town.actor,
        rig=rig,
        bead=job.bead.id,
        msg=f"{job.polecat.address}: {error}",
        polecat=job.polecat.address,
        **({"record": record} if record else {}),
    )


def _cleanup_displaced(town: Town, tmux: TownTmux, rig: Rig, address: str) -> str | None:
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
        if tmux.kill_window(f"gt-{rig.name}", polecat.name):
            notes.append(f"stopped {address}'s window")
    except GtError:
        pass
    return "; ".join(notes) or None


def _track(town: Town, job: _Job, convoy: str | None) -> tuple[str | None, str | None]:
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


def _result(job: _Job, rig: str, runtime: Runtime) -> SlingResult:
    info = job.info
    return SlingResult(
        bead=job.bead.id,
        title=job.bead.title,
        address=job.polecat.address,
        rig=rig,
        runtime=runtime.name,
        worktree=job.polecat.worktree,
        branch=job.polecat.branch,
        session=f"gt-{rig}",
        window=job.polecat.name,
        pane_id=info.pane_id if info else "",
        pid=info.pane_pid if info else None,
        created_polecat=job.created,
        created_bead=job.created_bead,
        beacon=job.beacon,
        elapsed=time.monotonic() - job.started,
    )


def _done_meanwhile(town: Town, job: _Job) -> bool:
    """The agent already finished the bead (`gt done`) and its freed polecat's window was
    reused by a newer sling before this one confirmed it: the sling worked."""
    bead = town.beads.find(job.bead.id)
    return bead is not None and bead.is_closed and bead.assignee == job.polecat.address


def _run_jobs(
    town: Town,
    tmux: TownTmux,
    rig: Rig,
    runtime: Runtime,
    jobs: list[_Job],
    convoy: str | None,
    batch: SlingBatch,
) -> None:
    """Steps 3-4 for hooked jobs (parallel when several), rolling back each that fails."""
    for job in jobs:
        job.started = job.started or time.monotonic()

    def run(job: _Job) -> BaseException | None:
        try:
            _start(town, tmux, rig, runtime, job)
        except Exception as exc:
            return exc
        return None

    try:
        if len(jobs) == 1:
            errors = [run(jobs[0])]
        else:
            with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL, len(jobs))) as pool:
                errors = list(pool.map(run, jobs))
    except BaseException as exc:  # Ctrl-C: undo every start, then stop
        for job in jobs:
            _rollback(town, tmux, rig.name, job, f"interrupted ({type(exc).__name__})")
        raise
    good: list[_Job] = []
    for job, error in zip(jobs, errors, strict=True):
        if error is None or _done_meanwhile(town, job):
            good.append(job)
            continue
        message = _describe(error)
        undone = _safe_rollback(town, tmux, rig.name, job, message)
        if not undone:
            _drop_note(town, rig.name, job)
        batch.failures.append(SlingFailure(job.bead.id, job.polecat.address, message + undone))
    try:
        finished = _finish(town, rig.name, good)
    except BaseException as exc:
        for job in good:
            _rollback(town, tmux, rig.name, job, f"could not record the window: {exc}")
        raise
    for job in finished:
        _drop_note(town, rig.name, job)
        result = _result(job, rig.name, runtime)
        if job.displaced:
            note = _cleanup_displaced(town, tmux, rig, job.displaced)
            if note:
                result.notes.append(note)
        result.convoy, note = _track(town, job, convoy)
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


def _describe(error: BaseException) -> str:
    if isinstance(error, GtError):
        return str(error)
    if isinstance(error, OSError) and error.strerror:
        return error.strerror + (f": {error.filename}" if error.filename else "")
    return f"{type(error).__name__}: {error}"


def rollback_dir(town: Town) -> Path:
    return town.paths.runtime / "rollbacks"


NOTE_SIZE = 2048


def _note_path(town: Town, rig: str, job: _Job) -> Path:
    return rollback_dir(town) / f"{rig}~{job.polecat.name}~{job.bead.id}.json"


def _write_note(town: Town, rig: str, job: _Job, state: str, error: str = "") -> None:
    """A sling's note to the deacon, of a fixed size: written ("starting") right after the
    hook, while the disk has room, and overwritten in place ("rollback") when the rollback
    itself cannot be written, which needs no new space even on a full disk."""
    import orjson

    doc = {
        "state": state,
        "rig": rig,
        "polecat": job.polecat.name,
        "bead": job.bead.id,
        "pid": os.getpid(),
        "created": job.created,
        "window_started": job.window_started,
        "error": error[:1000],
    }
    payload = orjson.dumps(doc)[: NOTE_SIZE - 1].ljust(NOTE_SIZE - 1) + b"\n"
    path = _note_path(town, rig, job)
    try:
        fd = os.open(path, os.O_WRONLY)
    except FileNotFoundError:
        try:
            atomic_write_bytes(path, payload)
        except OSError:
            pass  # the deacon then finds the dead start mark and resumes the start
        return
    except OSError:
        return
    try:
        os.pwrite(fd, payload, 0)
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _drop_note(town: Town, rig: str, job: _Job) -> None:
    try:
        _note_path(town, rig, job).unlink(missing_ok=True)
    except OSError:
        pass


def _safe_rollback(town: Town, tmux: TownTmux, rig: str, job: _Job, error: str) -> str:
    """Roll back; if that cannot be written either (a full disk), leave a note for the
    deacon, which rolls it back once it can (finish_rollbacks). Returns what to add to the
    error message ("" when rolled back)."""
    for attempt in range(2):
        try:
            _rollback(town, tmux, rig, job, error)
            return ""
        except (OSError, GtFailure) as exc:
            failure = exc
            if attempt == 0:
                time.sleep(0.05)
    _write_note(town, rig, job, "rollback", error)
    return (
        f"; the rollback could not be written either ({_describe(failure)}): the deacon"
        " finishes it once it can (or run `gt polecat resume`)"
    )


def finish_rollbacks(town: Town, tmux: TownTmux) -> list[str]:
    """Roll back the slings whose own rollback failed (see _safe_rollback). The deacon
    runs this every patrol; a note is removed only once its rollback is written."""
    import orjson

    folder = rollback_dir(town)
    if not folder.is_dir():
        return []
    done: list[str] = []
    for path in sorted(folder.glob("*.json")):
        try:
            note = orjson.loads(path.read_bytes())
            rig, name, bead_id = str(note["rig"]), str(note["polecat"]), str(note["bead"])
            owner = int(note["pid"])
        except (OSError, orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            continue
        if note.get("state") != "rollback":
            if not pid_alive(owner):
                path.unlink(missing_ok=True)  # a start that ended (or died: resumed below)
            continue
        bead = town.beads.find(bead_id)
        polecat = town.polecats.find(f"{rig}/{name}") if town.rigs.exists(rig) else None
        if bead is not None and polecat is not None:
            if polecat.is_starting and (polecat.starting or {}).get("pid") == owner:
                continue  # that sling still runs (it is retrying): not ours yet
            job = _Job(bead=bead, polecat=polecat, created=bool(note.get("created")))
            job.window_started = bool(note.get("window_started"))
            _rollback(town, tmux, rig, job, str(note.get("error") or "sling failed"), owner)
            done.append(f"rolled back the failed sling of {bead_id} to {rig}/{name}")
        path.unlink(missing_ok=True)
    return done


# -- public API -------------------------------------------------------------------------------
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
    from gastown_tui.dispatch.scheduler import admitted, role_runtime

    runtime = runtime or role_runtime(town, targets)
    rig_record, chosen, parsed = _validate(
        town, tmux, targets, rig, runtime=runtime, to=to, convoy=convoy, force=force
    )
    # Prefer idle polecats whose windows are gone: a live one is an agent someone may watch.
    session = f"gt-{rig_record.name}"
    avoid = {w.window for w in tmux.list_windows() if w.session == session and not w.pane_dead}
    pause_point("before_hook")
    batch = SlingBatch()
    # Past a limit (max_polecats, a role's capacity) a target is queued, not hooked; the
    # count and the hook share one town-wide lock so racing slings never exceed a limit.
    with admitted(town, rig_record, parsed, chosen.name, to, convoy, batch.queued) as admit:
        jobs = (
            _hook_all(
                town, rig_record, admit, chosen, to=to, force=force, avoid=avoid, actor=restarted_by
            )
            if admit
            else []
        )
    for job in jobs:
        job.started = started
        job.wait_started = wait_started
        job.restarted_by = restarted_by
        _write_note(town, rig_record.name, job, "starting")
    pause_point("after_hook")
    if jobs:  # none when every target was queued
        _run_jobs(town, tmux, rig_record, chosen, jobs, convoy, batch)
    return batch


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


@dataclass
class ResumeReport:
    resumed: list[SlingResult] = field(default_factory=list)
    failed: list[SlingFailure] = field(default_factory=list)
    cleared: list[str] = field(default_factory=list)  # stale `starting` marks, bead gone


def _claim_interrupted(town: Town, rig: str) -> tuple[list[_Job], list[str]]:
    """Take over the starts whose sling process died: mark them as ours, in one txn."""
    now = iso(town.clock.now())
    mine = os.getpid()
    jobs: list[_Job] = []
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
            jobs.append(_Job(bead=bead, polecat=record, created=False))
    return jobs, cleared


def resume_interrupted(town: Town, tmux: TownTmux) -> ResumeReport:
    """Finish every sling that a kill interrupted (its `starting.pid` is dead): the worktree
    and window are made (or found, when already up) and the polecat recorded as working; a
    start that cannot be finished is rolled back, so no hook stays without an agent.
    The supervisor and the app call this at start-up; it is safe to run concurrently."""
    report = ResumeReport()
    for rig_name in town.rigs.names():
        jobs, cleared = _claim_interrupted(town, rig_name)
        report.cleared.extend(cleared)
        if not jobs:
            continue
        rig = town.rigs.get(rig_name)
        batch = SlingBatch()
        fresh: list[_Job] = []
        running: list[_Job] = []
        for job in jobs:
            job.started = time.monotonic()
            info = tmux.find_window(f"gt-{rig_name}", job.polecat.name)
            prev_pid = (job.polecat.starting or {}).get("prev_pid")
            if info is not None and not info.pane_dead and info.pane_pid != prev_pid:
                job.info = info  # killed after the window was up: only the record is missing
                running.append(job)
            else:
                fresh.append(job)
        for runtime_name, group in _by_runtime(fresh):
            try:
                runtime = resolve_runtime(town, runtime_name)
                runtime.require_installed()
            except GtError as exc:
                for job in group:
                    _rollback(town, tmux, rig_name, job, str(exc))
                    batch.failures.append(SlingFailure(job.bead.id, job.polecat.address, str(exc)))
                continue
            _run_jobs(town, tmux, rig, runtime, group, None, batch)
        for job in _finish(town, rig_name, running):
            runtime_name = job.polecat.runtime or town.config.default_runtime
            result = _result(job, rig_name, _runtime_or_stub(town, runtime_name))
            result.convoy, note = _track(town, job, None)
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


def _by_runtime(jobs: Iterable[_Job]) -> list[tuple[str | None, list[_Job]]]:
    groups: dict[str | None, list[_Job]] = {}
    for job in jobs:
        groups.setdefault(job.polecat.runtime or None, []).append(job)
    return list(groups.items())


def _runtime_or_stub(town: Town, name: str) -> Runtime:
    try:
        return resolve_runtime(town, name)
    except GtError:
        return Runtime(name=name, command=[name])
