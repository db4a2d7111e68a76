"""gt nudge / nudge_agent: into a real program reading its terminal in a real tmux window."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import orjson
import pytest

from gastown_tui.dispatch.nudge import (
    deliver_queued,
    install_mail_nudges,
    mail_nudge_text,
    nudge_agent,
)
from gastown_tui.dispatch.sling import sling
from gastown_tui.tmux import TownTmux
from gastown_tui.town.errors import GtError, GtFailure
from gastown_tui.town.town import Town
from gastown_tui.town.work import queue_nudge, queued_nudges
from tests import polecat_fixtures as pf
from tests.conftest import GtRunner, snapshot_files
from tests.polecat_fixtures import (
    add_runtime,
    assert_received,
    hook_without_window,
    received_lines,
    wait_until,
)
from tests.tmux_helpers import real_tmux

polecat_env, tmux, reader = pf.polecat_env, pf.tmux, pf.reader

pytestmark = pytest.mark.tmux


@pytest.fixture
def slung(rig_town: Town, tmux: TownTmux, reader: Path) -> str:
    """alpha/furiosa running the reader, READY shown. Returns its pane id."""
    bead = rig_town.beads.create("listen", rig="alpha")
    result = sling(rig_town, tmux, bead.id, "alpha", runtime="reader")
    wait_until(lambda: "READY" in tmux.capture(result.pane_id), what="the reader")
    return result.pane_id


@real_tmux
def test_gt_nudge_arrives_once_with_enter(
    rig_town: Town, slung: str, reader: Path, gt: GtRunner
) -> None:
    proc = gt("nudge", "furiosa", "check the oil; then the tyres")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("✓ nudged alpha/furiosa")
    assert_received(reader, ["check the oil; then the tyres"])
    proc = gt("nudge", "alpha/furiosa", "--stdin", input="second\n")
    assert proc.returncode == 0, proc.stderr
    assert_received(reader, ["check the oil; then the tyres", "second"])
    assert rig_town.events.read(types=["polecat.nudged"])


@real_tmux
def test_control_characters_are_sanitised(
    rig_town: Town, tmux: TownTmux, slung: str, reader: Path
) -> None:
    outcome = nudge_agent(rig_town, tmux, "furiosa", "red\x1b[31m alert\x07\nnow\x00")
    assert outcome.status == "delivered", outcome.detail
    assert_received(reader, ["red alert now"])


@real_tmux
def test_oversized_nudge_points_to_mail_and_changes_nothing(
    rig_town: Town, slung: str, reader: Path, gt: GtRunner
) -> None:
    before = snapshot_files(rig_town.root)
    proc = gt("nudge", "furiosa", "--stdin", input="x" * 50_000)
    assert proc.returncode == 2
    assert "gt mail send" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    proc = gt("nudge", "furiosa", "--queue", "--stdin", input="x" * 50_000)
    assert proc.returncode == 2
    assert snapshot_files(rig_town.root) == before
    assert received_lines(reader) == []


@real_tmux
def test_unknown_agent_is_exit_2(rig_town: Town, slung: str, gt: GtRunner) -> None:
    for agent in ("nobody", "alpha/nobody", "beta/furiosa"):
        proc = gt("nudge", agent, "hello")
        assert proc.returncode == 2 and "unknown agent" in proc.stderr, proc.stderr
    assert gt("peek", "nobody").returncode == 2
    assert gt("attach", "nobody").returncode == 2


@real_tmux
def test_nudge_to_a_dead_pane_fails_non_zero(
    rig_town: Town, tmux: TownTmux, slung: str, gt: GtRunner
) -> None:
    info = tmux.pane_info(slung)
    assert info is not None and info.pane_pid
    os.kill(info.pane_pid, signal.SIGKILL)
    wait_until(
        lambda: (p := tmux.pane_info(slung)) is not None and p.pane_dead and not p.exit_pending,
        what="death, and tmux to know its cause",
    )
    proc = gt("nudge", "furiosa", "are you there?")
    assert proc.returncode == 1
    assert "NOT delivered" in proc.stderr and "dead" in proc.stderr
    assert "was killed by SIGKILL" in proc.stderr, "it says how the agent ended"
    assert "✓" not in proc.stdout + proc.stderr
    tmux.kill_window("gt-alpha", "furiosa")
    proc = gt("nudge", "furiosa", "and now?")
    assert proc.returncode == 1 and "has no window" in proc.stderr


@real_tmux
def test_queue_then_deliver_oldest_first(
    rig_town: Town, tmux: TownTmux, slung: str, reader: Path, gt: GtRunner
) -> None:
    for text in ("first", "second", "third"):
        proc = gt("nudge", "furiosa", text, "--queue")
        assert proc.returncode == 0 and proc.stdout.startswith("queued for alpha/furiosa")
    folder = rig_town.paths.nudge_queue("alpha/furiosa")
    assert folder.name == "alpha~furiosa"
    files = sorted(folder.glob("*.json"))
    assert [orjson.loads(f.read_bytes())["text"] for f in files] == ["first", "second", "third"]
    assert received_lines(reader) == []
    assert deliver_queued(rig_town, tmux, "furiosa") == 3
    assert_received(reader, ["first", "second", "third"])
    assert queued_nudges(rig_town, "alpha/furiosa") == []
    assert deliver_queued(rig_town, tmux, "furiosa") == 0


# Busy (its runtime's busy text on screen) until a flag file appears; then it clears its
# screen and reads lines like the reader.
BUSYBODY = """\
import os, sys, time
sys.stdout.write("working... (BUSY esc to interrupt)\\n")
sys.stdout.flush()
while not os.path.exists(sys.argv[2]):
    time.sleep(0.02)
sys.stdout.write("\\x1b[2J\\x1b[HREADY\\n")
sys.stdout.flush()
out = open(sys.argv[1], "ab", buffering=0)
for line in sys.stdin.buffer:
    out.write(line)
"""


@real_tmux
def test_busy_agent_gets_the_nudge_queued(
    rig_town: Town, tmux: TownTmux, tmp_path: Path, reader: Path
) -> None:
    script = tmp_path / "busybody.py"
    script.write_text(BUSYBODY)
    flag = tmp_path / "not-busy-any-more"
    add_runtime(
        rig_town,
        "busybody",
        [sys.executable, str(script), str(reader), str(flag)],
        prompt="none",
        takes_prompts=True,
        busy=["esc to interrupt"],
    )
    bead = rig_town.beads.create("busy work", rig="alpha")
    result = sling(rig_town, tmux, bead.id, "alpha", runtime="busybody")
    wait_until(lambda: "BUSY" in tmux.capture(result.pane_id), what="the busy text")
    outcome = nudge_agent(rig_town, tmux, "furiosa", "when you can")
    assert outcome.status == "queued" and "busy" in outcome.detail
    assert [q.text for q in queued_nudges(rig_town, "alpha/furiosa")] == ["when you can"]
    assert deliver_queued(rig_town, tmux, "furiosa") == 0  # still busy: kept
    flag.write_text("")
    wait_until(lambda: "READY" in tmux.capture(result.pane_id), what="the agent to be idle")
    assert deliver_queued(rig_town, tmux, "furiosa") == 1
    assert_received(reader, ["when you can"])
    assert queued_nudges(rig_town, "alpha/furiosa") == []


@real_tmux
def test_mail_nudges_the_recipient(
    rig_town: Town, tmux: TownTmux, slung: str, reader: Path
) -> None:
    callback = install_mail_nudges(rig_town, tmux)
    assert callback in rig_town.mail.on_delivered
    rig_town.mail.send(["alpha/furiosa", "alpha/witness"], "Fuel report", "body", sender="mayor")
    expected = mail_nudge_text("mayor", "Fuel report")
    assert_received(reader, [expected])
    assert not rig_town.mail.hook_errors


@real_tmux
def test_gt_mail_send_wires_the_nudge(
    rig_town: Town, slung: str, reader: Path, gt: GtRunner
) -> None:
    proc = gt("mail", "send", "alpha/furiosa", "-s", "Water", "-m", "ration it")
    assert proc.returncode == 0, proc.stderr
    assert_received(reader, [mail_nudge_text("overseer", "Water")])


@real_tmux
def test_peek_and_attach_plan(rig_town: Town, tmux: TownTmux, slung: str, gt: GtRunner) -> None:
    from gastown_tui.dispatch.agents import attach_for

    proc = gt("peek", "furiosa", "-n", "5")
    assert proc.returncode == 0 and "READY" in proc.stdout
    assert gt("peek", "furiosa", "-n", "0").returncode == 2
    assert attach_for(rig_town, tmux, "furiosa", environ={}).mode == "attach"
    nested = attach_for(rig_town, tmux, "furiosa", environ={"TMUX": "/tmp/other,1,0"})
    assert nested.nested and "nest" in nested.message
    inside = {"TMUX": f"{tmux.socket_path()},1,0"}
    assert attach_for(rig_town, tmux, "furiosa", environ=inside).mode == "switch"
    # Inside another tmux server without a terminal to ask on: refuse, point at --yes.
    proc = gt("attach", "furiosa", env={"TMUX": "/tmp/other-tmux,1,0"})
    assert proc.returncode == 2 and "--yes" in proc.stderr and "nest" in proc.stderr


def test_nudge_agent_validates_before_touching_tmux(rig_town: Town) -> None:
    from gastown_tui.dispatch.tmuxfor import tmux_for

    with pytest.raises(GtError, match="unknown agent"):
        nudge_agent(rig_town, tmux_for(rig_town), "furiosa", "hi")


def test_queue_keeps_order_without_tmux(rig_town: Town) -> None:
    bead = rig_town.beads.create("q", rig="alpha")
    address = hook_without_window(rig_town, bead.id)
    started = time.perf_counter()
    for n in range(50):
        queue_nudge(rig_town, address, f"n{n}")
    assert time.perf_counter() - started < 2.0
    assert [q.text for q in queued_nudges(rig_town, address)] == [f"n{n}" for n in range(50)]


@real_tmux
def test_mail_nudge_never_answers_a_question(
    rig_town: Town, tmux: TownTmux, slung: str, reader: Path
) -> None:
    tmux.send_literal(slung, "Do you want to proceed?")  # the reader echoes: a question shows
    tmux.send_enter(slung)
    wait_until(lambda: "got Do you want" in tmux.capture(slung), what="the question")
    received_before = received_lines(reader)
    install_mail_nudges(rig_town, tmux)
    rig_town.mail.send(["alpha/furiosa"], "Spare parts", "body", sender="mayor")
    assert received_lines(reader) == received_before  # nothing typed into the question
    [queued] = queued_nudges(rig_town, "alpha/furiosa")
    assert queued.text == mail_nudge_text("mayor", "Spare parts")
    # A person's nudge is refused too (it would answer the question); `gt answer` does that.
    with pytest.raises(GtFailure, match="is waiting at: Do you want to proceed"):
        nudge_agent(rig_town, tmux, "furiosa", "1")
    assert received_lines(reader) == received_before
