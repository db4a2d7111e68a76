"""Real Claude Code (pinned in tests/agent_clis.py) as the mayor, against a scripted model
server (tests/model_servers.py ConversationServer): the overseer says one sentence with
`gt mayor tell`, and beads with a dependency, a convoy and a working (demo) polecat appear,
made by the mayor through the real `gt` in its own window; its answer comes back as mail in
the conversation's thread."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from gastown_tui.dispatch import mayor as dispatch_mayor
from gastown_tui.tmux import TownTmux
from gastown_tui.town.mayor import MAYOR, OVERSEER, load_state
from gastown_tui.town.town import Town
from tests.conftest import GtRunner, wait_until
from tests.model_servers import ConversationServer, say, shell
from tests.realcli import (
    claude_env,
    claude_home,
    kill_leftovers,
    no_leaks,
    require_program,
    write_town_env,
)

pytest_plugins = ["tests.polecat_fixtures", "tests.realcli"]
pytestmark = [pytest.mark.realcli, pytest.mark.tmux]

GOAL = "Add a greeting command to the CLI"
# What a mayor does with the goal, as one shell call of Claude Code's Bash tool: two beads
# (the second needs the first), a convoy, a sling of the ready one, and the answer in the thread.
PLAN = (
    "set -e; A=$(gt bead create 'Plan the greeting' --rig alpha); "
    "B=$(gt bead create 'Build the greeting' --rig alpha --dep \"$A\"); "
    'C=$(gt convoy create \'Greeting\' "$A" "$B"); '
    'gt sling "$A" alpha --convoy "$C" --agent demo; '
    "M=$(gt mail inbox --unread --json | python3 -c "
    "'import json,sys; print(json.load(sys.stdin)[0][\"id\"])'); "
    'gt mail reply "$M" -m "REAL-MAYOR: planned $A then $B in convoy $C; $A is slung."'
)


@pytest.fixture
def claude_mayor(
    agent_clis_bin: Path | str,
    rig_town: Town,
    tmux: TownTmux,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[ConversationServer]:
    exe = require_program(agent_clis_bin, "claude")
    no_leaks(monkeypatch)
    monkeypatch.setenv("PATH", str(exe.parent) + os.pathsep + os.environ["PATH"])
    home = tmp_path / "home"
    home.mkdir()
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    server = ConversationServer(
        {
            "you are the mayor": [shell("gt prime"), say("MAYOR-READY: waiting for words.")],
            GOAL: [shell(PLAN), say("Planned and slung.")],
        }
    )
    server.start()
    try:
        claude_home(home, [tmp_path])
        write_town_env(rig_town, claude_env(home, server.url, scratch))
        yield server
    finally:
        tmux.kill_server()
        kill_leftovers(home)
        server.stop()


def test_one_sentence_to_a_real_claude_code_mayor_makes_the_work_happen(
    rig_town: Town, tmux: TownTmux, pgt: GtRunner, claude_mayor: ConversationServer
) -> None:
    server = claude_mayor
    started = pgt("mayor", "start", "--agent", "claude")
    assert started.returncode == 0, started.stderr
    try:
        # Primed by its SessionStart hook and by its own `gt prime`: the mayor's prime.
        def shows(text: str) -> bool:
            info = dispatch_mayor.find(tmux)
            return info is not None and text in tmux.capture(info.pane_id, lines=80)

        wait_until(lambda: shows("MAYOR-READY"), timeout=90, what="the mayor's first turn")
        assert server.seen("You are the mayor of town testtown")
        assert server.seen("gt bead create TITLE --rig RIG [--dep ID]")
        wait_until(lambda: not dispatch_mayor.status(rig_town, tmux).busy, what="the mayor idle")
        told = pgt("mayor", "tell", GOAL)
        assert told.returncode == 0, told.stderr
        assert "told the mayor" in told.stdout or "busy" in told.stdout, told.stdout

        def answered() -> list[str]:
            return [m.body for m in rig_town.mail.inbox(OVERSEER) if m.sender == MAYOR]

        [answer] = wait_until(answered, timeout=120, what="the mayor's answer")
    except BaseException:
        info = dispatch_mayor.find(tmux)
        if info is not None:
            print(tmux.capture(info.pane_id, lines=60))
        raise
    assert answer.startswith("REAL-MAYOR: planned")
    beads = {b.title: b for b in rig_town.beads.list(include_closed=True)}
    plan, build = beads["Plan the greeting"], beads["Build the greeting"]
    assert [d.on for d in build.deps] == [plan.id]
    [convoy] = [c for c in rig_town.convoys.list(include_landed=True) if c.title == "Greeting"]
    assert sorted(convoy.beads) == sorted([plan.id, build.id])
    # A working agent appeared: the plan bead went to a demo polecat with its own window.
    events = rig_town.events.read(actor=MAYOR)
    [slung] = [e for e in events if e.type == "polecat.slung"]
    assert slung.bead == plan.id
    assert {e.type for e in events} >= {"bead.created", "convoy.created", "polecat.slung"}
    assert rig_town.polecats.get(slung.extra["polecat"]).window
    # One thread: what the overseer said and what the mayor answered.
    said = rig_town.mail.inbox(MAYOR)[0]
    reply = next(m for m in rig_town.mail.inbox(OVERSEER) if m.sender == MAYOR)
    assert reply.thread == said.thread == load_state(rig_town).thread
    log = pgt("mayor", "log").stdout
    assert f"you: {GOAL}" in log and "mayor: REAL-MAYOR" in log and f"slung {plan.id}" in log
