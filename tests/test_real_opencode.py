"""The opencode preset against the real opencode (opencode-ai from npm, pinned in
tests/agent_clis.py), pointed at a scripted Chat Completions server with tools
(tests/model_servers.py ToolChatServer) through a custom provider in its throwaway config: the
whole loop with its own `bash` tool, nudges idle and mid-turn, a kill -9 restarted on the same
hook from the beacon, and its permission question seen as waiting."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from gastown_tui.supervise.witness import Witness
from tests.model_servers import idle_script, say, shell
from tests.polecat_fixtures import git_out, wait_until
from tests.realcli import (
    RealRig,
    opencode_home,
    polecat_row,
    write_runtime,
)

pytest_plugins = ["tests.polecat_fixtures", "tests.realcli"]


pytestmark = [pytest.mark.realcli, pytest.mark.tmux]
PROGRAM = "opencode"


@pytest.fixture
def program() -> str:
    return PROGRAM


BUSY = "esc interrupt"  # its footer mid-turn (1.18)


def no_internet(rig: RealRig) -> None:
    """Everything it fetched came to the scripted server: its background npm install of
    @opencode-ai/plugin asked the server (as `npm_config_registry`), nothing else went out."""
    paths = [r.path for r in rig.server.log]
    assert all(p.startswith(("/v1/", "/npm/")) for p in paths), paths


def test_the_whole_loop_prime_commit_done(rig: RealRig) -> None:
    bead, address = rig.sling("Say hello in a file")
    rig.wait_seen(f"assigned {bead}", timeout=60, address=address)
    wait_until(
        lambda: rig.town.beads.get(bead).status == "closed",
        timeout=90,
        what=f"gt done to close {bead}",
    )
    # `gt prime`'s text went back to the model as the result of its bash tool call.
    assert rig.server.seen('"role": "tool"')
    assert rig.server.seen(f"You are {address}"), "gt prime ran with the window's PATH"
    polecat = rig.town.polecats.get(address)
    worktree = Path(polecat.worktree or "")
    assert git_out(worktree, "log", "-1", "--format=%s", polecat.branch or "HEAD") == (
        "add hello.txt"
    )
    assert git_out(worktree, "show", f"{polecat.branch}:hello.txt") == (
        "hello from the real program"
    )
    no_internet(rig)


@pytest.mark.parametrize("script", [idle_script()])
def test_nudges_idle_and_mid_turn_reach_the_model_and_kill_9_restarts_on_the_same_hook(
    rig: RealRig,
) -> None:
    bead, address = rig.sling("Wait for a nudge, then survive a kill -9")
    rig.wait_pane(address, "MARKER-BEFORE-KILL", timeout=60)
    wait_until(lambda: BUSY not in rig.pane(address), what="the turn to end")
    out = rig.gt("nudge", address, "NUDGE-IDLE-1: reply please")
    assert out.returncode == 0, out.stderr + out.stdout
    rig.wait_seen("NUDGE-IDLE-1", timeout=30, address=address)
    rig.wait_pane(address, "nothing more to do")
    wait_until(lambda: BUSY not in rig.pane(address), what="the turn to end")

    # Mid-turn: the server holds its answer; the town sees the real busy footer and queues
    # the nudge; the witness types it in once the turn is over.
    hold = threading.Event()
    rig.server.add(shell("true", hold=hold), say("slow turn over"))
    out = rig.gt("nudge", address, "NUDGE-START-SLOW")
    assert out.returncode == 0 and "queued" not in out.stdout, out.stderr + out.stdout
    rig.wait_seen("NUDGE-START-SLOW", timeout=30, address=address)
    wait_until(lambda: BUSY in rig.pane(address), timeout=30, what="the busy footer")
    out = rig.gt("nudge", address, "NUDGE-BUSY-2: while you work")
    assert out.returncode == 0, out.stderr
    assert "queued" in out.stdout, out.stdout
    hold.set()
    rig.wait_pane(address, "slow turn over")
    wait_until(lambda: BUSY not in rig.pane(address), what="the turn to end")

    def patrolled_in() -> bool:
        # The witness patrols again and again: one patrol may still catch the turn's last frame.
        Witness(rig.town, rig.tmux, "alpha").patrol()
        return rig.server.seen("NUDGE-BUSY-2")

    try:
        wait_until(patrolled_in, timeout=30, what="the queued nudge typed in by the witness")
    except BaseException:
        info = rig.tmux.find_window("gt-alpha", address.split("/", 1)[1])
        print(f"--- current command {info and info.current_command}:\n{rig.pane(address)}")
        raise

    again = rig.kill_9_and_restart(address, bead, timeout=60)
    # A new session from the beacon (with --continue, opencode 1.18 drops --prompt).
    assert f"assigned {bead}" in str(again.get("messages")), rig.pane(address)
    no_internet(rig)


@pytest.mark.parametrize("script", [[shell("gt prime")]])
def test_without_auto_its_permission_question_shows_as_waiting(rig: RealRig) -> None:
    """Its own permission rules ask before a command: the town reads that screen as waiting.
    (Its choices sit side by side without numbers: `gt answer` cannot pick one yet.)"""
    opencode_home(rig.home, rig.server.url, permission={"bash": "ask"})
    write_runtime(rig.town, PROGRAM, [])  # the preset without --auto
    bead, address = rig.sling("Ask before running")
    rig.wait_pane(address, "Permission required", timeout=60)
    wait_until(lambda: polecat_row(rig, address).get("state") == "waiting", what="waiting")
    assert rig.town.beads.get(bead).status == "hooked"
