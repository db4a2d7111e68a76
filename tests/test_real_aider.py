"""The aider preset against the real aider (aider-chat from PyPI, pinned in tests/agent_clis.py),
pointed at a scripted OpenAI Chat Completions server (tests/model_servers.py) through
town.toml: the beacon typed in once it is ready, its edit committed on the polecat's branch."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.model_servers import Turn, say, shell
from tests.polecat_fixtures import git_out, wait_until
from tests.realcli import RealRig

pytest_plugins = ["tests.polecat_fixtures", "tests.realcli"]


pytestmark = [pytest.mark.realcli, pytest.mark.tmux]
PROGRAM = "aider"


@pytest.fixture
def program() -> str:
    return PROGRAM


# aider has no shell tool: it applies edits written in its "whole" format (the default for an
# unknown model) and offers to run the commands of ```bash blocks.
EDIT = "hello.txt\n```\nhello from aider\n```\n"


@pytest.fixture
def script() -> list[Turn]:
    return [say(EDIT), shell("gt done")]


def test_the_beacon_reaches_the_model_and_the_edit_is_committed(rig: RealRig) -> None:
    bead, address = rig.sling("Say hello in a file")
    rig.wait_seen(f"assigned {bead}", timeout=60, address=address)
    polecat = rig.town.polecats.get(address)
    worktree = Path(polecat.worktree or "")
    wait_until(
        lambda: "hello.txt" in git_out(worktree, "ls-tree", "--name-only", "HEAD"),
        timeout=60,
        what="aider's commit of hello.txt",
    )
    assert git_out(worktree, "show", "HEAD:hello.txt") == "hello from aider"

    # aider under --yes-always answers "no" to every shell command the model proposes
    # (aider/coders/base_coder.py: explicit_yes_required), so `gt done` never runs.
    out = rig.gt("nudge", address, "Now run gt done")
    assert out.returncode == 0, out.stderr + out.stdout
    rig.wait_pane(address, "gt done", timeout=60)
    wait_until(lambda: rig.server.remaining() == 0, what="the scripted turns")
    assert rig.town.beads.get(bead).status == "hooked", "aider did not run gt done"
