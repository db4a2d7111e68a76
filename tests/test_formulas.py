"""Formulas: shipped and town files, `gt formula list|show|run`, beads with dependencies and one
convoy, bad input refused before anything is written, closing notes handed on by `gt prime`."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from gastown_tui.town.errors import GtError
from gastown_tui.town.formulas import SHIPPED_DIR, run_formula
from gastown_tui.town.models import Bead
from gastown_tui.town.polecats import Polecat
from gastown_tui.town.town import Town
from tests.conftest import make_git_repo, run_gt


@pytest.fixture
def support_town(tmp_path: Path) -> Town:
    """A desk rig (plain folder) and a git rig, as the customer-support formula wants."""
    town = Town.init(tmp_path / "town", name="supporttown", runtime="demo")
    (tmp_path / "desk").mkdir()
    town.rigs.add("desk", str(tmp_path / "desk"), no_git=True, prefix="de")
    town.rigs.add("web", str(make_git_repo(tmp_path / "web")), prefix="we")
    return town


def ok(proc: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert proc.returncode == 0, proc.stderr
    return proc


def store_snapshot(town: Town) -> tuple[list[str], list[str]]:
    beads = sorted(d["id"] for d in town.beads.list_docs(include_closed=True))
    convoys = sorted(c.id for c in town.convoys.list(include_landed=True))
    return beads, convoys


def test_shipped_formulas_are_listed_and_shown(support_town: Town) -> None:
    names = {p.stem for p in SHIPPED_DIR.glob("*.toml") if not p.name.startswith("_")}
    assert {"customer-support", "code-review", "feature", "release"} <= names
    listed = json.loads(ok(run_gt(support_town, "formula", "list", "--json")).stdout)
    assert {f["name"] for f in listed} == names
    shown = json.loads(ok(run_gt(support_town, "formula", "show", "feature", "--json")).stdout)
    assert [s["id"] for s in shown["steps"]] == ["design", "implement", "review", "land"]
    assert shown["steps"][1]["needs"] == ["design"]
    text = ok(run_gt(support_town, "formula", "show", "customer-support")).stdout
    assert "ticket (required)" in text and "needs fix, account" in text


def test_run_makes_beads_with_dependencies_and_one_convoy(support_town: Town) -> None:
    ticket = support_town.beads.create("Customer: it crashes", rig="desk")
    proc = ok(
        run_gt(
            support_town,
            "formula",
            "run",
            "customer-support",
            "--var",
            f"ticket={ticket.id}",
            "--var",
            "code=web",
            "--json",
        )
    )
    out = json.loads(proc.stdout)
    steps = out["beads"]
    assert set(steps) == {"triage", "reproduce", "workaround", "fix", "account", "answer"}
    beads = support_town.beads.get_many(steps.values())
    fix = beads[steps["fix"]]
    assert fix.rig == "web" and beads[steps["triage"]].rig == "desk"
    assert fix.blockers == [steps["reproduce"]]
    assert sorted(beads[steps["answer"]].blockers) == sorted([steps["fix"], steps["account"]])
    assert fix.metadata["role"] == "engineering" and fix.metadata["step"] == "fix"
    assert fix.metadata["formula"] == "customer-support"
    assert "reproduction steps" in fix.description
    convoy = support_town.convoys.get(out["convoy"])
    assert sorted(convoy.beads) == sorted([*steps.values(), ticket.id])  # the ticket too
    # Only the first step is ready: the others wait on their needs.
    ready = {b.id for b in support_town.beads.ready()}
    assert steps["triage"] in ready and not ready & {steps[s] for s in ("fix", "answer")}
    # Text output prints every id.
    text = ok(run_gt(support_town, "formula", "run", "code-review", "--rig", "web",
                     "--var", "change=feature/x")).stdout  # fmt: skip
    assert text.count("we-") == 3 and "convoy cv-" in text


def write(town: Town, name: str, text: str) -> Path:
    folder = town.root / "formulas"
    folder.mkdir(exist_ok=True)
    path = folder / f"{name}.toml"
    path.write_text(text)
    return path


GOOD = """
[vars.thing]
required = true
[[steps]]
id = "a"
role = "reviewer"
title = "A {{thing}}"
[[steps]]
id = "b"
role = "reviewer"
needs = ["a"]
title = "B {{thing}}"
"""


@pytest.mark.parametrize(
    ("formula", "args", "words"),
    [
        (
            GOOD.replace('role = "reviewer"\ntitle = "A', 'role = "nobody"\ntitle = "A'),
            ["--var", "thing=x"],
            ["steps.a.role", "unknown role 'nobody'"],
        ),
        (
            GOOD.replace('needs = ["a"]', 'needs = ["zz"]'),
            ["--var", "thing=x"],
            ["steps.b.needs", "unknown step 'zz'"],
        ),
        (
            GOOD.replace('id = "a"\n', 'id = "a"\nneeds = ["b"]\n'),
            ["--var", "thing=x"],
            ["steps.a.needs", "cycle"],
        ),
        (GOOD, [], ["vars.thing is required", "--var thing="]),
        (GOOD, ["--var", "thing=x", "--var", "other=y"], ["vars.other", "no such variable"]),
        (
            GOOD.replace("B {{thing}}", "B {{nope}}"),
            ["--var", "thing=x"],
            ["steps.b.title", "nope"],
        ),
        (
            GOOD.replace('title = "B', 'rig = "beta"\ntitle = "B'),
            ["--var", "thing=x"],
            ["steps.b.rig", "unknown rig 'beta'"],
        ),
        (
            GOOD.replace('title = "B', 'rig = "desk"\ntitle = "B'),
            ["--var", "thing=x"],
            ["steps.b.rig", "role reviewer may not work in rig 'desk'"],
        ),
        ("bogus = 1\n" + GOOD, ["--var", "thing=x"], ["bogus", "not a formula key"]),
    ],
)
def test_bad_formulas_are_refused_before_anything_is_written(
    support_town: Town, formula: str, args: list[str], words: list[str]
) -> None:
    with open(support_town.paths.town_toml, "a") as handle:
        handle.write('\n[roles.reviewer]\nrigs = ["web"]\n')
    path = write(support_town, "mine", formula)
    before = store_snapshot(support_town)
    proc = run_gt(support_town, "formula", "run", "mine", "--rig", "web", *args)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    line = proc.stderr.strip()
    assert "\n" not in line and "Traceback" not in line
    assert str(path) in line
    for word in words:
        assert word in line
    assert store_snapshot(support_town) == before  # no bead, no convoy
    assert not support_town.polecats.list()  # no agent


def test_a_bad_role_capacity_is_refused_naming_town_toml(support_town: Town) -> None:
    with open(support_town.paths.town_toml, "a") as handle:
        handle.write("\n[roles.reviewer]\ncapacity = 0\n")
    before = store_snapshot(support_town)
    proc = run_gt(support_town, "formula", "run", "code-review", "--rig", "web",
                  "--var", "change=x")  # fmt: skip
    assert proc.returncode == 2
    assert "town.toml: roles.reviewer.capacity = 0 is below 1" in proc.stderr
    assert store_snapshot(support_town) == before


def test_a_town_formula_replaces_a_shipped_one_and_runs(support_town: Town) -> None:
    write(support_town, "release", GOOD)
    shown = json.loads(ok(run_gt(support_town, "formula", "show", "release", "--json")).stdout)
    assert shown["shipped"] is False and [s["id"] for s in shown["steps"]] == ["a", "b"]
    result = run_formula(support_town, "release", {"thing": "v2"}, rig="web")
    assert support_town.beads.get(result.beads["b"]).title == "B v2"


def test_prime_hands_over_the_closing_notes_of_the_needed_steps(support_town: Town) -> None:
    result = run_formula(support_town, "feature", {"feature": "dark mode"}, rig="web")
    design, implement = result.beads["design"], result.beads["implement"]
    now = "2026-01-01T00:00:00+00:00"
    with support_town.beads.rig_txn("web") as tx:
        tx.put_polecat(
            Polecat(name="nux", rig="web", created_at=now, extra={"role": "engineering"}).to_dict()
        )
        tx.put_polecat(Polecat(name="slit", rig="web", created_at=now).to_dict())
        bead = tx.get_bead(design)
        assert isinstance(bead, Bead)
        bead.status, bead.assignee = "hooked", "web/slit"
        tx.put_bead(bead)
    # Hooked first, so `gt done` finds nothing to dispatch (no agent window in this test).
    support_town.beads.update(implement, status="hooked", assignee="web/nux")
    ok(run_gt(support_town, "done", "-m", "DESIGN: one module, one flag", agent="web/slit"))
    prime = ok(run_gt(support_town, "prime", agent="web/nux")).stdout
    assert "== Your role: engineering" in prime and "Use the reproduction steps" in prime
    assert "== Handed to you by the steps before yours ==" in prime
    assert f"from step design ({design}) by web/slit:" in prime
    assert "DESIGN: one module, one flag" in prime


# -- the app ---------------------------------------------------------------------------------
@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def app_on(town: Town) -> object:
    from gastown_tui.tui.app import make_app
    from gastown_tui.views.actions import TownData

    app = make_app(town, data=TownData(town, None), watch=False)
    app.animation_level = "none"
    return app


@pytest.mark.anyio
async def test_app_groups_agents_by_role_and_shows_a_run_as_a_step_tree(
    support_town: Town,
) -> None:
    from gastown_tui.tui.screens.convoy import ConvoyScreen
    from tests.tui_fixtures import settle, wait_for

    ticket = support_town.beads.create("Customer: it crashes", rig="desk")
    run = run_formula(support_town, "customer-support", {"ticket": ticket.id, "code": "web"})
    with support_town.beads.rig_txn("desk") as tx:
        role = {"role": "front-line"}
        tx.put_polecat(Polecat("front-line", "desk", created_at="x", extra=role).to_dict())
        tx.put_polecat(Polecat(name="furiosa", rig="desk", created_at="x").to_dict())
    support_town.beads.update(run.beads["triage"], status="hooked", assignee="desk/front-line")
    app = app_on(support_town)
    async with app.run_test(size=(120, 40)) as pilot:  # type: ignore[attr-defined]
        await settle(pilot)
        labels = [str(node.label) for node in app.rigs_pane.tree.root.children[0].children]  # type: ignore[attr-defined]
        assert any(label.endswith("furiosa  idle") for label in labels)  # no role: as before
        assert any(label.startswith("front-line  role · 1/1 working") for label in labels)
        app.action_show_convoy(run.convoy)  # type: ignore[attr-defined]
        await wait_for(pilot, lambda: isinstance(app.screen, ConvoyScreen), what="convoy")  # type: ignore[attr-defined]
        lines = [str(w.render()) for w in app.screen.query(".convoy-step")]  # type: ignore[attr-defined]
        assert lines[0].startswith("triage [front-line] hooked") and "desk/front-line" in lines[0]
        assert any(line.startswith("   └─ reproduce [software-expert] open") for line in lines)
        answer = next(line for line in lines if "answer [front-line]" in line)
        assert "also needs account" in answer and answer.startswith("         └─ ")


@pytest.mark.anyio
async def test_palette_runs_a_formula_from_a_form(support_town: Town) -> None:
    from textual.widgets import Input

    from gastown_tui.tui.screens.formula import FormulaRunScreen
    from tests.tui_fixtures import settle, wait_for

    app = app_on(support_town)
    async with app.run_test(size=(120, 40)) as pilot:  # type: ignore[attr-defined]
        await settle(pilot)
        await pilot.press("ctrl+p")
        for key in "run formula feature":
            await pilot.press({" ": "space"}.get(key, key))
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, FormulaRunScreen), what="form")  # type: ignore[attr-defined]
        app.screen.query_one("#formula-rig", Input).value = "web"  # type: ignore[attr-defined]
        await pilot.press("ctrl+s")  # the feature variable is required: refused, form stays
        await pilot.pause(0.3)
        assert isinstance(app.screen, FormulaRunScreen)  # type: ignore[attr-defined]
        assert not support_town.convoys.list()
        app.screen.query_one("#formula-var-feature", Input).value = "dark mode"  # type: ignore[attr-defined]
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: not isinstance(app.screen, FormulaRunScreen), what="run")  # type: ignore[attr-defined]
    (convoy,) = support_town.convoys.list()
    assert convoy.title == "feature: {{feature}}".replace("{{feature}}", "dark mode")
    assert len(convoy.beads) == 4


def test_intake_starts_the_formula_once_for_each_new_ticket(support_town: Town) -> None:
    from gastown_tui.town.formulas import run_intake

    with open(support_town.paths.town_toml, "a") as handle:
        handle.write(
            '\n[intake.tickets]\nformula = "customer-support"\nrig = "desk"\nlabel = "ticket"\n'
            'var = "ticket"\nvars = { code = "web" }\n'
        )
    support_town.__dict__.pop("config", None)
    first = support_town.beads.create("Customer A: crash", rig="desk", labels=["ticket"])
    support_town.beads.create("not a ticket", rig="desk")
    (action,) = run_intake(support_town)
    assert action.startswith(f"intake tickets: {first.id} started customer-support")
    taken = support_town.beads.get(first.id).metadata["intake"]
    convoy = support_town.convoys.get(taken["convoy"])
    assert first.id in convoy.beads and len(convoy.beads) == 7
    assert run_intake(support_town) == []  # each ticket once
    second = support_town.beads.create("Customer B: slow", rig="desk", labels=["ticket"])
    assert [a.split(":")[1].split()[0] for a in run_intake(support_town)] == [second.id]
    # A rule naming an unknown formula: one error naming town.toml and the rule.
    with open(support_town.paths.town_toml, "a") as handle:
        handle.write('\n[intake.bad]\nformula = "nope"\nrig = "desk"\nlabel = "x"\nvar = "t"\n')
    support_town.__dict__.pop("config", None)
    support_town.beads.create("x", rig="desk", labels=["x"])
    with pytest.raises(GtError, match=r"town.toml: intake.bad: unknown formula 'nope'"):
        run_intake(support_town)
