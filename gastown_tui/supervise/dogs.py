"""The dogs: maintenance the deacon sends out on a schedule.

- gc: windows the town owns whose polecat is idle (nothing hooked) and quiet for a while,
  and worktrees of polecats that no longer exist — but never anything with unmerged or
  uncommitted work, never a session the town does not own, never a window of a live agent
  that holds work;
- backup: a store snapshot, keeping the newest N;
- rotate: events.jsonl moved aside once past a size (the newest few kept);
- sweep: orphan temp files of killed writers; read mail beyond the newest 200 archived.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

from gastown_tui.town import git
from gastown_tui.town.errors import GtError, GtFailure
from gastown_tui.town.paths import session_for
from gastown_tui.town.storage.doctor import create_backup
from gastown_tui.town.storage.files import flocked

if TYPE_CHECKING:
    from gastown_tui.tmux import TownTmux
    from gastown_tui.town.town import Town


def unmerged_commits(repo: Path, branch: str, main: str) -> int:
    """Commits on `branch` that `main` does not have (0 if the branch is gone)."""
    proc = git.git(["rev-list", "--count", f"{main}..{branch}"], cwd=repo, check=False)
    if proc.returncode != 0:
        return 0
    return int(proc.stdout.strip() or 0)


def _merged_into_main(repo: Path, worktree: Path, main: str) -> tuple[bool, str]:
    """Is everything in this worktree safely in main? (clean, and no commits main lacks)"""
    if not (worktree / ".git").exists():
        return True, ""
    if git.is_dirty(worktree):
        return False, "uncommitted changes"
    head = git.head_commit(worktree)
    if head is None:
        return True, ""
    proc = git.git(["merge-base", "--is-ancestor", head, main], cwd=repo, check=False)
    if proc.returncode != 0:
        return False, f"commit {head[:10]} is not merged into {main}"
    return True, ""


def gc(town: Town, tmux: TownTmux, now: float | None = None) -> list[str]:
    now = town.clock.now() if now is None else now
    idle_window = town.config.dogs.gc_idle_window
    actions: list[str] = []
    for rig_name in town.rigs.names():
        rig = town.rigs.get(rig_name)
        session = session_for(rig_name)
        records = {p.name: (p, bead) for p, bead in town.polecats.list_with_hooks(rig_name)}
        # Windows: only in our own session, only named after one of our idle polecats.
        for info in tmux.list_windows(session) if tmux.available() else []:
            entry = records.get(info.identity)
            if entry is None:
                continue  # not a polecat's window: not ours to judge
            polecat, bead = entry
            if bead is not None or polecat.is_starting:
                continue
            quiet = now - (info.activity or now)
            if not info.pane_dead and quiet < idle_window:
                continue
            tmux.kill_window(session, info.identity)
            why = "its agent exited" if info.pane_dead else f"idle for {int(quiet)}s"
            msg = f"closed the window of idle polecat {polecat.address} ({why})"
            town.events.append("dog.gc", actor="deacon", rig=rig_name, msg=msg)
            actions.append(msg)
        # Worktrees of polecats that no longer exist.
        folder = town.paths.rig_dir(rig_name) / "polecats"
        if not folder.is_dir():
            continue
        for worktree in sorted(p for p in folder.iterdir() if p.is_dir()):
            if worktree.name in records:
                continue
            if not rig.git:
                continue  # a plain folder may hold a person's files: never delete it
            safe, why = _merged_into_main(Path(rig.path), worktree, rig.branch)
            if not safe:
                msg = f"kept worktree {worktree} of removed polecat: {why}"
                actions.append(msg)
                continue
            try:
                git.git(["worktree", "remove", "--force", str(worktree)], cwd=Path(rig.path))
            except (GtError, GtFailure) as exc:
                actions.append(f"could not remove worktree {worktree}: {exc}")
                continue
            msg = f"removed worktree {worktree} of a removed polecat (all merged)"
            town.events.append("dog.gc", actor="deacon", rig=rig_name, msg=msg)
            actions.append(msg)
    return actions


def backup(town: Town) -> list[str]:
    path = create_backup(town, reason="backup dog")
    town.events.append("dog.backup", actor="deacon", msg=f"store backed up to {path.name}")
    return [f"backup {path.name}"]


def rotate_events(town: Town) -> list[str]:
    limit = town.config.supervise.events_rotate_bytes
    keep = town.config.dogs.events_keep_rotated
    path = town.paths.events
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return []
    if size < limit:
        return []
    folder = town.root / "events"
    folder.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(town.clock.now()))
    target = folder / f"events-{stamp}-{os.getpid()}.jsonl"
    with flocked(town.events.lock_path):
        path.replace(target)  # readers follow the inode change (EventFollower)
    old = sorted(folder.glob("events-*.jsonl"))
    for stale in old[: max(0, len(old) - keep)]:
        with contextlib.suppress(OSError):
            stale.unlink()
    msg = f"events.jsonl rotated at {size} bytes to {target.name}"
    town.events.append("dog.rotate", actor="deacon", msg=msg)
    return [msg]


def sweep(town: Town) -> list[str]:
    actions = town.storage.sweep()
    for address in town.mail.inboxes():
        with contextlib.suppress(GtError):
            moved = town.mail.archive_read(address)
            if moved:
                actions.append(f"archived {moved} read messages of {address}")
    return actions
