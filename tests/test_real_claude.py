"""The claude preset against the real Claude Code (pinned in tests/agent_clis.py), pointed at a
scripted Messages API server (tests/model_servers.py) through town.toml: the whole loop, nudges,
a kill -9 restarted with its own conversation."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from gastown_tui.supervise.witness import Witness
from tests.model_servers import idle_script, say, shell
from tests.polecat_fixtures import git_out, wait_until
from tests.realcli import (
    RealRig,
    answer_until_closed,
    claude_home,
    polecat_row,
    save_sample,
    usage_by_bead,
    write_runtime,
)

pytest_plugins = ["tests.polecat_fixtures", "tests.realcli"]


pytestmark = [pytest.mark.realcli, pytest.mark.tmux]


@pytest.fixture
def program() -> str:
    return "claude"


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


@pytest.mark.parametrize("script", [idle_script()])
def test_nudges_reach_the_model_idle_and_mid_turn(rig: RealRig) -> None:
    bead, address = rig.sling("Wait for nudges")
    rig.wait_pane(address, "MARKER-BEFORE-KILL")
    wait_until(lambda: "esc to interrupt" not in rig.pane(address), what="the turn to end")
    out = rig.gt("nudge", address, "NUDGE-IDLE-1: reply please")
    assert out.returncode == 0, out.stderr
    rig.wait_seen("NUDGE-IDLE-1", timeout=30, address=address)
    # Its answer to that nudge is a turn too: a nudge during it would be queued (rightly).
    wait_until(lambda: "esc to interrupt" not in rig.pane(address), what="that turn to end")

    # A slow turn: the server holds its answer, the program is mid-turn.
    hold = threading.Event()
    rig.server.add(shell("true", hold=hold), say("slow turn over"))
    out = rig.gt("nudge", address, "NUDGE-START-SLOW")
    assert out.returncode == 0 and "queued" not in out.stdout, out.stderr + out.stdout
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
    # What --continue can resume is what Claude Code wrote to its transcript before the kill.
    wait_until(
        lambda: any(
            "MARKER-BEFORE-KILL" in p.read_text()
            for p in rig.home.glob(".claude/projects/*/*.jsonl")
        ),
        what="the turn in Claude Code's transcript",
    )
    again = rig.kill_9_and_restart(
        address,
        bead,
        timeout=30,
        before_patrol=lambda: rig.server.add(shell("gt hook"), say("Back after the restart.")),
    )
    # Resumed with its own conversation (claude --continue): the earlier turn is in it.
    assert "MARKER-BEFORE-KILL" in str(again["messages"]), rig.pane(address)


@pytest.fixture
def new_user(rig: RealRig) -> RealRig:
    """A HOME that has done the theme but never approved this key, trusted this folder or
    accepted the bypass mode: each start-up question comes up in a fresh rig."""
    claude_home(rig.home, [], approved_key=False, bypass_accepted=False)
    return rig


def test_a_new_users_first_sling_waits_at_each_question_then_completes(new_user: RealRig) -> None:
    rig = new_user
    bead, address = rig.sling("Say hello in a file")
    questions = answer_until_closed(
        rig,
        address,
        bead,
        {
            r"API key": "1",  # Yes: use it
            r"trust": "1",  # Yes, I trust this folder
            r"Bypass Permissions": "2",  # Yes, I accept
        },
    )
    assert any("API key" in q for q in questions), questions
    assert any("trust" in q for q in questions), questions
    assert any("Bypass Permissions" in q for q in questions), questions
    rig.wait_seen(f"assigned {bead}", timeout=10, address=address)


@pytest.mark.skipif(os.geteuid() != 0, reason="claude refuses the bypass only as root")
def test_as_root_without_is_sandbox_the_sling_fails_before_the_hook(rig: RealRig) -> None:
    toml = rig.town.paths.town_toml
    toml.write_text(toml.read_text().replace('IS_SANDBOX = "1"\n', ""))
    rig.town.__dict__.pop("config", None)
    bead = rig.town.beads.create("Never started as root", rig="alpha")
    out = rig.gt("sling", bead.id, "alpha", "--agent", "claude")
    assert out.returncode in (1, 2), out.stdout  # refused, with the fix in the message
    assert "IS_SANDBOX" in out.stderr and "root" in out.stderr, out.stderr
    assert rig.town.beads.get(bead.id).status == "open", "nothing hooked"
    assert rig.server.log == [], "the program never reached the model"


def test_without_bypass_each_bash_prompt_waits_a_nudge_refuses_and_gt_answer_approves(
    rig: RealRig,
) -> None:
    write_runtime(rig.town, "claude", [])  # the preset without --dangerously-skip-permissions
    bead, address = rig.sling("Say hello in a file")
    wait_until(
        lambda: polecat_row(rig, address).get("state") == "waiting",
        timeout=45,
        what="the first Bash permission prompt",
    )
    prompt = polecat_row(rig, address)["waiting_for"]
    assert prompt["question"] == "Do you want to proceed?", prompt
    assert [c["key"] for c in prompt["choices"]][:3] == ["1", "2", "3"], prompt
    # A nudge never answers a prompt by accident: refused, nothing typed.
    out = rig.gt("nudge", address, "1")
    assert out.returncode == 1, out.stdout + out.stderr
    assert "waiting at" in out.stderr and "gt answer" in out.stderr, out.stderr
    questions = answer_until_closed(rig, address, bead, {r"Do you want to proceed": "1"})
    assert len(questions) >= 3, questions  # every command but the read-only ones asked


def test_its_notification_and_stop_hooks_signal_the_town(rig: RealRig) -> None:
    """The Notification and Stop hooks installed beside SessionStart (runtimes/presets.py)
    run `gt signal` (commands/signal.py): the real program tells the town it waits at a
    permission prompt, and that its turn ended, without anyone reading its screen."""
    from gastown_tui.town.signals import read_all

    write_runtime(rig.town, "claude", [])  # without the bypass: every Bash command asks
    bead, address = rig.sling("Say hello in a file")
    signal = wait_until(
        lambda: (s := read_all(rig.town.paths.runtime).get(address)) and s.kind == "waiting" and s,
        timeout=60,
        what="the Notification hook's gt signal waiting",
    )
    assert "permission" in signal.message.lower(), signal
    assert polecat_row(rig, address).get("state") == "waiting"
    answer_until_closed(rig, address, bead, {r"Do you want to proceed": "1"})
    wait_until(
        lambda: (s := read_all(rig.town.paths.runtime).get(address)) and s.kind == "turn-ended",
        timeout=60,
        what="the Stop hook's gt signal turn-ended",
    )
