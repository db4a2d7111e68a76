"""The codex and gemini presets against the real Codex CLI and Gemini CLI (pinned in
tests/agent_clis.py), each pointed at its scripted API server (tests/model_servers.py: the
Responses API, the Gemini API) through town.toml: the whole loop with the program's own shell
tool (`exec_command`, `run_shell_command`), nudges idle and mid-turn, a kill -9 restarted on the
same hook with the program's own conversation, and each program's folder-trust screen."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import pytest

from gastown_tui.supervise.witness import Witness
from tests.model_servers import idle_script, say, shell
from tests.polecat_fixtures import git_out, wait_until
from tests.realcli import (
    RealRig,
    answer_until_closed,
    codex_home,
    gemini_home,
    save_sample,
    usage_by_bead,
)

pytest_plugins = ["tests.polecat_fixtures", "tests.realcli"]
pytestmark = [pytest.mark.realcli, pytest.mark.tmux]


@dataclass(frozen=True)
class Facts:
    """What differs between the programs, as their screens and APIs show it."""

    tool_output: str  # how a shell tool's output goes back to the model
    idle: tuple[str, ...]  # any of these shows the idle prompt
    busy: str  # the mid-turn line
    history: str  # the request key that carries the conversation
    input_tokens: int  # per call, as the scripted server reports usage
    output_tokens: int


FACTS = {
    "codex": Facts(
        "function_call_output", ("Ask Codex", "›"), "esc to interrupt", "input", 1000, 30
    ),
    "gemini": Facts(
        "functionResponse", ("Type your message",), "esc to cancel", "contents", 2000, 25
    ),
}


@pytest.fixture(params=sorted(FACTS))
def program(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_the_whole_loop_prime_commit_done(rig: RealRig) -> None:
    bead, address = rig.sling("Say hello in a file")
    rig.wait_seen(f"assigned {bead}", timeout=45, address=address)
    wait_until(
        lambda: rig.town.beads.get(bead).status == "closed",
        timeout=60,
        what=f"gt done to close {bead}",
    )
    # `gt prime`'s text went back to the model as the output of its own shell tool.
    assert rig.server.seen(FACTS[rig.program].tool_output)
    assert rig.server.seen(f"You are {address}"), "gt prime ran with the window's PATH"
    polecat = rig.town.polecats.get(address)
    worktree = Path(polecat.worktree or "")
    assert git_out(worktree, "log", "-1", "--format=%s", polecat.branch or "HEAD") == (
        "add hello.txt"
    )
    assert git_out(worktree, "show", f"{polecat.branch}:hello.txt") == (
        "hello from the real program"
    )
    # Tokens from the program's own transcript, on this bead (town/transcripts.py).
    usage = wait_until(lambda: usage_by_bead(rig, bead), what="usage on the bead")
    assert usage["calls"] >= 4
    assert usage["input_tokens"] == FACTS[rig.program].input_tokens * usage["calls"]
    assert usage["output_tokens"] == FACTS[rig.program].output_tokens * usage["calls"]
    save_sample(rig)


@pytest.mark.parametrize("script", [idle_script()])
def test_nudges_idle_and_mid_turn_reach_the_model_and_kill_9_restarts_on_the_same_hook(
    rig: RealRig,
) -> None:
    bead, address = rig.sling("Wait for a nudge, then survive a kill -9")
    rig.wait_pane(address, "MARKER-BEFORE-KILL", timeout=45)
    facts = FACTS[rig.program]
    wait_until(lambda: any(t in rig.pane(address) for t in facts.idle), what="the idle prompt")
    out = rig.gt("nudge", address, "NUDGE-IDLE-1: reply please")
    assert out.returncode == 0, out.stderr + out.stdout
    rig.wait_seen("NUDGE-IDLE-1", timeout=30, address=address)
    # Its answer to that nudge is a turn too: a nudge during it would be queued (rightly).
    wait_until(lambda: facts.busy not in rig.pane(address), what="that turn to end")

    # Mid-turn: the server holds its answer; the town sees the real busy line and queues the
    # nudge; the witness types it in once the turn is over.
    hold = threading.Event()
    rig.server.add(shell("true", hold=hold), say("slow turn over"))
    out = rig.gt("nudge", address, "NUDGE-START-SLOW")
    assert out.returncode == 0 and "queued" not in out.stdout, out.stderr + out.stdout
    wait_until(lambda: facts.busy in rig.pane(address), timeout=30, what="the busy line")
    out = rig.gt("nudge", address, "NUDGE-BUSY-2: while you work")
    assert out.returncode == 0, out.stderr
    assert "queued" in out.stdout, out.stdout
    hold.set()
    rig.wait_pane(address, "slow turn over")
    wait_until(lambda: facts.busy not in rig.pane(address), what="the turn to end")
    Witness(rig.town, rig.tmux, "alpha").patrol()
    rig.wait_seen("NUDGE-BUSY-2", timeout=30, address=address)

    again = rig.kill_9_and_restart(address, bead, timeout=45)
    # Resumed with its own conversation (codex resume --last, gemini --resume latest): the
    # earlier turn is in the restarted program's first request.
    assert "MARKER-BEFORE-KILL" in str(again.get(facts.history)), rig.pane(address)


@pytest.mark.parametrize("program", ["codex"])
def test_codex_in_a_fresh_rig_waits_at_folder_trust_then_completes(rig: RealRig) -> None:
    codex_home(rig.home, rig.server.url, [])  # nothing trusted yet
    bead, address = rig.sling("Say hello in a file")
    questions = answer_until_closed(rig, address, bead, {r"Trust this folder": "1"})
    assert any("Trust this folder?" in q for q in questions), questions


@pytest.mark.parametrize("program", ["gemini"])
def test_gemini_in_an_untrusted_folder_waits_at_trust_then_completes(rig: RealRig) -> None:
    """Folder trust on, the rig not trusted: Gemini CLI 0.61 runs the prompt while its trust
    dialog is up (in an untrusted folder it ignores --yolo, so a command may wait at `Allow
    execution of [Shell]?` first); trusting restarts it, and the work completes."""
    gemini_home(rig.home, [], folder_trust=True)
    bead, address = rig.sling("Say hello in a file")
    questions = answer_until_closed(
        rig,
        address,
        bead,
        {r"Allow": "1", r"trust": "1", r"question on its screen": "1"},
        timeout=120,
    )
    assert any("Do you trust the files in this folder?" in q for q in questions), questions
