"""Shared fixtures: throwaway towns, real git repositories, the `gt` CLI as a real process."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

# Helper modules that test modules import directly: have pytest rewrite their asserts too.
pytest.register_assert_rewrite(
    "tests.polecat_fixtures",
    "tests.mail_fixtures",
    "tests.tui_fixtures",
    "tests.tmux_helpers",
    "tests.realcli",
)

from gastown_tui.town.town import Town  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
# A copy of ../shared/data/gastown-beads (MIT, see its LICENSE): real beads of the Gas Town project.
BEADS_DATA = ROOT / "tests" / "data" / "gastown-beads"

GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "Gas Town Tests",
    "GIT_AUTHOR_EMAIL": "tests@gastown.invalid",
    "GIT_COMMITTER_NAME": "Gas Town Tests",
    "GIT_COMMITTER_EMAIL": "tests@gastown.invalid",
}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never see the developer's town, agent identity or tmux session."""
    for name in ("GT_TOWN", "GT_AGENT", "GT_RIG", "GT_ROLE", "GT_BEAD", "TMUX", "TMUX_PANE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in GIT_IDENTITY.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")


def make_git_repo(path: Path, files: dict[str, str] | None = None, branch: str = "main") -> Path:
    path.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **GIT_IDENTITY}
    subprocess.run(["git", "init", "-q", "-b", branch, str(path)], check=True, env=env)
    for name, text in (files or {"README.md": "# project\n"}).items():
        target = path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    subprocess.run(["git", "add", "-A"], cwd=path, check=True, env=env)
    subprocess.run(["git", "commit", "-q", "-m", "initial commit"], cwd=path, check=True, env=env)
    return path


@pytest.fixture
def git_repo(tmp_path: Path) -> Path:
    return make_git_repo(tmp_path / "upstream")


@pytest.fixture
def town(tmp_path: Path) -> Town:
    return Town.init(tmp_path / "town", name="testtown")


@pytest.fixture
def rig_town(town: Town, git_repo: Path) -> Town:
    """A town with one git rig, `alpha` (prefix `al`)."""
    town.rigs.add("alpha", str(git_repo), prefix="al")
    return town


GtRunner = Callable[..., subprocess.CompletedProcess[str]]
T = TypeVar("T")


def run_gt(
    town: Town,
    *args: str,
    agent: str | None = None,
    env: dict[str, str] | None = None,
    input: str | None = None,
    timeout: float = 60.0,
) -> subprocess.CompletedProcess[str]:
    """The real `gt` as a separate process on `town`; `agent` sets GT_AGENT (who calls)."""
    full = dict(os.environ)
    full["GT_TOWN"] = str(town.root)
    if agent is not None:
        full["GT_AGENT"] = agent
    full.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "gastown_tui", *args],
        capture_output=True,
        text=True,
        env=full,
        input=input,
        timeout=timeout,
        cwd=ROOT,
    )


@pytest.fixture
def gt(town: Town) -> Iterator[GtRunner]:
    """Run the real `gt` CLI as a separate process against the test town."""
    yield lambda *args, **kwargs: run_gt(town, *args, **kwargs)


def wait_until(probe: Callable[[], T], timeout: float = 10.0, what: str = "condition") -> T:
    """Poll `probe` until it returns something truthy; fail the test after `timeout`."""
    deadline = time.monotonic() + timeout
    pause = 0.005
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(pause)
        pause = min(pause * 2, 0.05)


def snapshot_files(root: Path) -> dict[str, bytes]:
    """Every file under the town except lock files and heartbeats: to prove nothing changed."""
    out: dict[str, bytes] = {}
    for path in sorted(root.rglob("*")):
        if not path.is_file():
            continue
        rel = path.relative_to(root).as_posix()
        if rel.startswith(".runtime/locks/") or rel.startswith(".runtime/heartbeats/"):
            continue
        out[rel] = path.read_bytes()
    return out
