"""Thin wrappers over the git command line. Errors become GtFailure with git's own words."""

from __future__ import annotations

import os
from pathlib import Path

from gastown_tui.town.errors import GtError, GtFailure

TYPE_CHECKING = False  # typing's import is ~2 ms of every gt call (tests/test_cli_cheap.py)
if TYPE_CHECKING:
    import subprocess

GIT_TIMEOUT = 300.0


def git_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("GIT_TERMINAL_PROMPT", "0")
    env.pop("GIT_DIR", None)
    env.pop("GIT_WORK_TREE", None)
    env.pop("GIT_INDEX_FILE", None)
    return env


def git(
    args: list[str],
    cwd: Path | None = None,
    *,
    check: bool = True,
    timeout: float = GIT_TIMEOUT,
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    proc = start_git(args, cwd, with_input=input is not None)
    return finish_git(proc, args, check=check, timeout=timeout, input=input)


def start_git(
    args: list[str], cwd: Path | None = None, *, with_input: bool = False
) -> subprocess.Popen[str]:
    """Start `git args`; `finish_git` waits for it. Meanwhile the caller may do other work
    (a sling writes its records while `git worktree add` runs: town/worktrees.py)."""
    import subprocess  # here: `gt prime` and `gt hook` import this module but run no git

    try:
        return subprocess.Popen(
            ["git", *args],
            cwd=cwd,
            stdin=subprocess.PIPE if with_input else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=git_env(),
        )
    except FileNotFoundError:
        raise GtError("git is not installed", hint="install git and retry") from None


def finish_git(
    proc: subprocess.Popen[str],
    args: list[str],
    *,
    check: bool = True,
    timeout: float = GIT_TIMEOUT,
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Wait for a `start_git` process: its output, or GtFailure when it failed (`check`)."""
    import subprocess

    try:
        stdout, stderr = proc.communicate(input, timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise GtFailure(f"`git {' '.join(args)}` timed out after {timeout:.0f}s") from None
    if check and proc.returncode != 0:
        detail = (stderr or stdout).strip().splitlines()
        last = detail[-1] if detail else f"exit status {proc.returncode}"
        raise GtFailure(f"`git {' '.join(args[:3])}` failed: {last}")
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


def is_repo(path: Path) -> bool:
    proc = git(["rev-parse", "--git-dir"], cwd=path, check=False)
    return proc.returncode == 0


def head_commit(path: Path, ref: str = "HEAD") -> str | None:
    proc = git(["rev-parse", "--verify", "--quiet", ref + "^{commit}"], cwd=path, check=False)
    return proc.stdout.strip() or None if proc.returncode == 0 else None


def current_branch(path: Path) -> str | None:
    proc = git(["symbolic-ref", "--quiet", "--short", "HEAD"], cwd=path, check=False)
    return proc.stdout.strip() or None if proc.returncode == 0 else None


def is_dirty(path: Path) -> bool:
    proc = git(["status", "--porcelain", "--untracked-files=all"], cwd=path)
    return bool(proc.stdout.strip())


def looks_like_url(source: str) -> bool:
    return (
        "://" in source
        or source.startswith("git@")
        or (":" in source and not source.startswith("/") and "@" in source.split(":", 1)[0])
    )


def explain_failure(proc: subprocess.CompletedProcess[str]) -> tuple[str, str]:
    """(kind, what git said) for a failed git command that is not a conflict: "identity" (no
    user.name / user.email), "hook" (a hook refused), or "git" (anything else)."""
    text = (proc.stderr or "") + (proc.stdout or "")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    lowered = text.lower()
    if (
        "please tell me who you are" in lowered
        or "unable to auto-detect email address" in lowered
        or "empty ident name" in lowered
    ):
        return (
            "identity",
            "git has no identity to commit with (user.name and user.email are not set): "
            'git config --global user.name "Refinery"; '
            "git config --global user.email refinery@localhost",
        )
    hook = next((line for line in lines if "hook" in line.lower()), None)
    if hook is not None:
        return "hook", f"a git hook refused: {hook}"
    last = next(
        (line for line in reversed(lines) if not line.lower().startswith("hint:")),
        f"exit status {proc.returncode}",
    )
    return "git", f"git said: {last}"
