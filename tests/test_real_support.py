"""The shipped customer-support formula (gastown_tui/formulas/customer-support.toml) worked by
real Claude Code agents (pinned in tests/agent_clis.py), one per step and role, against one
scripted Messages API server that answers each request by its conversation
(tests/model_servers.py ConversationServer): steps running in parallel cannot take each
other's turns. The deacon's dispatch (dispatch/scheduler.py) moves the steps, as in
tests/test_scheduler.py; no step is slung by hand."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from gastown_tui.dispatch.scheduler import dispatch_pending
from gastown_tui.tmux import TownTmux
from gastown_tui.town.formulas import RunResult, run_formula
from gastown_tui.town.town import Town
from tests.conftest import run_gt, wait_until
from tests.model_servers import ConversationServer, Turn, say, shell
from tests.polecat_fixtures import git_out
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

# Each step's role, as the shipped formula gives it.
ROLES = {
    "triage": "front-line",
    "reproduce": "software-expert",
    "workaround": "support-engineer",
    "fix": "engineering",
    "account": "account-manager",
    "answer": "front-line",
}
# The closing note each step's agent hands on (`gt done -m`), naming its step.
NOTES = {step: f"{step.upper()}-NOTE: step {step} finished" for step in ROLES}
NEEDS = {"reproduce": ["triage"], "workaround": ["triage"], "fix": ["reproduce"],
         "account": ["workaround"], "answer": ["fix", "account"]}  # fmt: skip


def step_script(step: str, ticket: str) -> list[Turn]:
    """Prime, show who runs it, a little real work, then `gt done` with the step's note."""
    work = f"printf '%s\\n' 'worked on {step}' > {step}.txt && cat {step}.txt"
    if step == "fix":  # the git rig: the engineering step commits its change
        work = (
            "printf '%s\\n' 'fixed: empty config' > fix.txt && git add fix.txt"
            " && git commit -q -m 'fix the empty-config crash' && git log -1 --format=%s"
        )
    if step == "answer":  # the front line tells the customer, closing the ticket
        work = f"gt bead close {ticket} -r 'ANSWERED: the crash is fixed'"
    return [
        shell("gt prime"),
        shell('echo "WHO=$GT_AGENT ROLE=$GT_ROLE"'),
        shell(work),
        shell(f"gt done -m '{NOTES[step]}'"),
        say(f"Done with {step}."),
    ]


def events(town: Town) -> list[dict[str, Any]]:
    path = town.paths.root / "events.jsonl"
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line]


@pytest.fixture
def support(
    agent_clis_bin: Path | str,
    rig_town: Town,
    tmux: TownTmux,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[Town, TownTmux, ConversationServer, RunResult, str]]:
    """A town with the desk rig (no git) beside `alpha` (git), a ticket, the formula run, and
    Claude Code (town.toml's default_runtime) pointed at the conversation server."""
    exe = require_program(agent_clis_bin, "claude")
    no_leaks(monkeypatch)
    monkeypatch.setenv("PATH", str(exe.parent) + os.pathsep + os.environ["PATH"])
    town = rig_town
    assert 'default_runtime = "claude"' in town.paths.town_toml.read_text()
    desk = tmp_path / "desk"
    desk.mkdir()
    town.rigs.add("desk", str(desk), no_git=True)
    ticket = town.beads.create(
        "Customer: `warrig status` crashes on an empty config",
        rig="desk",
        type="bug",
        labels=["ticket"],
        actor="overseer",
    ).id
    run = run_formula(town, "customer-support", {"ticket": ticket, "code": "alpha"})
    scripts = {f"assigned {run.beads[s]}": step_script(s, ticket) for s in ROLES}
    home = tmp_path / "home"
    home.mkdir()
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    server = ConversationServer(scripts)
    server.start()
    try:
        claude_home(home, [tmp_path, Path(town.rigs.get("alpha").path), desk])
        write_town_env(town, claude_env(home, server.url, scratch))
        yield town, tmux, server, run, ticket
    finally:
        tmux.kill_server()
        kill_leftovers(home)
        server.stop()


def test_customer_support_formula_with_real_claude_code_agents(
    support: tuple[Town, TownTmux, ConversationServer, RunResult, str],
) -> None:
    town, tmux, server, run, ticket = support

    patrol = [0.0]

    def landed() -> bool:
        if time.monotonic() - patrol[0] > 0.5:  # the deacon's patrol, twice a second
            dispatch_pending(town, tmux)
            patrol[0] = time.monotonic()
        return town.convoys.get(run.convoy).landed_at is not None

    try:
        wait_until(landed, timeout=150, what="the support convoy to land")
    except BaseException:
        for info in tmux.list_windows():
            print(f"--- {info.session}:{info.window}\n{tmux.capture(info.pane_id, lines=40)}")
        print(run_gt(town, "polecat", "list").stdout)
        raise
    log = events(town)
    beads = town.beads.get_many(run.beads.values())
    closes = {e["bead"]: e for e in log if e["type"] == "bead.closed"}
    dispatched = {e["bead"]: e for e in log if e["type"] == "scheduler.dispatched"}
    by_step: dict[str | None, list[str]] = {}  # each conversation's requests, as JSON
    for request in server.main_requests():
        key = server.step_of(request.body)
        by_step.setdefault(key, []).append(json.dumps(request.body))
    for step, role in ROLES.items():
        bead = run.beads[step]
        key = f"assigned {bead}"
        # Closed with its note, by the agent the deacon dispatched it to, of the step's role.
        assert beads[bead].status == "closed" and beads[bead].close_reason == NOTES[step]
        agent = closes[bead]["actor"]
        assert dispatched[bead]["polecat"] == agent and dispatched[bead]["role"] == role
        assert town.polecats.get(agent).extra.get("role") == role
        # ... and that agent was a real Claude Code run of this step: its own shell said so.
        seen = "\n".join(by_step.get(key, []))
        assert f"WHO={agent} ROLE={role}" in seen, f"{step}: {seen[-2000:]}"
        assert f"== Your role: {role}" in seen, step
        # The notes of the steps it needs were handed to it (its gt prime, in its requests).
        for need in NEEDS.get(step, []):
            assert NOTES[need] in seen, f"{step} did not receive {need}'s note"
    # Steps that need nothing of each other do not see each other's notes.
    assert NOTES["workaround"] not in "\n".join(by_step[f"assigned {run.beads['fix']}"])
    # The engineering commit is on the fix step's branch, in the git rig.
    done = next(e for e in log if e["type"] == "polecat.done" and e["bead"] == run.beads["fix"])
    polecat = town.polecats.get(done["actor"])
    repo = Path(polecat.worktree or town.rigs.get("alpha").path)
    assert git_out(repo, "show", f"{done['commit']}:fix.txt") == "fixed: empty config"
    assert "fix the empty-config crash" in git_out(repo, "log", "--format=%s", done["branch"])
    # The front line answered only after the fix had closed; the ticket is answered.
    fix_closed = closes[run.beads["fix"]]["ts"]
    assert fix_closed <= dispatched[run.beads["answer"]]["ts"]
    assert fix_closed <= closes[ticket]["ts"]
    assert town.beads.get(ticket).close_reason == "ANSWERED: the crash is fixed"
    assert closes[run.beads["answer"]]["actor"] == closes[run.beads["triage"]]["actor"], (
        "the front line is long-lived: one agent took both of its steps"
    )
