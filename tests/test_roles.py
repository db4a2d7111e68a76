"""Roles: shipped and town.toml roles, `gt role list|show`, the directive in `gt prime`, and
`gt escalate` along a role's chain (the step blocked and handed up; an answer unblocks it)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from gastown_tui.town.formulas import run_formula
from gastown_tui.town.polecats import Polecat
from gastown_tui.town.roles import hand_back_answers
from gastown_tui.town.town import Town
from tests.conftest import run_gt

NOW = "2026-01-01T00:00:00+00:00"


@pytest.fixture
def desk_town(tmp_path: Path) -> Town:
    town = Town.init(tmp_path / "town", name="desktown", runtime="demo")
    (tmp_path / "desk").mkdir()
    town.rigs.add("desk", str(tmp_path / "desk"), no_git=True, prefix="de")
    return town


def ok(proc: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert proc.returncode == 0, proc.stderr
    return proc


def add_agent(town: Town, rig: str, name: str, role: str | None) -> str:
    extra = {"role": role} if role else {}
    with town.beads.rig_txn(rig) as tx:
        tx.put_polecat(Polecat(name=name, rig=rig, created_at=NOW, extra=extra).to_dict())
    return f"{rig}/{name}"


def hook(town: Town, bead_id: str, address: str) -> None:
    town.beads.update(bead_id, status="hooked", assignee=address)


def test_role_list_and_show_merge_town_toml_over_shipped(desk_town: Town) -> None:
    with open(desk_town.paths.town_toml, "a") as handle:
        handle.write(
            '\n[roles.front-line]\ncapacity = 2\nrigs = ["desk"]\nruntime = "shell"\n'
            '\n[roles.triager]\ndirective = "Sort the inbox."\nescalation = ["front-line"]\n'
        )
    roles = {
        r["name"]: r for r in json.loads(ok(run_gt(desk_town, "role", "list", "--json")).stdout)
    }
    front = roles["front-line"]
    assert front["capacity"] == 2 and front["rigs"] == ["desk"] and front["runtime"] == "shell"
    assert front["long_lived"] is True  # kept from the shipped role
    assert front["escalation"] == ["product-expert", "account-manager", "overseer"]
    assert roles["triager"]["escalation"] == ["front-line", "overseer"]  # ends at the person
    assert roles["engineering"]["runtime"] is None  # shipped roles use the town's default
    text = ok(run_gt(desk_town, "role", "list")).stdout
    assert "(demo)" in text and "front-line" in text
    shown = ok(run_gt(desk_town, "role", "show", "triager")).stdout
    assert "Sort the inbox." in shown and "front-line -> overseer" in shown


@pytest.mark.parametrize(
    ("table", "words"),
    [
        ("[roles.x]\ncapacity = 0", ["roles.x.capacity = 0 is below 1"]),
        ("[roles.x]\ncapacity = true", ["roles.x.capacity must be a whole number"]),
        ("[roles.x]\nescalation = ['nobody']", ["roles.x.escalation", "'nobody'"]),
        ("[roles.x]\ncolour = 'red'", ["roles.x.colour is not a role key"]),
        ("[roles.mayor]\ncapacity = 1", ["roles.mayor", "invalid role name"]),
    ],
)
def test_bad_roles_are_one_line_errors_naming_town_toml(
    desk_town: Town, table: str, words: list[str]
) -> None:
    with open(desk_town.paths.town_toml, "a") as handle:
        handle.write("\n" + table + "\n")
    proc = run_gt(desk_town, "role", "list")
    assert proc.returncode == 2
    line = proc.stderr.strip()
    assert "\n" not in line and "town.toml" in line
    for word in words:
        assert word in line


def test_escalation_follows_the_chain_and_an_answer_bead_unblocks(desk_town: Town) -> None:
    ticket = desk_town.beads.create("Customer: it crashes", rig="desk")
    run = run_formula(desk_town, "code-review", {"change": ticket.id}, rig="desk")
    step = run.beads["read"]
    front = add_agent(desk_town, "desk", "front-line", "front-line")
    expert = add_agent(desk_town, "desk", "product-expert", "product-expert")
    # The step is worked by a front-line agent (its role's chain applies).
    hook(desk_town, step, front)
    prime = ok(run_gt(desk_town, "prime", agent=front)).stdout
    assert "== Your role: front-line (long-lived" in prime
    assert "product-expert -> account-manager -> overseer" in prime
    out = json.loads(
        ok(
            run_gt(
                desk_town,
                "escalate",
                "-s",
                "Bug or feature?",
                "-m",
                "details",
                "--json",
                agent=front,
            )
        ).stdout
    )
    assert out["target"] == "product-expert" and out["recipients"] == [expert]
    blocked = desk_town.beads.get(step)
    assert blocked.status == "blocked" and blocked.assignee is None  # off the hook
    assert desk_town.polecats.hooked(front) is None
    answer = desk_town.beads.get(out["answer_bead"])
    assert answer.metadata == {"role": "product-expert", "escalation_for": step}
    (mail,) = desk_town.mail.inbox(expert)
    assert mail.type == "escalation" and "Bug or feature?" in mail.subject
    assert desk_town.mail.inbox("desk/witness") == []  # not the old witness+mayor route

    # The product expert answers by finishing the answer bead: the step comes back open.
    hook(desk_town, answer.id, expert)
    ok(run_gt(desk_town, "done", "-m", "It is a bug: fix it", agent=expert))
    assert hand_back_answers(desk_town) == [f"{answer.id} answered {step}: unblocked"]
    assert hand_back_answers(desk_town) == []  # once
    back = desk_town.beads.get(step)
    assert back.status == "open" and back.assignee is None
    assert back.comments[-1].text.startswith("ANSWER from desk/product-expert")
    assert "It is a bug: fix it" in back.comments[-1].text
    assert step in {b.id for b in desk_town.beads.ready()}  # dispatched again to its role

    # A second escalation of the same step goes to the next in the chain.
    hook(desk_town, step, front)
    out = json.loads(
        ok(run_gt(desk_town, "escalate", "-s", "Refund?", "--json", agent=front)).stdout
    )
    assert out["target"] == "account-manager" and out["recipients"] == []
    assert out["notes"] and "no agent of role account-manager" in out["notes"][0]


def test_a_reply_or_a_status_update_answers_an_escalation(desk_town: Town) -> None:
    with open(desk_town.paths.town_toml, "a") as handle:
        handle.write('\n[roles.clerk]\nescalation = ["overseer"]\n')
    first = desk_town.beads.create("File the form", rig="desk", metadata={"role": "clerk"})
    second = desk_town.beads.create("File another", rig="desk", metadata={"role": "clerk"})
    clerk = add_agent(desk_town, "desk", "nux", "clerk")
    hook(desk_town, first.id, clerk)
    ok(run_gt(desk_town, "escalate", "-s", "Which form?", "-m", "A or B", agent=clerk))
    assert desk_town.beads.get(first.id).status == "blocked"
    (mail,) = desk_town.mail.inbox("overseer")
    assert mail.meta["bead"] == first.id and "A or B" in mail.body
    ok(run_gt(desk_town, "mail", "reply", mail.id, "-m", "Form B"))  # the overseer answers
    back = desk_town.beads.get(first.id)
    assert back.status == "open" and "Form B" in back.comments[-1].text
    assert "mail reply" in back.comments[-1].text

    hook(desk_town, second.id, clerk)
    ok(run_gt(desk_town, "escalate", "-s", "Stuck", agent=clerk))
    ok(run_gt(desk_town, "bead", "update", second.id, "--status", "open"))
    assert second.id in {b.id for b in desk_town.beads.ready()}


def test_an_agent_without_a_role_escalates_as_before(desk_town: Town) -> None:
    bead = desk_town.beads.create("Plain work", rig="desk")
    agent = add_agent(desk_town, "desk", "slit", None)
    hook(desk_town, bead.id, agent)
    ok(run_gt(desk_town, "escalate", "-s", "Help", "--bead", bead.id, agent=agent))
    assert len(desk_town.mail.inbox("desk/witness")) == 1
    assert desk_town.beads.get(bead.id).assignee == agent
