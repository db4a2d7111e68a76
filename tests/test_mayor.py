"""The mayor (town/mayor.py, dispatch/mayor.py, commands/mayor.py, supervise/mayor.py) with the
DEMO MAYOR (runtimes/demo_mayor.py) in a real tmux window, driven through the real `gt`."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from gastown_tui.dispatch import mayor as dispatch_mayor
from gastown_tui.runtimes import mayor_tools
from gastown_tui.supervise.mayor import MayorPatrol
from gastown_tui.tmux import TownTmux
from gastown_tui.town.mayor import MAYOR, OVERSEER, conversation, edit_state, load_state, summary
from gastown_tui.town.town import Town
from tests.conftest import ROOT, GtRunner, snapshot_files, wait_until

pytest_plugins = ["tests.polecat_fixtures"]
pytestmark = pytest.mark.tmux


def mayor_answers(town: Town) -> list[str]:
    return [m.body for m in town.mail.inbox(OVERSEER) if m.sender == MAYOR]


def pane(tmux: TownTmux) -> str:
    info = dispatch_mayor.find(tmux)
    return tmux.capture(info.pane_id, lines=200) if info else ""


def test_two_racing_starts_give_one_mayor_and_stop_stops_it(
    rig_town: Town, pgt: GtRunner, tmux: TownTmux
) -> None:
    env = {**os.environ, "GT_TOWN": str(rig_town.root)}
    argv = [sys.executable, "-m", "gastown_tui", "mayor", "start", "--agent", "demo"]
    procs = [
        subprocess.Popen(argv, env=env, cwd=ROOT, stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=60)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert sum("already running" in out for out in outs) == 1, outs
    windows = [w for w in tmux.list_windows() if w.session == "gt-hq" and w.window == "mayor"]
    assert len(windows) == 1 and not windows[0].pane_dead
    status = json.loads(pgt("mayor", "status", "--json").stdout)
    assert status["running"] and status["runtime"] == "demo" and status["desired"] == "running"
    wait_until(lambda: "DEMO MAYOR" in pane(tmux), what="the DEMO label on its pane")
    # gt mayor attach puts a terminal on exactly that pane.
    plan = dispatch_mayor.attach(rig_town, tmux, environ={})
    assert plan.mode == "attach" and plan.argv[-3:] == ["attach-session", "-t", windows[0].pane_id]
    assert pgt("mayor", "stop").stdout.strip() == "the mayor is stopped"
    assert not dispatch_mayor.is_running(tmux)
    text = pgt("mayor", "status").stdout
    assert text.startswith("mayor: stopped: gt mayor stop")
    attach = pgt("mayor", "attach")
    assert attach.returncode == 1 and "the mayor has no window" in attach.stderr
    # Stopped on purpose: the supervisor does not bring it back.
    assert MayorPatrol(rig_town, tmux).patrol(rig_town.clock.now()) == []
    assert not dispatch_mayor.is_running(tmux)


def test_bad_input_is_one_line_exit_2_and_writes_nothing(rig_town: Town, pgt: GtRunner) -> None:
    before = snapshot_files(rig_town.root)
    for args, needle in (
        (("mayor", "start", "--agent", "nosuch"), "unknown runtime 'nosuch'"),
        (("mayor", "start", "--agent", "shell"), "cannot run in a plain shell"),
        (("mayor", "tell", "   "), "nothing to tell the mayor"),
        (("mayor", "log", "-n", "0"), "-n must be at least 1"),
    ):
        proc = pgt(*args)
        assert proc.returncode == 2, (args, proc.stderr)
        assert needle in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
        assert "Traceback" not in proc.stderr
    assert snapshot_files(rig_town.root) == before


def test_tell_while_not_running_is_kept_and_answered_once_it_starts(
    rig_town: Town, pgt: GtRunner, tmux: TownTmux
) -> None:
    rig_town.beads.create("Fix the flaky login test", rig="alpha")
    told = pgt("mayor", "tell", "what's going on?")
    assert told.returncode == 0, told.stderr
    assert "the mayor is not running" in told.stdout and "gt mayor start" in told.stdout
    [message] = rig_town.mail.inbox(MAYOR)
    assert message.body == "what's going on?" and message.sender == OVERSEER
    assert dispatch_mayor.status(rig_town, tmux).queued_nudges == 1
    assert pgt("mayor", "start", "--agent", "demo").returncode == 0
    [answer] = wait_until(lambda: mayor_answers(rig_town), timeout=30, what="the mayor's answer")
    # The nudge queued while it was down is typed in by the patrol once it is idle.
    patrol = MayorPatrol(rig_town, tmux)
    wait_until(
        lambda: any("delivered 1 queued" in a for a in patrol.patrol(rig_town.clock.now())),
        timeout=20,
        what="the queued nudge delivered",
    )
    wait_until(lambda: "nudge received: [mail" in pane(tmux), what="the nudge in its window")
    assert dispatch_mayor.status(rig_town, tmux).queued_nudges == 0
    # The answer is in the conversation's thread, and it is true: computed from the store.
    reply = next(m for m in rig_town.mail.inbox(OVERSEER) if m.sender == MAYOR)
    assert reply.thread == message.thread == load_state(rig_town).thread
    assert "DEMO MAYOR" in answer
    assert summary(rig_town) in answer
    assert "1 rig (alpha)" in answer and "beads: 1 not closed" in answer
    assert "1 ready to sling" in answer


def test_a_goal_becomes_beads_with_deps_a_convoy_and_working_polecats(
    rig_town: Town, pgt: GtRunner, tmux: TownTmux
) -> None:
    assert pgt("mayor", "start", "--agent", "demo").returncode == 0
    told = pgt("mayor", "tell", "Add a greeting command to the CLI")
    # It polls its inbox too: it may be at work on the mail before the nudge is typed.
    assert told.returncode == 0, told.stderr
    assert "told the mayor" in told.stdout or "the mayor is busy" in told.stdout, told.stdout
    wait_until(lambda: mayor_answers(rig_town), timeout=60, what="the mayor's plan")
    beads = [b for b in rig_town.beads.list(include_closed=True) if "greeting" in b.title]
    assert len(beads) == 4, [b.title for b in beads]
    by_title = {b.title.split(":")[0]: b for b in beads}
    sketch, tests_, build, review = (
        by_title[t]
        for t in ("Sketch the approach", "Write the tests", "Build it", "Review and land")
    )
    assert {d.on for d in build.deps} == {sketch.id, tests_.id}
    assert {d.on for d in review.deps} == {build.id}
    [convoy] = [c for c in rig_town.convoys.list(include_landed=True) if "greeting" in c.title]
    assert sorted(convoy.beads) == sorted(b.id for b in beads) and convoy.auto
    # The two ready beads went to demo polecats at once; the feed says the mayor did it.
    events = rig_town.events.read(actor=MAYOR)
    slung = {e.bead for e in events if e.type == "polecat.slung"}
    assert slung == {sketch.id, tests_.id}
    assert {e.bead for e in events if e.type == "bead.created"} >= {b.id for b in beads}
    assert any(e.type == "convoy.created" for e in events)
    # (A fast demo agent may finish before the second sling, which then reuses it.)
    polecats = {p.address for p in rig_town.polecats.list()}
    assert {e.extra["polecat"] for e in events if e.type == "polecat.slung"} == polecats
    answer = mayor_answers(rig_town)[0]
    assert convoy.id in answer and all(b.id in answer for b in beads)
    # gt mayor log: what you wrote, what it answered, what it did (with links).
    log = pgt("mayor", "log").stdout
    assert "you: Add a greeting command to the CLI" in log
    assert f"made convoy {convoy.id}" in log and f"slung {sketch.id}" in log
    assert "mayor: DEMO MAYOR" in log
    links = {e.link for e in conversation(rig_town) if e.link}
    assert ("convoy", convoy.id) in links and ("bead", build.id) in links


def test_mail_from_an_agent_wakes_the_mayor_and_it_tells_the_overseer_in_the_thread(
    rig_town: Town, pgt: GtRunner, tmux: TownTmux
) -> None:
    assert pgt("mayor", "start", "--agent", "demo").returncode == 0
    pgt("mayor", "tell", "how are things?")
    wait_until(lambda: mayor_answers(rig_town), timeout=30, what="the first answer")
    sent = pgt(
        "mail", "send", "mayor", "-s", "MERGE_FAILED al-x", "-m", "conflict in main.py",
        "--type", "escalation", agent="alpha/refinery",
    )  # fmt: skip
    assert sent.returncode == 0, sent.stderr
    message_id = sent.stdout.split()[1]
    # The sender's delivery hook nudged it: typed in, or queued while it was busy and then
    # typed in by the patrol (the supervisor runs it every 2 s).
    patrol = MayorPatrol(rig_town, tmux)

    def nudged() -> bool:
        patrol.patrol(rig_town.clock.now())
        return f"nudge received: [mail {message_id} from alpha/refinery]" in pane(tmux)

    wait_until(nudged, timeout=20, what="the nudge in its window")
    # ... and it told the overseer, in the same thread as the conversation.
    wait_until(lambda: len(mayor_answers(rig_town)) == 2, timeout=30, what="the notice")
    notice = next(
        m for m in rig_town.mail.inbox(OVERSEER) if m.sender == MAYOR and "MERGE_FAILED" in m.body
    )
    assert notice.thread == load_state(rig_town).thread
    assert "alpha/refinery" in notice.body
    # The patrol does not wake it a second time for the same message ...
    assert not any("woke" in a for a in patrol.patrol(rig_town.clock.now()))
    # ... but it does for mail stored without a delivery hook (the witness's crash-loop mail).
    rig_town.mail.send(["mayor"], "ESCALATION: crash loop of alpha/nux on al-y", "dead again",
                       sender="alpha/witness", type="escalation")  # fmt: skip
    woke = patrol.patrol(rig_town.clock.now())
    assert any(a.startswith("woke the mayor for msg-") for a in woke), woke
    wait_until(lambda: len(mayor_answers(rig_town)) == 3, timeout=30, what="the second notice")
    assert any("crash loop of alpha/nux" in body for body in mayor_answers(rig_town))


def test_the_patrol_restarts_a_dead_mayor_and_stops_a_crash_loop(
    rig_town: Town, pgt: GtRunner, tmux: TownTmux
) -> None:
    assert pgt("mayor", "start", "--agent", "demo").returncode == 0
    patrol = MayorPatrol(rig_town, tmux)
    info = dispatch_mayor.find(tmux)
    assert info is not None
    os.kill(info.pane_pid, 9)

    def ended() -> bool:
        """Dead, and tmux knows how it ended (until then a patrol waits: WindowInfo in
        tmux/server.py)."""
        info = dispatch_mayor.find(tmux)
        return info is not None and info.pane_dead and not info.exit_pending

    wait_until(ended, what="the pane to die")
    now = rig_town.clock.now() + 1
    actions = patrol.patrol(now)
    assert actions and actions[0].startswith("restarted the mayor (it was killed by SIGKILL)")
    assert dispatch_mayor.is_running(tmux)
    assert len(load_state(rig_town).restarts) == 1
    assert any(e.type == "mayor.restarted" for e in rig_town.events.read(actor="deacon"))
    # Many deaths inside the window: a crash loop stops it and tells the overseer.
    limit = rig_town.config.integer("supervise.crash_loop_restarts")
    with edit_state(rig_town) as state:
        state.restarts = [now] * limit
    os.kill(dispatch_mayor.find(tmux).pane_pid, 9)
    wait_until(ended, what="the pane to die again")
    [note] = patrol.patrol(now + 2)
    assert note.startswith("crash loop: the mayor died")
    state = load_state(rig_town)
    assert state.desired == "stopped" and state.stopped_reason == note
    assert patrol.patrol(now + 3600) == []  # not restarted again
    assert any("crash loop of the mayor" in m.subject for m in rig_town.mail.inbox(OVERSEER))
    assert "crash loop" in pgt("mayor", "status").stdout


def test_the_mayors_prime(rig_town: Town, pgt: GtRunner) -> None:
    rig_town.beads.create("Ship the release notes", rig="alpha")
    rig_town.mail.send(["mayor"], "HELP: stuck", "I cannot reach the db", sender="alpha/witness")
    prime = pgt("prime", agent="mayor")
    assert prime.returncode == 0, prime.stderr
    text = prime.stdout
    for needle in (
        "You are the mayor of town testtown",
        "== Your directive ==",
        "1 rig (alpha)",
        "Ship the release notes",
        "== Your unread mail (1) ==",
        "HELP: stuck",
        "I cannot reach the db",
        "== Roles you can give work to ==",
        "code-review",  # a shipped formula
        "gt bead create TITLE --rig RIG [--dep ID]",
        "gt convoy create",
        "gt formula run",
        "gt sling BEAD RIG",
        "gt mail reply ID -m TEXT",
        "gt status --json",
    ):
        assert needle in text, needle


def test_tools_with_bad_arguments_return_the_clis_error_and_write_nothing(
    rig_town: Town, monkeypatch: pytest.MonkeyPatch, gt: GtRunner
) -> None:
    monkeypatch.setenv("GT_TOWN", str(rig_town.root))
    monkeypatch.setenv("GT_AGENT", MAYOR)
    bead = rig_town.beads.create("Existing", rig="alpha").id
    before = snapshot_files(rig_town.root)
    cases = [
        ("bead_create", {"title": "x", "rig": "alpha", "deps": ["al-nosuch"]},
         ("bead", "create", "x", "--rig", "alpha", "--dep", "al-nosuch")),
        ("bead_create", {"title": "x", "rig": "nowhere"},
         ("bead", "create", "x", "--rig", "nowhere")),
        ("convoy_create", {"title": "c", "beads": [bead, "al-nosuch"]},
         ("convoy", "create", "c", bead, "al-nosuch")),
        ("formula_run", {"name": "nosuch"}, ("formula", "run", "nosuch")),
        ("sling", {"bead": "al-nosuch", "rig": "alpha"}, ("sling", "al-nosuch", "alpha")),
        ("mail_send", {"to": "nobody", "subject": "s", "body": "b"},
         ("mail", "send", "nobody", "-s", "s", "-m", "b")),
        ("mail_reply", {"id": "msg-nosuch", "body": "b"},
         ("mail", "reply", "msg-nosuch", "-m", "b")),
    ]  # fmt: skip
    for name, args, cli in cases:
        text, is_error = mayor_tools.call(name, args)
        expected = gt(*cli, agent=MAYOR).stderr.strip()
        assert is_error and text == expected, (name, text, expected)
    # Arguments of the wrong shape never reach the CLI.
    text, is_error = mayor_tools.call("bead_create", {"title": ["x"]})
    assert is_error and text == "gt: error: title must be a string, not list"
    assert mayor_tools.call("rm_rf", {})[1]
    assert snapshot_files(rig_town.root) == before
    # A title that looks like an option is data.
    text, is_error = mayor_tools.call("bead_create", {"title": "--help", "rig": "alpha"})
    assert not is_error and json.loads(text)["title"] == "--help"


def test_first_run_without_a_town_says_what_to_run(tmp_path: Path) -> None:
    where = tmp_path / "newtown"
    env = {**os.environ, "GT_TOWN": str(where), "PATH": os.environ["PATH"]}
    env.pop("ANTHROPIC_API_KEY", None)
    proc = subprocess.run(
        [sys.executable, "-m", "gastown_tui"], env=env, cwd=ROOT, capture_output=True,
        text=True, stdin=subprocess.DEVNULL, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    [line] = proc.stderr.strip().splitlines()
    assert line.startswith(f"gt: error: {where} is not a town yet; make one and start the mayor")
    assert re.search(r"gt init \S+ --runtime \w+ && ", line) and "gt mayor start --agent" in line
    assert not where.exists()  # nothing made without a yes


def test_a_failed_merge_is_mailed_to_a_running_mayor(rig_town: Town, tmux: TownTmux) -> None:
    from gastown_tui.supervise.refinery import Refinery
    from gastown_tui.town.work import complete
    from tests.polecat_fixtures import hook_without_window

    path = rig_town.paths.town_toml
    config = re.sub(r"(?m)^max_attempts = \d+", "max_attempts = 1", path.read_text(), count=1)
    path.write_text(config + '\n[rigs.alpha]\nverify = "false"\n')
    town = Town.open(rig_town.root)
    with edit_state(town) as state:
        state.desired = "running"  # as `gt mayor start` leaves it
    bead = town.beads.create("Break the build", rig="alpha")
    address = hook_without_window(town, bead.id)
    (Path(town.polecats.get(address).worktree) / "x.txt").write_text("x\n")
    complete(town, address)
    Refinery(town, "alpha").patrol()
    [failed] = town.mail.inbox(MAYOR)
    assert failed.subject.startswith(f"MERGE_FAILED {bead.id}") and failed.type == "escalation"
