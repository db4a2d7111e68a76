"""Formulas: workflows as TOML files (shipped in gastown_tui/formulas/, plus `<town>/formulas/`).

A formula has variables and steps:

    description = "Review a change"
    title = "code review: {{change}}"        # the convoy's title (optional)
    track = ["{{ticket}}"]                   # existing beads the convoy tracks too (optional)

    [vars.change]
    description = "what to review"
    required = true                          # or: default = "main"

    [[steps]]
    id = "review"
    title = "Review {{change}}"
    description = "Read the diff of {{change}} …"
    role = "reviewer"
    needs = []                               # ids of steps that must close first
    rig = "{{rig}}"                          # default: the run's --rig
    priority = 2
    [steps.demo]                             # what the offline demo agent does (optional)
    note = "Looks good"                      # its closing note (`gt done -m`)
    escalate = "Is this in scope?"           # escalate once, before finishing
    close = "{{ticket}}"                     # close this bead with the note (the customer's answer)

`{{name}}` is replaced by a variable; `{{rig}}` and `{{formula}}` always exist. Running one
(`gt formula run`) checks everything first — unknown role, a need on an unknown step, a cycle,
a missing or unknown variable, a role on a rig it may not use — and writes nothing on error.
Then it makes one bead per step (metadata: formula, run, step, role) with `blocks`
dependencies for `needs`, and one convoy that tracks them. The deacon dispatches a step to an
agent of its role once its needs are closed (dispatch/scheduler.py); its closing note is handed
to the steps that need it (`handoff_lines`, shown by `gt prime`).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gastown_tui.town.beads import check_priority, check_title
from gastown_tui.town.clock import iso
from gastown_tui.town.errors import GtError
from gastown_tui.town.ids import random_suffix
from gastown_tui.town.models import Bead, Dependency
from gastown_tui.town.paths import NAME_RE
from gastown_tui.town.roles import META_ROLE, Role, load_roles

if TYPE_CHECKING:
    from gastown_tui.town.town import Town

SHIPPED_DIR = Path(__file__).resolve().parent.parent / "formulas"
VAR_RE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_-]*)\s*\}\}")
STEP_RE = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")
BUILTIN_VARS = ("rig", "formula")
TOP_KEYS = ("name", "description", "title", "track", "vars", "steps")
VAR_KEYS = ("description", "default", "required")
STEP_KEYS = ("id", "title", "description", "role", "needs", "rig", "priority", "type", "demo")
DEMO_KEYS = ("note", "escalate", "close", "mail")
META_FORMULA = "formula"
META_RUN = "formula_run"
META_STEP = "step"
META_DEMO = "demo"


@dataclass
class Variable:
    name: str
    description: str = ""
    default: str | None = None
    required: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "default": self.default,
            "required": self.required,
        }


@dataclass
class Step:
    id: str
    title: str
    role: str
    description: str = ""
    needs: list[str] = field(default_factory=list)
    rig: str = "{{rig}}"
    priority: int = 2
    type: str = "task"
    demo: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "description": self.description,
            "role": self.role,
            "needs": list(self.needs),
            "rig": self.rig,
            "priority": self.priority,
            "type": self.type,
            "demo": dict(self.demo),
        }


@dataclass
class Formula:
    name: str
    path: Path
    description: str = ""
    title: str = "{{formula}}"
    track: list[str] = field(default_factory=list)
    vars: dict[str, Variable] = field(default_factory=dict)
    steps: list[Step] = field(default_factory=list)
    shipped: bool = False

    @property
    def where(self) -> str:
        return str(self.path)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "path": str(self.path),
            "shipped": self.shipped,
            "description": self.description,
            "title": self.title,
            "track": list(self.track),
            "vars": [v.to_dict() for v in self.vars.values()],
            "steps": [s.to_dict() for s in self.steps],
        }


# -- parsing ----------------------------------------------------------------------------------
def _text(value: Any, where: str, key: str) -> str:
    if not isinstance(value, str):
        raise GtError(f"{where}: {key} must be text")
    return value


def parse_formula(path: Path, shipped: bool = False) -> Formula:
    """Read and check the shape of one formula file (not roles or rigs: see `plan`)."""
    where = str(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise GtError(f"cannot read {where}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise GtError(f"{where} is not valid TOML: {exc}") from None
    name = path.stem
    if not NAME_RE.fullmatch(name):
        raise GtError(f"{where}: the file name {name!r} is not a formula name")
    for key in data:
        if key not in TOP_KEYS:
            raise GtError(
                f"{where}: {key} is not a formula key", hint="keys: " + ", ".join(TOP_KEYS)
            )
    formula = Formula(name=name, path=path, shipped=shipped)
    if "name" in data and _text(data["name"], where, "name") != name:
        raise GtError(f"{where}: name = {data['name']!r} differs from the file name {name!r}")
    formula.description = _text(data.get("description", ""), where, "description")
    formula.title = _text(data.get("title", "{{formula}}"), where, "title")
    track = data.get("track", [])
    if not isinstance(track, list) or not all(isinstance(t, str) for t in track):
        raise GtError(f"{where}: track must be a list of bead ids (templates)")
    formula.track = list(track)
    raw_vars = data.get("vars", {})
    if not isinstance(raw_vars, dict):
        raise GtError(f"{where}: vars must be tables [vars.NAME]")
    for var_name, table in raw_vars.items():
        key = f"vars.{var_name}"
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", var_name) or var_name in BUILTIN_VARS:
            raise GtError(f"{where}: {key}: invalid or reserved variable name")
        if not isinstance(table, dict):
            raise GtError(f"{where}: {key} must be a table")
        for k in table:
            if k not in VAR_KEYS:
                raise GtError(
                    f"{where}: {key}.{k} is not a variable key",
                    hint="description, default, required",
                )
        default = table.get("default")
        if default is not None and not isinstance(default, str | int | float):
            raise GtError(f"{where}: {key}.default must be text")
        required = table.get("required", default is None)
        if not isinstance(required, bool):
            raise GtError(f"{where}: {key}.required must be true or false")
        formula.vars[var_name] = Variable(
            var_name,
            _text(table.get("description", ""), where, f"{key}.description"),
            None if default is None else str(default),
            required,
        )
    raw_steps = data.get("steps", [])
    if not isinstance(raw_steps, list) or not raw_steps:
        raise GtError(f"{where}: steps: a formula needs at least one [[steps]]")
    seen: set[str] = set()
    for index, table in enumerate(raw_steps):
        key = f"steps[{index}]"
        if not isinstance(table, dict):
            raise GtError(f"{where}: {key} must be a table")
        for k in table:
            if k not in STEP_KEYS:
                raise GtError(
                    f"{where}: {key}.{k} is not a step key", hint="keys: " + ", ".join(STEP_KEYS)
                )
        step_id = table.get("id")
        if not isinstance(step_id, str) or not STEP_RE.fullmatch(step_id):
            raise GtError(f"{where}: {key}.id must be a short lowercase name")
        key = f"steps.{step_id}"
        if step_id in seen:
            raise GtError(f"{where}: {key}: the step id is used twice")
        seen.add(step_id)
        if "role" not in table:
            raise GtError(f"{where}: {key}.role is missing")
        needs = table.get("needs", [])
        if not isinstance(needs, list) or not all(isinstance(n, str) for n in needs):
            raise GtError(f"{where}: {key}.needs must be a list of step ids")
        demo = table.get("demo", {})
        if not isinstance(demo, dict) or any(k not in DEMO_KEYS for k in demo):
            raise GtError(f"{where}: {key}.demo takes only " + ", ".join(DEMO_KEYS))
        try:
            priority = check_priority(table.get("priority", 2))
        except GtError as exc:
            raise GtError(f"{where}: {key}.priority: {exc}") from None
        formula.steps.append(
            Step(
                id=step_id,
                title=_text(table.get("title", step_id), where, f"{key}.title"),
                role=_text(table["role"], where, f"{key}.role"),
                description=_text(table.get("description", ""), where, f"{key}.description"),
                needs=list(needs),
                rig=_text(table.get("rig", "{{rig}}"), where, f"{key}.rig"),
                priority=priority,
                type=_text(table.get("type", "task"), where, f"{key}.type"),
                demo={k: _text(v, where, f"{key}.demo.{k}") for k, v in demo.items()},
            )
        )
    _check_graph(formula)
    _check_templates(formula)
    return formula


def _check_graph(formula: Formula) -> None:
    ids = {s.id for s in formula.steps}
    for step in formula.steps:
        for need in step.needs:
            if need not in ids:
                raise GtError(
                    f"{formula.where}: steps.{step.id}.needs: unknown step {need!r}",
                    hint="steps: " + ", ".join(sorted(ids)),
                )
    order_steps(formula)  # raises on a cycle


def order_steps(formula: Formula) -> list[Step]:
    """Steps in an order where every step comes after the steps it needs."""
    by_id = {s.id: s for s in formula.steps}
    state: dict[str, int] = {}
    out: list[Step] = []

    def visit(step: Step, path: list[str]) -> None:
        mark = state.get(step.id)
        if mark == 2:
            return
        if mark == 1:
            cycle = " -> ".join([*path[path.index(step.id) :], step.id])
            raise GtError(f"{formula.where}: steps.{step.id}.needs: a cycle ({cycle})")
        state[step.id] = 1
        for need in step.needs:
            visit(by_id[need], [*path, step.id])
        state[step.id] = 2
        out.append(step)

    for step in formula.steps:
        visit(step, [])
    return out


def _check_templates(formula: Formula) -> None:
    known = set(formula.vars) | set(BUILTIN_VARS)

    def check(text: str, key: str) -> None:
        for match in VAR_RE.finditer(text):
            if match.group(1) not in known:
                raise GtError(
                    f"{formula.where}: {key}: unknown variable {{{{{match.group(1)}}}}}",
                    hint="declare it under [vars." + match.group(1) + "]",
                )

    check(formula.title, "title")
    for index, item in enumerate(formula.track):
        check(item, f"track[{index}]")
    for step in formula.steps:
        for key in ("title", "description", "rig"):
            check(getattr(step, key), f"steps.{step.id}.{key}")
        for key, text in step.demo.items():
            check(text, f"steps.{step.id}.demo.{key}")


def render(text: str, values: dict[str, str]) -> str:
    return VAR_RE.sub(lambda m: values.get(m.group(1), m.group(0)), text)


# -- finding formulas --------------------------------------------------------------------------
def town_dir(town: Town) -> Path:
    return town.root / "formulas"


def formula_paths(town: Town) -> dict[str, tuple[Path, bool]]:
    """name -> (path, shipped). The town's own files replace shipped ones of the same name;
    files whose name starts with `_` (the shipped roles) are not formulas."""
    out: dict[str, tuple[Path, bool]] = {}
    for folder, shipped in ((SHIPPED_DIR, True), (town_dir(town), False)):
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.toml")):
            if not path.name.startswith(("_", ".")):
                out[path.stem] = (path, shipped)
    return out


def load_formula(town: Town, name: str) -> Formula:
    paths = formula_paths(town)
    if name not in paths:
        known = ", ".join(sorted(paths)) or "none"
        raise GtError(f"unknown formula {name!r}", hint=f"formulas: {known} (gt formula list)")
    path, shipped = paths[name]
    return parse_formula(path, shipped)


def list_formulas(town: Town) -> list[Formula | GtError]:
    """Every formula, or the error that makes one unreadable (listed, not fatal)."""
    out: list[Formula | GtError] = []
    for path, shipped in formula_paths(town).values():
        try:
            out.append(parse_formula(path, shipped))
        except GtError as exc:
            out.append(exc)
    return out


# -- planning and running ---------------------------------------------------------------------
@dataclass
class PlannedStep:
    step: Step
    rig: str
    title: str
    description: str
    demo: dict[str, str]


@dataclass
class Plan:
    formula: Formula
    values: dict[str, str]
    title: str
    steps: list[PlannedStep]
    track: list[str]


def default_rig(town: Town, rig: str | None) -> str:
    if rig:
        return town.rigs.get(rig).name
    names = town.rigs.names()
    return names[0] if len(names) == 1 else ""


def plan(
    town: Town,
    formula: Formula,
    values: dict[str, str],
    rig: str | None = None,
    roles: dict[str, Role] | None = None,
) -> Plan:
    """Check a run completely (no writes): variables, roles, rigs, tracked beads."""
    where = formula.where
    for name in values:
        if name not in formula.vars:
            known = ", ".join(formula.vars) or "none"
            raise GtError(
                f"{where}: vars.{name}: the formula has no such variable",
                hint=f"variables: {known}",
            )
    full = {"formula": formula.name, "rig": default_rig(town, rig)}
    for var in formula.vars.values():
        if var.name in values:
            full[var.name] = values[var.name]
        elif var.default is not None:
            full[var.name] = var.default
        elif var.required:
            raise GtError(
                f"{where}: vars.{var.name} is required",
                hint=f"pass --var {var.name}=VALUE"
                + (f" ({var.description})" if var.description else ""),
            )
        else:
            full[var.name] = ""
    roles = roles if roles is not None else load_roles(town)
    planned: list[PlannedStep] = []
    for step in order_steps(formula):
        key = f"steps.{step.id}"
        role = roles.get(step.role)
        if role is None:
            raise GtError(
                f"{where}: {key}.role: unknown role {step.role!r}",
                hint="roles: "
                + ", ".join(sorted(roles))
                + " (or add [roles."
                + step.role
                + "] to town.toml)",
            )
        rig_name = render(step.rig, full).strip()
        if not rig_name:
            raise GtError(f"{where}: {key}.rig: no rig given", hint="pass --rig RIG")
        if not town.rigs.exists(rig_name):
            known = ", ".join(town.rigs.names()) or "none yet"
            raise GtError(f"{where}: {key}.rig: unknown rig {rig_name!r}", hint=f"rigs: {known}")
        if not role.allows_rig(rig_name):
            raise GtError(
                f"{where}: {key}.rig: role {role.name} may not work in rig {rig_name!r}",
                hint=f"its rigs ({role.source}): " + ", ".join(role.rigs),
            )
        title = render(step.title, full)
        try:
            title = check_title(title)
        except GtError as exc:
            raise GtError(f"{where}: {key}.title: {exc}") from None
        planned.append(
            PlannedStep(
                step,
                rig_name,
                title,
                render(step.description, full),
                {k: render(v, full) for k, v in step.demo.items()},
            )
        )
    track = [t for t in (render(t, full).strip() for t in formula.track) if t]
    for index, bead_id in enumerate(track):
        if town.beads.find(bead_id) is None:
            raise GtError(f"{where}: track[{index}]: unknown bead {bead_id!r}")
    try:
        title = check_title(render(formula.title, full))
    except GtError as exc:
        raise GtError(f"{where}: title: {exc}") from None
    return Plan(formula, full, title, planned, track)


@dataclass
class RunResult:
    formula: str
    run: str
    convoy: str
    beads: dict[str, str]  # step id -> bead id
    tracked: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "formula": self.formula,
            "run": self.run,
            "convoy": self.convoy,
            "beads": dict(self.beads),
            "tracked": list(self.tracked),
        }


def run_formula(
    town: Town,
    name: str,
    values: dict[str, str] | None = None,
    rig: str | None = None,
) -> RunResult:
    """`gt formula run`: plan (all checks), then the beads (one write per rig) and a convoy."""
    formula = load_formula(town, name)
    the_plan = plan(town, formula, dict(values or {}), rig)
    run_id = f"{formula.name}-{random_suffix(5)}"
    now = iso(town.clock.now())
    actor = town.actor
    ids: dict[str, str] = {}
    beads_by_rig: dict[str, list[Bead]] = {}
    for item in the_plan.steps:
        prefix = town.rigs.get(item.rig).prefix
        ids[item.step.id] = town.ids.reserve(prefix, item.rig)
    for item in the_plan.steps:
        meta: dict[str, Any] = {
            META_FORMULA: formula.name,
            META_RUN: run_id,
            META_STEP: item.step.id,
            META_ROLE: item.step.role,
        }
        if item.demo:
            meta[META_DEMO] = item.demo
        bead = Bead(
            id=ids[item.step.id],
            title=item.title,
            rig=item.rig,
            description=item.description,
            priority=item.step.priority,
            type=item.step.type,
            labels=[f"formula:{formula.name}"],
            deps=[Dependency(ids[n], "blocks") for n in item.step.needs],
            created_at=now,
            updated_at=now,
            created_by=actor,
            metadata=meta,
        )
        beads_by_rig.setdefault(item.rig, []).append(bead)
    for rig_name, beads in beads_by_rig.items():
        with town.beads.rig_txn(rig_name) as tx:
            for bead in beads:
                tx.add_new_bead(bead)
    for rig_name, beads in beads_by_rig.items():
        for bead in beads:
            town.events.append(
                "bead.created", actor=actor, rig=rig_name, bead=bead.id, msg=bead.title
            )
    convoy = town.convoys.create(the_plan.title, [*ids.values(), *the_plan.track])
    town.events.append(
        "formula.run",
        actor=actor,
        msg=f"{formula.name}: {len(ids)} steps, convoy {convoy.id}",
        formula=formula.name,
        run=run_id,
        convoy=convoy.id,
        beads=list(ids.values()),
    )
    return RunResult(formula.name, run_id, convoy.id, ids, the_plan.track)


# -- hand-offs --------------------------------------------------------------------------------
def handoffs(town: Town, bead: Bead) -> list[dict[str, str]]:
    """The closing notes of the steps this bead needs: [{step, bead, agent, note}]."""
    blockers = [d.on for d in bead.deps if d.type == "blocks"]
    if not blockers:
        return []
    found = town.beads.get_many(blockers)
    out = []
    for bead_id in blockers:
        other = found.get(bead_id)
        if other is None or not other.is_closed:
            continue
        out.append(
            {
                "step": str(other.metadata.get(META_STEP) or other.title),
                "bead": other.id,
                "agent": other.assignee or other.created_by or "?",
                "note": other.close_reason or "(no note)",
            }
        )
    return out


def handoff_lines(town: Town, bead: Bead | None) -> list[str]:
    """`gt prime`'s section with what the steps before this one handed over."""
    if bead is None:
        return []
    items = handoffs(town, bead)
    if not items:
        return []
    lines = ["", "== Handed to you by the steps before yours =="]
    for item in items:
        lines.append(f"-- from step {item['step']} ({item['bead']}) by {item['agent']}:")
        lines.extend("   " + line for line in item["note"].splitlines() or [""])
    return lines


def run_steps(town: Town, run_id: str) -> list[Bead]:
    """The beads of one formula run (for the app's dependency tree)."""
    return [
        Bead.from_dict(d)
        for d in town.beads.list_docs(include_closed=True, include_archive=True)
        if (d.get("metadata") or {}).get(META_RUN) == run_id
    ]


def step_tree(town: Town, bead_ids: list[str]) -> list[dict[str, Any]]:
    """A convoy's formula steps as a dependency tree, for the app: rows in display order,
    each {depth, id, step, role, status, assignee, title, also} where `also` names further
    steps it needs (a step needing two is shown under the first). Empty when none of the
    beads is a formula step."""
    beads = town.beads.get_many(bead_ids)
    steps = {i: b for i, b in beads.items() if b.metadata.get(META_STEP)}
    if not steps:
        return []
    needs = {
        i: [d.on for d in b.deps if d.type == "blocks" and d.on in steps] for i, b in steps.items()
    }
    children: dict[str, list[str]] = {}
    for bead_id in bead_ids:
        if bead_id in steps and needs[bead_id]:
            children.setdefault(needs[bead_id][0], []).append(bead_id)
    rows: list[dict[str, Any]] = []

    def add(bead_id: str, depth: int) -> None:
        bead = steps[bead_id]
        rows.append(
            {
                "depth": depth,
                "id": bead_id,
                "step": str(bead.metadata.get(META_STEP)),
                "role": str(bead.metadata.get(META_ROLE) or ""),
                "status": "queued" if bead.metadata.get("queued") else bead.status,
                "assignee": bead.assignee,
                "title": bead.title,
                "also": [str(steps[n].metadata.get(META_STEP)) for n in needs[bead_id][1:]],
            }
        )
        for child in children.get(bead_id, []):
            add(child, depth + 1)

    for bead_id in bead_ids:
        if bead_id in steps and not needs[bead_id]:
            add(bead_id, 0)
    return rows


# -- intake -----------------------------------------------------------------------------------
META_INTAKE = "intake"


def intake_rules(town: Town) -> dict[str, dict[str, Any]]:
    """town.toml `[intake.NAME]`: {formula, rig, label, var, vars}. Checked where used."""
    rules = town.config.raw.get("intake") or {}
    return (
        {str(k): v for k, v in rules.items() if isinstance(v, dict)}
        if isinstance(rules, dict)
        else {}
    )


def run_intake(town: Town) -> list[str]:
    """Beads that arrive on an intake (an open, unassigned bead of the rule's rig with its
    label, e.g. a support ticket) start the rule's formula with the bead as a variable; the
    bead records the run, so each is taken once. For the deacon (dispatch/scheduler.py).

        [intake.tickets]
        formula = "customer-support"
        rig = "desk"
        label = "ticket"
        var = "ticket"               # the variable that receives the bead's id
        vars = { code = "web" }      # the formula's other variables
    """
    actions: list[str] = []
    where = town.paths.town_toml
    for name, rule in intake_rules(town).items():
        formula = str(rule.get("formula") or "")
        rig = str(rule.get("rig") or "")
        label = str(rule.get("label") or "")
        var = str(rule.get("var") or "")
        extra = rule.get("vars") or {}
        if not (formula and rig and label and var) or not isinstance(extra, dict):
            raise GtError(
                f"{where}: intake.{name} needs formula, rig, label and var (and vars as a table)"
            )
        if not town.rigs.exists(rig):
            raise GtError(f"{where}: intake.{name}.rig: unknown rig {rig!r}")
        for doc in town.beads.list_docs(rig=rig, statuses=["open"]):
            meta = doc.get("metadata") or {}
            if label not in (doc.get("labels") or []) or doc.get("assignee"):
                continue
            if meta.get(META_INTAKE) or meta.get(META_RUN):
                continue
            values = {str(k): str(v) for k, v in extra.items()}
            values[var] = doc["id"]
            try:
                result = run_formula(town, formula, values, rig)
            except GtError as exc:
                raise GtError(f"{where}: intake.{name}: {exc}") from None

            def mark(bead: Bead, run: RunResult = result, rule_name: str = name) -> str | None:
                bead.metadata[META_INTAKE] = {
                    "rule": rule_name,
                    "run": run.run,
                    "convoy": run.convoy,
                }
                return f"taken in by {run.formula} (convoy {run.convoy})"

            town.beads.mutate(doc["id"], mark, event="bead.intake", actor="deacon")
            actions.append(f"intake {name}: {doc['id']} started {formula} (convoy {result.convoy})")
    return actions
