"""The built-in mayor (runtimes/builtin_mayor.py) in its real window against a real Messages
API server on 127.0.0.1 (tests/fake_anthropic.py): a sentence becomes beads, a convoy and a
sling through the mayor's tools; a bad tool call gets the CLI's error and writes nothing; its
tokens count against the budget and the breaker stops it; an API failure is reported."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from gastown_tui.dispatch import mayor as dispatch_mayor
from gastown_tui.tmux import TownTmux
from gastown_tui.town.mayor import MAYOR, OVERSEER
from gastown_tui.town.town import Town
from gastown_tui.town.usage import record_usage, totals
from tests.conftest import GtRunner, wait_until
from tests.fake_anthropic import FakeAnthropic, Reply, serve, text, tool_use
from tests.polecat_fixtures import set_town_env

pytest_plugins = ["tests.polecat_fixtures"]
pytestmark = pytest.mark.tmux


def last_result(requests: list[dict[str, Any]]) -> dict[str, Any]:
    """The tool_result block of the newest request."""
    return requests[-1]["body"]["messages"][-1]["content"][0]


def answers(town: Town) -> list[str]:
    return [m.body for m in town.mail.inbox(OVERSEER) if m.sender == MAYOR]


def pane(tmux: TownTmux) -> str:
    info = dispatch_mayor.find(tmux)
    return tmux.capture(info.pane_id, lines=200) if info else ""


@pytest.fixture
def mayor_server(rig_town: Town, tmux: TownTmux) -> Iterator[Any]:
    """Start the built-in mayor against a fake server with the script the test passes."""
    servers: list[Any] = []

    def start(script: list[Any], **budget: int) -> FakeAnthropic:
        context = serve(script)
        fake = context.__enter__()
        servers.append(context)
        set_town_env(rig_town, ANTHROPIC_BASE_URL=fake.url, ANTHROPIC_API_KEY="sk-test-mayor")
        toml = rig_town.paths.town_toml
        config = re.sub(r"(?m)^budget_poll = .*$", "budget_poll = 0.1", toml.read_text(), count=1)
        config = re.sub(r"(?m)^model = .*$", 'model = "claude-test"', config, count=1)
        for key, value in budget.items():  # [budget] is the template's first table with it
            config = re.sub(rf"(?m)^{key} = \S+", f"{key} = {value}", config, count=1)
        toml.write_text(config)
        rig_town.__dict__.pop("config", None)
        what, started = dispatch_mayor.start(rig_town, tmux, "builtin")
        assert started, what
        wait_until(lambda: "idle: waiting for mail" in pane(tmux), what="the mayor to be up")
        return fake

    yield start
    for context in servers:
        context.__exit__(None, None, None)


def test_a_sentence_becomes_beads_a_convoy_and_a_sling(
    rig_town: Town, tmux: TownTmux, pgt: GtRunner, mayor_server: Any
) -> None:
    ids: dict[str, str] = {}

    def good_bead(requests: list[dict[str, Any]]) -> Reply:
        result = last_result(requests)
        # The bad call got the CLI's own error text back, flagged as an error.
        assert result["is_error"] is True
        assert result["content"] == "gt: error: unknown bead 'al-nosuch' in a dependency"
        return Reply([tool_use("bead_create", {"title": "Plan the greeting", "rig": "alpha"},
                               "tu_2")], "tool_use", 200, 30)  # fmt: skip

    def second_bead(requests: list[dict[str, Any]]) -> Reply:
        ids["plan"] = json.loads(last_result(requests)["content"])["id"]
        return Reply([tool_use("bead_create", {"title": "Build the greeting", "rig": "alpha",
                               "deps": [ids["plan"]]}, "tu_3")], "tool_use", 300, 30)  # fmt: skip

    def convoy(requests: list[dict[str, Any]]) -> Reply:
        ids["build"] = json.loads(last_result(requests)["content"])["id"]
        beads = [ids["plan"], ids["build"]]
        call = tool_use("convoy_create", {"title": "Greeting", "beads": beads}, "tu_4")
        return Reply([call], "tool_use", 400, 30)

    def sling(requests: list[dict[str, Any]]) -> Reply:
        ids["convoy"] = json.loads(last_result(requests)["content"])["id"]
        args = {"bead": ids["plan"], "rig": "alpha", "convoy": ids["convoy"], "agent": "demo"}
        return Reply([tool_use("sling", args, "tu_5")], "tool_use", 500, 30)

    def finish(requests: list[dict[str, Any]]) -> Reply:
        assert "slung " + ids["plan"] in last_result(requests)["content"]
        return Reply([text(f"Planned: {ids['plan']} then {ids['build']}, convoy {ids['convoy']}; "
                           f"{ids['plan']} is slung.")], "end_turn", 600, 40)  # fmt: skip

    script = [
        Reply([text("Let me plan."), tool_use("bead_create", {"title": "Plan the greeting",
               "rig": "alpha", "deps": ["al-nosuch"]}, "tu_1")], "tool_use", 100, 30),
        good_bead, second_bead, convoy, sling, finish,
    ]  # fmt: skip
    fake = mayor_server(script)
    told = pgt("mayor", "tell", "Add a greeting to the CLI")
    assert told.returncode == 0, told.stderr  # told, or busy already with the mail it polled
    assert "told the mayor" in told.stdout or "the mayor is busy" in told.stdout, told.stdout
    [answer] = wait_until(lambda: answers(rig_town), timeout=60, what="the mayor's answer")
    assert answer.startswith(f"Planned: {ids['plan']} then {ids['build']}")
    # Its first request held its prime and the overseer's words.
    first = json.dumps(fake.requests[0]["body"]["messages"][0])
    assert "You are the mayor of town testtown" in first and "Add a greeting to the CLI" in first
    assert {t["name"] for t in fake.requests[0]["body"]["tools"]} == {
        "status", "bead_create", "convoy_create", "formula_run", "sling", "mail_send", "mail_reply",
    }  # fmt: skip
    beads = rig_town.beads.list(include_closed=True)
    assert sorted(b.title for b in beads) == ["Build the greeting", "Plan the greeting"]
    build = rig_town.beads.get(ids["build"])
    assert [d.on for d in build.deps] == [ids["plan"]]
    assert sorted(rig_town.convoys.get(ids["convoy"]).beads) == sorted([ids["plan"], ids["build"]])
    events = rig_town.events.read(actor=MAYOR)
    assert any(e.type == "polecat.slung" and e.bead == ids["plan"] for e in events)
    # Its tokens are the mayor's, in the town's usage (what the budget counts).
    usage = totals(rig_town, by="agent")["by"][MAYOR]
    assert usage["calls"] == 6 and usage["input_tokens"] == 2100 and usage["output_tokens"] == 190
    # The answer is in the thread of what the overseer said.
    said = rig_town.mail.inbox(MAYOR)[0]
    reply = next(m for m in rig_town.mail.inbox(OVERSEER) if m.sender == MAYOR)
    assert reply.thread == said.thread and reply.reply_to == said.id
    wait_until(lambda: "idle: waiting for mail" in pane(tmux).rsplit("working …", 1)[-1],
               what="the mayor idle again")  # fmt: skip
    assert len(fake.requests) == 6  # idle: no model call without mail


def test_the_budget_breaker_stops_it_until_the_budget_is_raised(
    rig_town: Town, tmux: TownTmux, pgt: GtRunner, mayor_server: Any
) -> None:
    record_usage(rig_town, agent="alpha/nux", model="claude-test", input_tokens=900,
                 output_tokens=100)  # fmt: skip
    fake = mayor_server([Reply([text("All quiet.")], "end_turn", 50, 5)], max_tokens=500)
    pgt("mayor", "tell", "what's going on?")
    wait_until(lambda: "PAUSED: the town is over budget" in pane(tmux), what="the breaker")
    assert fake.requests == [] and answers(rig_town) == []
    toml = rig_town.paths.town_toml
    toml.write_text(toml.read_text().replace("max_tokens = 500", "max_tokens = 100000"))
    [answer] = wait_until(lambda: answers(rig_town), timeout=30, what="the answer after")
    assert answer == "All quiet." and len(fake.requests) == 1


def test_an_api_failure_is_reported_to_the_overseer_and_the_process_fails(
    rig_town: Town, tmux: TownTmux, pgt: GtRunner, mayor_server: Any
) -> None:
    mayor_server([Reply(status=400)])  # not retried by the SDK
    pgt("mayor", "tell", "what's going on?")
    [answer] = wait_until(lambda: answers(rig_town), timeout=30, what="the failure notice")
    assert answer == "BUILTIN MAYOR: the model call failed (400)"
    info = wait_until(
        lambda: (
            (i := dispatch_mayor.find(tmux)) is not None
            and i.pane_dead
            and not i.exit_pending
            and i
        ),
        timeout=30,
        what="the mayor to exit",
    )
    assert info.dead_status == 4  # the supervisor restarts it with backoff (test_mayor.py)
