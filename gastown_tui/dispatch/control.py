"""A person's control of running agents: stop, kill, restart, pause/thaw, release.

Every action that ends or moves an agent first commits whatever its worktree holds (as the
polecat, town/work.py `commit_all`, like `gt done` and the witness): a commit is never lost.
An unknown agent is a GtError (exit 2) and nothing is touched.

- stop:    press the runtime's interrupt key (Escape for the coding CLIs, C-c for shells): the
           agent stops its turn and stays up, its hook unchanged.
- kill:    save the work, close the agent's window. The hook is kept, so the witness sees a
           zombie and restarts it on the same bead (with its backoff, supervise/witness.py).
- restart: save the work, close the window, start the agent again on its hook now.
- pause:   record `paused` on the polecat (observe reports it "paused", never stalled,
           zombie or waiting, so the witness neither nudges nor restarts it and queued nudges
           wait), interrupt a coding CLI's turn (Escape), and SIGSTOP the processes it started
           in their own process groups (builds, test runs) — Gas Town's estop. The pane's own
           process group cannot be held by SIGSTOP: tmux (3.3a, server.c server_child_stopped)
           sends SIGCONT to a pane's process group as soon as its first process stops.
           thaw: SIGCONT, clear the mark, and a nudge to carry on (queued if it is busy).
- release: save the work, close the window, the bead back to ready (open, unassigned, its
           branch named in its metadata and a comment), the polecat idle.
"""

from __future__ import annotations

import contextlib
import os
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gastown_tui.dispatch.agents import find_window
from gastown_tui.town.clock import iso
from gastown_tui.town.errors import GtError
from gastown_tui.town.models import Comment
from gastown_tui.town.polecats import Polecat, split_address
from gastown_tui.town.procs import proc_stat
from gastown_tui.town.work import commit_all, is_git_worktree

if TYPE_CHECKING:
    from gastown_tui.tmux import TownTmux
    from gastown_tui.tmux.server import WindowInfo
    from gastown_tui.town.town import Town

# The key that interrupts a turn without quitting: the coding CLIs take Escape (Ctrl-C twice
# quits Claude Code), anything else is treated as a shell.
ESCAPE_RUNTIMES = ("claude", "codex", "gemini", "aider", "builtin")
ACTIONS = ("stop", "kill", "restart", "pause", "thaw", "release")


@dataclass
class ControlResult:
    agent: str
    action: str
    detail: str
    saved_commit: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "agent": self.agent,
            "action": self.action,
            "detail": self.detail,
            "saved_commit": self.saved_commit,
        }


def interrupt_key(runtime: str) -> str:
    base = (runtime or "").split("-", 1)[0]
    return "Escape" if base in ESCAPE_RUNTIMES else "C-c"


def is_paused(polecat: Polecat) -> bool:
    return bool(polecat.extra.get("paused"))


def _polecat(town: Town, agent: str) -> Polecat:
    address = town.polecats.resolve(agent)  # unknown: GtError, exit 2
    return town.polecats.get(address)


def save_work(town: Town, polecat: Polecat, why: str) -> str | None:
    """Commit the worktree's uncommitted work as the polecat (None: nothing to commit)."""
    if not polecat.worktree or not is_git_worktree(Path(polecat.worktree)):
        return None
    bead = town.polecats.hooked(polecat.address)
    title = f"{bead.id}: {bead.title}" if bead else f"work of {polecat.address}"
    return commit_all(polecat.address, Path(polecat.worktree), f"{title}\n\n{why}")


def _window(tmux: TownTmux, polecat: Polecat) -> WindowInfo | None:
    if not tmux.available():
        return None
    tmux.require()
    return find_window(tmux, polecat.address)


def _event(town: Town, polecat: Polecat, action: str, msg: str, **extra: Any) -> None:
    bead = town.polecats.hooked(polecat.address)
    town.events.append(
        f"polecat.{action}",
        actor=town.actor,
        rig=polecat.rig,
        bead=bead.id if bead else None,
        msg=msg,
        polecat=polecat.address,
        **extra,
    )


def session_pids(leader: int) -> list[int]:
    """The live processes of the session `leader` heads (a pane's processes; Linux /proc).
    Shell job control puts an agent in its own process group, but never its own session."""
    out = [leader]
    proc = Path("/proc")
    if not proc.is_dir():
        return out
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) == leader:
            continue
        stat = proc_stat(int(entry.name))
        if stat is None:
            continue
        fields = stat[1]
        with contextlib.suppress(IndexError, ValueError):
            if int(fields[3]) == leader and fields[0] != "Z":
                out.append(int(entry.name))
    return out


def _signal(info: WindowInfo | None, sig: signal.Signals, others_only: bool = False) -> int:
    """Send `sig` to the pane's processes (with `others_only`, to those outside the pane's
    own process group, which tmux would continue at once)."""
    if info is None or info.pane_dead or not info.pane_pid:
        return 0
    try:
        own = os.getpgid(info.pane_pid)
    except ProcessLookupError:
        return 0
    sent = 0
    for pid in session_pids(info.pane_pid):
        if others_only:
            try:
                if os.getpgid(pid) == own:
                    continue
            except ProcessLookupError:
                continue
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)
            sent += 1
    return sent


def _set_paused(town: Town, polecat: Polecat, paused: dict[str, Any] | None) -> None:
    with town.beads.rig_txn(polecat.rig) as tx:
        doc = tx.get_polecat(polecat.name)
        if doc is None:
            return
        if paused:
            doc["paused"] = paused
        else:
            doc.pop("paused", None)
        tx.put_polecat(doc)


# -- the actions ------------------------------------------------------------------------------
def stop(town: Town, tmux: TownTmux, agent: str) -> ControlResult:
    polecat = _polecat(town, agent)
    if is_paused(polecat):
        raise GtError(
            f"{polecat.address} is paused", hint=f"thaw it first: gt polecat thaw {agent}"
        )
    info = _window(tmux, polecat)
    if info is None or info.pane_dead:
        raise GtError(f"{polecat.address} has no running window; there is nothing to stop")
    key = interrupt_key(polecat.runtime)
    tmux.send_key(info.pane_id, key)
    msg = f"{polecat.address} interrupted ({key}); its hook is unchanged"
    _event(town, polecat, "stopped", msg, key=key)
    return ControlResult(polecat.address, "stop", msg)


def _close_window(town: Town, tmux: TownTmux, polecat: Polecat) -> bool:
    info = _window(tmux, polecat)
    if info is None:
        return False
    _signal(info, signal.SIGCONT)  # a paused agent must be able to die
    return tmux.kill_window(info.session, info.window) > 0


def kill(town: Town, tmux: TownTmux, agent: str) -> ControlResult:
    polecat = _polecat(town, agent)
    saved = save_work(town, polecat, "Uncommitted work saved before gt polecat kill.")
    closed = _close_window(town, tmux, polecat)
    if is_paused(polecat):
        _set_paused(town, polecat, None)
    hooked = town.polecats.hooked(polecat.address)
    if hooked is not None:
        after = f"its hook ({hooked.id}) is kept: the witness restarts it"
    else:
        after = "nothing was on its hook"
    msg = f"{polecat.address} killed" if closed else f"{polecat.address} had no window"
    msg += f"; {after}"
    if saved:
        msg += f"; uncommitted work saved as {saved[:10]}"
    _event(town, polecat, "killed", msg, saved_commit=saved)
    return ControlResult(polecat.address, "kill", msg, saved)


def restart(town: Town, tmux: TownTmux, agent: str) -> ControlResult:
    from gastown_tui.dispatch.sling import restart as sling_restart

    polecat = _polecat(town, agent)
    if town.polecats.hooked(polecat.address) is None:
        raise GtError(f"{polecat.address} has nothing on its hook to restart")
    saved = save_work(town, polecat, "Uncommitted work saved before gt polecat restart.")
    _close_window(town, tmux, polecat)
    if is_paused(polecat):
        _set_paused(town, polecat, None)
    result = sling_restart(town, tmux, polecat.address, by=town.actor)
    msg = f"{polecat.address} restarted on {result.bead}"
    if saved:
        msg += f"; uncommitted work saved as {saved[:10]}"
    _event(town, polecat, "restarted", msg, saved_commit=saved)
    return ControlResult(polecat.address, "restart", msg, saved)


def _targets(town: Town, agent: str | None, every: bool) -> list[Polecat]:
    if every:
        return town.polecats.list()
    if not agent:
        raise GtError("name an agent, or pass --all")
    return [_polecat(town, agent)]


def pause(
    town: Town, tmux: TownTmux, agent: str | None, every: bool = False
) -> list[ControlResult]:
    out = []
    for polecat in _targets(town, agent, every):
        info = _window(tmux, polecat)
        if info is None or info.pane_dead:
            if not every:
                raise GtError(f"{polecat.address} has no running window; there is nothing to pause")
            continue
        if is_paused(polecat):
            out.append(ControlResult(polecat.address, "pause", f"{polecat.address} was paused"))
            continue
        # Recorded before the signal: the witness must never see a stopped, unmarked agent.
        _set_paused(town, polecat, {"at": iso(town.clock.now()), "by": town.actor})
        if interrupt_key(polecat.runtime) == "Escape":
            tmux.send_key(info.pane_id, "Escape")  # end the turn; it waits at its prompt
        count = _signal(info, signal.SIGSTOP, others_only=True)
        msg = (
            f"{polecat.address} paused ({count} child process{'es' if count != 1 else ''} stopped)"
        )
        _event(town, polecat, "paused", msg)
        out.append(ControlResult(polecat.address, "pause", msg))
    return out


def thaw(town: Town, tmux: TownTmux, agent: str | None, every: bool = False) -> list[ControlResult]:
    out = []
    for polecat in _targets(town, agent, every):
        if not is_paused(polecat):
            if not every:
                raise GtError(f"{polecat.address} is not paused")
            continue
        info = _window(tmux, polecat)
        count = _signal(info, signal.SIGCONT)
        _set_paused(town, polecat, None)
        msg = f"{polecat.address} resumed ({count} process{'es' if count != 1 else ''})"
        bead = town.polecats.hooked(polecat.address)
        if bead is not None and info is not None and not info.pane_dead:
            from gastown_tui.dispatch.nudge import nudge_agent

            with contextlib.suppress(GtError):
                outcome = nudge_agent(
                    town, tmux, polecat.address,
                    f"You were paused and are resumed: carry on with {bead.id} (gt hook).",
                    sender=town.actor, defer_if_waiting=True,
                )  # fmt: skip
                msg += f"; nudge {outcome.status}"
        _event(town, polecat, "resumed", msg)
        out.append(ControlResult(polecat.address, "thaw", msg))
    return out


def release(town: Town, tmux: TownTmux, agent: str) -> ControlResult:
    polecat = _polecat(town, agent)
    bead = town.polecats.hooked(polecat.address)
    if bead is None:
        raise GtError(f"{polecat.address} has nothing on its hook to release")
    saved = save_work(town, polecat, "Uncommitted work saved before gt polecat release.")
    branch, commit = polecat.branch, None
    if polecat.worktree and is_git_worktree(Path(polecat.worktree)):
        from gastown_tui.town import git

        commit = git.head_commit(Path(polecat.worktree))
    _close_window(town, tmux, polecat)
    now = iso(town.clock.now())
    rig, name = split_address(polecat.address)
    note = f"released by {town.actor} from {polecat.address}"
    if branch:
        note += f"; the work so far is kept on branch {branch}" + (
            f" at {commit[:12]}" if commit else ""
        )
    with town.beads.rig_txn(rig) as tx:
        current = tx.get_bead(bead.id)
        if current is not None:
            current.status, current.assignee, current.closed_at = "open", None, None
            current.updated_at = now
            current.metadata["released"] = {"branch": branch, "commit": commit, "by": town.actor}
            current.comments.append(Comment(town.actor, now, note))
            tx.put_bead(current)
        doc = tx.get_polecat(name)
        if doc is not None:
            record = Polecat.from_dict(doc)
            record.release(bead.id, "released", now, commit)
            record.extra.pop("paused", None)
            tx.put_polecat(record.to_dict())
    msg = f"{bead.id} released from {polecat.address}: back to ready" + (
        f", branch {branch} kept" if branch else ""
    )
    if saved:
        msg += f"; uncommitted work saved as {saved[:10]}"
    town.events.append(
        "polecat.released", actor=town.actor, rig=rig, bead=bead.id, msg=msg,
        polecat=polecat.address, saved_commit=saved,
    )  # fmt: skip
    return ControlResult(polecat.address, "release", msg, saved)
