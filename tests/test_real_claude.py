"""The claude preset against the real Claude Code (pinned in tests/agent_clis.py), pointed at a
scripted Messages API server (tests/model_servers.py) through town.toml: the whole loop, nudges,
a kill -9 restarted with its own conversation."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from gastown_tui.supervise.witness import Witness
from gastown_tui.tmux import TownTmux
from gastown_tui.town.town import Town
from tests.model_servers import Turn, loop_script, say, shell
from tests.polecat_fixtures import git_out, wait_until
from tests.realcli import RealRig, make_real_rig, no_leaks, require_program

pytest_plugins = ["tests.polecat_fixtures", "tests.realcli"]
pytestmark = [pytest.mark.realcli, pytest.mark.tmux]


@pytest.fixture
def claude_exe(agent_clis_bin: Path | str) -> Path:
    return require_program(agent_clis_bin, "claude")


@pytest.fixture
def script() -> list[Turn]:
    return loop_script()


@pytest.fixture
def rig(
    claude_exe: Path,
    rig_town: Town,
    tmux: TownTmux,
    tmp_path: Path,
    script: list[Turn],
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[RealRig]:
    no_leaks(monkeypatch)
    yield from make_real_rig("claude", claude_exe, rig_town, tmux, tmp_path, script)


def test_the_whole_loop_prime_commit_done(rig: RealRig) -> None:
    bead, address = rig.sling("Say hello in a file")
    # The beacon is the first prompt, and the SessionStart hook's `gt prime` reached the model.
    rig.wait_seen(f"assigned {bead}", timeout=30, address=address)
    first = rig.server.main_requests()[0].body
    assert "SessionStart" in str(first["messages"]), "the gt prime hook ran at start"
    assert bead in str(first["messages"])
    wait_until(
        lambda: rig.town.beads.get(bead).status == "closed",
        timeout=60,
        what=f"gt done to close {bead}",
    )
    # The program ran every scripted command with its own Bash tool; the results came back.
    tools = [r.body for r in rig.server.main_requests()]
    results = str(tools[-1]["messages"])
    assert "tool_result" in results
    polecat = rig.town.polecats.get(address)
    worktree = Path(polecat.worktree or "")
    log = git_out(worktree, "log", "-1", "--format=%s", polecat.branch or "HEAD")
    assert log == "add hello.txt"
    shown = git_out(worktree, "show", f"{polecat.branch}:hello.txt")
    assert shown == "hello from the real program"
