"""A polecat's git worktree: made fresh from the rig's main branch, or an idle polecat's
reused, on `polecat/<name>/<bead>`. Used by sling (dispatch/sling/start.py) and the refinery
(supervise/refinery.py), which share the lock around the repository's worktree list."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import TYPE_CHECKING

from gastown_tui.town import git as gitcmd
from gastown_tui.town.errors import GtError, GtFailure
from gastown_tui.town.storage.files import flocked
from gastown_tui.town.work import commit_all, is_git_worktree

if TYPE_CHECKING:
    import subprocess

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
    pending = begin_worktree(town, rig, polecat, bead)
    if pending is not None:
        return pending.wait()
    folder = worktree_folder(town, rig, polecat)
    if not rig.git:
        folder.mkdir(parents=True, exist_ok=True)  # a plain-directory rig: a work folder
        return folder, None
    repo = Path(rig.path)
    branch = branch_name(polecat.name, bead.id)
    main = rig.branch or "main"
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


def worktree_folder(town: Town, rig: Rig, polecat: Polecat) -> Path:
    """Where the polecat works: its recorded worktree, else its folder in the rig."""
    return Path(polecat.worktree or town.paths.polecat_dir(rig.name, polecat.name))


def begin_worktree(town: Town, rig: Rig, polecat: Polecat, bead: Bead) -> PendingWorktree | None:
    """Start making the polecat's worktree when it is a fresh one (`git worktree add`, most
    of a sling's own time), and return at once: the caller works on meanwhile and then
    `wait`s. None when there is nothing to add (a plain-directory rig, or the polecat's
    worktree exists): prepare_worktree does those."""
    folder = worktree_folder(town, rig, polecat)
    if not rig.git or is_git_worktree(folder):
        return None
    if folder.exists():
        # Not a worktree (a worktree add killed half-way, or a stray folder): never delete
        # files; an empty folder goes, anything else is moved aside.
        try:
            folder.rmdir()
        except OSError:
            aside = folder.with_name(f"{folder.name}.orphan-{int(time.time())}")
            folder.rename(aside)
    folder.parent.mkdir(parents=True, exist_ok=True)
    return PendingWorktree(town, rig, folder, branch_name(polecat.name, bead.id))


class PendingWorktree:
    """A `git worktree add` under way. The repository's worktree lock is held from the start
    until `wait` returns (or `abandon`), and only in the thread that began it."""

    def __init__(self, town: Town, rig: Rig, folder: Path, branch: str) -> None:
        self.folder = folder
        self.branch = branch
        self._repo = Path(rig.path)
        self._main = rig.branch or "main"
        self._lock = contextlib.ExitStack()
        self._lock.enter_context(flocked(worktree_lock(town, rig.name)))
        try:
            self._args = self._add_args()
            self._proc: subprocess.Popen[str] | None = gitcmd.start_git(self._args, self._repo)
        except BaseException:
            self._lock.close()
            raise

    def _add_args(self) -> list[str]:
        if branch_exists(self._repo, self.branch):
            return ["worktree", "add", "-q", str(self.folder), self.branch]
        return ["worktree", "add", "-q", "-b", self.branch, str(self.folder), self._main]

    def wait(self) -> tuple[Path, str]:
        """The worktree and its branch, once made; GtFailure when git could not."""
        try:
            for attempt in range(2):
                if self._proc is None:
                    self._args = self._add_args()
                    self._proc = gitcmd.start_git(self._args, self._repo)
                proc = gitcmd.finish_git(self._proc, self._args, check=False)
                self._proc = None
                if proc.returncode == 0:
                    return self.folder, self.branch
                if attempt == 0:
                    # A worktree still registered for a folder that is gone (a kill earlier).
                    gitcmd.git(["worktree", "prune"], cwd=self._repo, check=False)
                    continue
                detail = (proc.stderr or proc.stdout).strip().splitlines()
                raise GtFailure(
                    f"could not create the worktree {self.folder}: {detail[-1] if detail else '?'}"
                )
            raise AssertionError("unreachable")
        finally:
            self._lock.close()

    def abandon(self) -> None:
        """The sling stopped before it needed the worktree: let git finish (a worktree half
        written is worse than one unused; worktrees stay, as in a rollback), then let go."""
        try:
            if self._proc is not None:
                with contextlib.suppress(GtError):
                    gitcmd.finish_git(self._proc, self._args, check=False)
                self._proc = None
        finally:
            self._lock.close()
