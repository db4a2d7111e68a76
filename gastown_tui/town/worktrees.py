"""A polecat's git worktree: made fresh from the rig's main branch, or an idle polecat's
reused, on `polecat/<name>/<bead>`. Used by sling (dispatch/sling/start.py) and the refinery
(supervise/refinery.py), which share the lock around the repository's worktree list."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from gastown_tui.town import git as gitcmd
from gastown_tui.town.errors import GtFailure
from gastown_tui.town.storage.files import flocked
from gastown_tui.town.work import commit_all, is_git_worktree

if TYPE_CHECKING:
    from gastown_tui.town.models import Bead, Rig
    from gastown_tui.town.polecats import Polecat
    from gastown_tui.town.town import Town


def branch_name(polecat: str, bead_id: str) -> str:
    return f"polecat/{polecat}/{bead_id}"


def branch_exists(repo: Path, branch: str) -> bool:
    ref = f"refs/heads/{branch}"
    known = _ref_in_files(repo, ref)
    if known is not None:
        return known
    proc = gitcmd.git(["show-ref", "--verify", "--quiet", ref], cwd=repo, check=False)
    return proc.returncode == 0


def _ref_in_files(repo: Path, ref: str) -> bool | None:
    """Whether `ref` exists, read off git's files ref store as git does (a loose file under
    .git, else a line of packed-refs), without a ~4 ms git process for every sling; None when
    the repository is not laid out that way (a worktree or gitfile, another ref store)."""
    git_dir = repo / ".git"
    try:
        if not git_dir.is_dir() or "refstorage" in (git_dir / "config").read_text().lower():
            return None
        if (git_dir / ref).is_file():
            return True
        packed = git_dir / "packed-refs"
        if not packed.exists():
            return False
        with packed.open("rb") as handle:
            wanted = b" " + ref.encode() + b"\n"
            return any(line.endswith(wanted) for line in handle if not line.startswith(b"^"))
    except (OSError, UnicodeDecodeError):
        return None


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
            if branch_exists(repo, branch):
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
            if branch_exists(repo, branch):
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
