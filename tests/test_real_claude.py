"""The claude preset against the real Claude Code (pinned in tests/agent_clis.py), pointed at a
scripted Messages API server (tests/model_servers.py) through town.toml: the whole loop, nudges,
a kill -9 restarted with its own conversation."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from gastown_tui.supervise.witness import Witness
from gastown_tui.tmux import TownTmux
from gastown_tui.town.town import Town
from tests.model_servers import Turn, loop_script, say, shell
from tests.polecat_fixtures import git_out, wait_until
from tests.realcli import (
    RealRig,
    make_real_rig,
    require_program,
    save_sample,
    usage_by_bead,
)

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
    yield from make_real_rig("claude", claude_exe, rig_town, tmux, tmp_path, script, monkeypatch)


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
    # Tokens from the program's own transcript, on this bead (town/transcripts.py).
    usage = wait_until(lambda: usage_by_bead(rig, bead), what="usage on the bead")
    assert usage["calls"] >= 4
    assert usage["input_tokens"] == 1200 * usage["calls"]
    assert usage["output_tokens"] == 40 * usage["calls"]
    save_sample(rig)


def idle_script() -> list[Turn]:
    return [shell("gt prime"), say("Primed. MARKER-BEFORE-KILL: waiting for word.")]


@pytest.mark.parametrize("script", [idle_script()])
def test_nudges_reach_the_model_idle_and_mid_turn(rig: RealRig) -> None:
    bead, address = rig.sling("Wait for nudges")
    rig.wait_pane(address, "MARKER-BEFORE-KILL")
    wait_until(lambda: "esc to interrupt" not in rig.pane(address), what="the turn to end")
    out = rig.gt("nudge", address, "NUDGE-IDLE-1: reply please")
    assert out.returncode == 0, out.stderr
    rig.wait_seen("NUDGE-IDLE-1", timeout=30, address=address)

    # A slow turn: the server holds its answer, the program is mid-turn.
    hold = threading.Event()
    rig.server.add(shell("true", hold=hold), say("slow turn over"))
    out = rig.gt("nudge", address, "NUDGE-START-SLOW")
    assert out.returncode == 0, out.stderr
    wait_until(lambda: "esc to" in rig.pane(address), timeout=30, what="the busy spinner")
    out = rig.gt("nudge", address, "NUDGE-BUSY-2: while you work")
    assert out.returncode == 0, out.stderr
    assert "queued" in out.stdout, "busy (the real spinner) is seen: the town queues it"
    hold.set()
    rig.wait_pane(address, "slow turn over")
    wait_until(lambda: "esc to" not in rig.pane(address), what="the turn to end")
    # The witness types queued nudges in once the agent is idle.
    Witness(rig.town, rig.tmux, "alpha").patrol()
    rig.wait_seen("NUDGE-BUSY-2", timeout=30, address=address)
    assert rig.town.beads.get(bead).status == "hooked"


@pytest.mark.parametrize("script", [idle_script()])
def test_kill_9_restarts_on_the_same_hook_and_continues_the_conversation(
    rig: RealRig,
) -> None:
    bead, address = rig.sling("Survive a kill -9")
    rig.wait_pane(address, "MARKER-BEFORE-KILL")
    before = len(rig.server.main_requests())
    name = address.split("/", 1)[1]
    info = rig.tmux.find_window("gt-alpha", name)
    assert info is not None and info.pane_pid
    os.kill(info.pane_pid, signal.SIGKILL)
    wait_until(
        lambda: (w := rig.tmux.find_window("gt-alpha", name)) is not None and w.pane_dead,
        what="the pane to die",
    )
    rig.server.add(shell("gt hook"), say("Back after the restart."))
    actions = Witness(rig.town, rig.tmux, "alpha").patrol()
    assert any("restarted" in a and bead in a for a in actions), actions
    wait_until(
        lambda: len(rig.server.main_requests()) > before,
        timeout=30,
        what="the restarted program's first request",
    )
    again = rig.server.main_requests()[before].body
    assert rig.town.polecats.hooked(address).id == bead, "the same hook"
    # Resumed with its own conversation (claude --continue): the earlier turn is in it.
    assert "MARKER-BEFORE-KILL" in str(again["messages"]), rig.pane(address)
