"""gt role list|show, gt formula list|show|run, gt schedule.

Roles are town.toml `[roles.NAME]` over the shipped ones (town/roles.py); formulas are TOML
workflows (town/formulas.py); `gt schedule` dispatches ready role steps and queued slings now
(dispatch/scheduler.py; the deacon does the same every patrol, and `gt done` starts it).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from typing import TYPE_CHECKING

from gastown_tui.commands.common import add_json, emit_json, emit_table, open_town

if TYPE_CHECKING:
    from gastown_tui.town.town import Town


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    role = sub.add_parser("role", parents=[common], help="who does what: the town's roles")
    rsub = role.add_subparsers(dest="role_command", metavar="ACTION", required=True)
    p = rsub.add_parser("list", parents=[common], help="roles with capacity, rigs, chain")
    add_json(p)
    p.set_defaults(func=cmd_role_list)
    p = rsub.add_parser("show", parents=[common], help="one role in full")
    p.add_argument("name")
    add_json(p)
    p.set_defaults(func=cmd_role_show)

    formula = sub.add_parser("formula", parents=[common], help="workflows: steps, roles, needs")
    fsub = formula.add_subparsers(dest="formula_command", metavar="ACTION", required=True)
    p = fsub.add_parser("list", parents=[common], help="shipped formulas and the town's own")
    add_json(p)
    p.set_defaults(func=cmd_formula_list)
    p = fsub.add_parser("show", parents=[common], help="one formula: variables and steps")
    p.add_argument("name")
    add_json(p)
    p.set_defaults(func=cmd_formula_show)
    p = fsub.add_parser(
        "run",
        parents=[common],
        help="make a formula's beads and a convoy; the deacon dispatches them",
    )
    p.add_argument("name")
    p.add_argument("--rig", help="the rig of steps that do not name one")
    p.add_argument(
        "--var", action="append", default=[], metavar="K=V", help="a variable (repeatable)"
    )
    add_json(p)
    p.set_defaults(func=cmd_formula_run)

    p = sub.add_parser(
        "schedule",
        parents=[common],
        help="dispatch ready role steps and queued slings now (the deacon does it every patrol)",
    )
    p.add_argument("--quiet", action="store_true", help="print nothing")
    add_json(p)
    p.set_defaults(func=cmd_schedule)


# -- roles ------------------------------------------------------------------------------------
def cmd_role_list(args: argparse.Namespace) -> int:
    from gastown_tui.town.roles import load_roles

    town = open_town(args)
    roles = load_roles(town)
    if args.json:
        emit_json([r.to_dict() for r in roles.values()])
        return 0
    rows = []
    for role in sorted(roles.values(), key=lambda r: r.name):
        rows.append(
            (
                role.name,
                role.capacity,
                "long-lived" if role.long_lived else "per bead",
                role.runtime or f"({town.config.default_runtime})",
                ",".join(role.rigs) or "any",
                " -> ".join(role.escalation),
            )
        )
    emit_table(["ROLE", "CAP", "AGENTS", "RUNTIME", "RIGS", "ESCALATION"], rows)
    return 0


def cmd_role_show(args: argparse.Namespace) -> int:
    from gastown_tui.town.roles import get_role, role_agents

    town = open_town(args)
    role = get_role(town, args.name)
    agents = role_agents(town, role.name)
    if args.json:
        emit_json({**role.to_dict(), "agents": agents})
        return 0
    print(f"role {role.name}  ({role.source})")
    if role.description:
        print(f"  {role.description}")
    print(f"  runtime: {role.runtime or town.config.default_runtime + ' (the town default)'}")
    print(f"  rigs: {', '.join(role.rigs) or 'any'}")
    print(f"  capacity: {role.capacity}  ·  {'long-lived' if role.long_lived else 'per bead'}")
    print(f"  escalation: {' -> '.join(role.escalation)}")
    print(f"  agents: {', '.join(agents) or 'none yet'}")
    if role.directive.strip():
        print("  directive:")
        for line in role.directive.strip().splitlines():
            print(f"    {line}")
    return 0


# -- formulas ---------------------------------------------------------------------------------
def cmd_formula_list(args: argparse.Namespace) -> int:
    from gastown_tui.town.formulas import list_formulas

    town = open_town(args)
    items = list_formulas(town)
    if args.json:
        emit_json(
            [f.to_dict() if not isinstance(f, Exception) else {"error": str(f)} for f in items]
        )
        return 0
    rows = []
    for item in items:
        if isinstance(item, Exception):
            rows.append(("!", "-", "-", f"unreadable: {item}"))
            continue
        where = "shipped" if item.shipped else "town"
        text = " ".join(item.description.split())
        summary = text.split(". ")[0].removesuffix(".")  # its first sentence
        rows.append((item.name, len(item.steps), where, summary))
    emit_table(["FORMULA", "STEPS", "FROM", "DESCRIPTION"], rows)
    return 0


def cmd_formula_show(args: argparse.Namespace) -> int:
    from gastown_tui.town.formulas import load_formula, order_steps

    town = open_town(args)
    formula = load_formula(town, args.name)
    if args.json:
        emit_json(formula.to_dict())
        return 0
    print(f"formula {formula.name}  ({formula.path})")
    for line in formula.description.strip().splitlines():
        print(f"  {line}")
    if formula.vars:
        print("  variables:")
        for var in formula.vars.values():
            how = "required" if var.required and var.default is None else f"default {var.default!r}"
            print(f"    {var.name} ({how}) {var.description}")
    print("  steps:")
    for step in order_steps(formula):
        needs = f"  needs {', '.join(step.needs)}" if step.needs else ""
        print(f"    {step.id:<12} [{step.role}] {step.title}{needs}")
    return 0


def _parse_vars(items: list[str]) -> dict[str, str]:
    from gastown_tui.town.errors import GtError

    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise GtError(f"--var {item!r} is not K=V", hint="e.g. --var ticket=sp-k3x9q")
        out[key.strip()] = value
    return out


def cmd_formula_run(args: argparse.Namespace) -> int:
    from gastown_tui.town.formulas import run_formula

    values = _parse_vars(args.var)
    town = open_town(args)
    result = run_formula(town, args.name, values, args.rig)
    if args.json:
        emit_json(result.to_dict())
        return 0
    print(f"formula {result.formula}: convoy {result.convoy} ({len(result.beads)} steps)")
    for step, bead in result.beads.items():
        print(f"  {bead}  {step}")
    for bead in result.tracked:
        print(f"  {bead}  (tracked)")
    print("the deacon dispatches each step to an agent of its role once its needs close")
    return 0


# -- scheduling -------------------------------------------------------------------------------
def cmd_schedule(args: argparse.Namespace) -> int:
    from gastown_tui.dispatch.scheduler import dispatch_pending
    from gastown_tui.dispatch.tmuxfor import tmux_for

    town = open_town(args)
    actions = dispatch_pending(town, tmux_for(town))
    if args.json:
        emit_json({"actions": actions})
    elif not args.quiet:
        for line in actions or ["nothing to dispatch"]:
            print(line)
    return 0


def kick_scheduler(town: Town, closed: str | None = None) -> bool:
    """After `gt done`: when work waits for a slot or for this step, start `gt schedule` in
    the background (the agent's `gt done` does not wait for it, nor import tmux). Only in a
    supervised town: without the deacon nothing is dispatched on its own either."""
    from gastown_tui.town.roles import META_ESCALATION_FOR
    from gastown_tui.town.scheduler import pending
    from gastown_tui.town.status import supervisor_summary

    try:
        if supervisor_summary(town) is None:
            return False
        bead = town.beads.find(closed) if closed else None
        answers = bead is not None and bool(bead.metadata.get(META_ESCALATION_FOR))
        if not answers and not pending(town):
            return False
        env = {**os.environ, "GT_TOWN": str(town.root)}
        env.pop("GT_AGENT", None)  # the scheduler acts as the town, not as this agent
        subprocess.Popen(
            [sys.executable, "-m", "gastown_tui", "schedule", "--quiet"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    except Exception:  # a kick is an optimisation; the deacon dispatches anyway
        return False
    return True
