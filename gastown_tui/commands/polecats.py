"""gt polecat, sling, prime, hook, done, nudge, peek, attach.

`gt prime`, `gt hook` and `gt done` are what agents call: they touch only the store (town/work)
and never import the tmux layer. The others import dispatch (and so libtmux) in their handlers.
"""

from __future__ import annotations

import os
import sys

from gastown_tui.commands.common import (
    add_intermixed_parser,
    add_json,
    emit_json,
    emit_table,
    open_town,
    read_body,
)

TYPE_CHECKING = False  # typing and argparse stay off the hot path (commands/quick.py)
if TYPE_CHECKING:
    import argparse
    from typing import Any

    from gastown_tui.tmux import TownTmux
    from gastown_tui.town.town import Town


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    polecat = sub.add_parser("polecat", parents=[common], help="the worker agents of the rigs")
    psub = polecat.add_subparsers(dest="polecat_command", metavar="ACTION", required=True)
    p = psub.add_parser("list", parents=[common], help="polecats with state, hook and window")
    p.add_argument("--rig")
    add_json(p)
    p.set_defaults(func=cmd_polecat_list)
    p = psub.add_parser(
        "resume", parents=[common], help="finish slings that were interrupted (killed)"
    )
    add_json(p)
    p.set_defaults(func=cmd_polecat_resume)
    from gastown_tui.commands.control import register_actions

    register_actions(psub, common)  # stop, kill, restart, pause, thaw, release

    p = sub.add_parser(
        "sling",
        parents=[common],
        help="hook beads on polecats and start their agents",
        description="gt sling BEAD|'new text' [BEAD…] RIG: the last word is the rig (it may be "
        "left out when the beads say it, or when the town has one rig).",
    )
    p.add_argument("items", nargs="+", metavar="BEAD|TEXT… RIG")
    p.add_argument("--agent", dest="runtime", metavar="RUNTIME", help="claude, demo, shell, …")
    p.add_argument("--to", metavar="POLECAT", help="this polecat (created if new)")
    p.add_argument("--rig", help="the rig (instead of naming it as the last word)")
    p.add_argument("--convoy", metavar="ID", help="track the beads in this convoy")
    p.add_argument("--force", action="store_true", help="re-sling hooked or closed beads")
    add_json(p)
    p.set_defaults(func=cmd_sling)

    p = sub.add_parser("prime", parents=[common], help="what an agent must know and do now")
    p.add_argument("--agent", metavar="ADDR", help="default: $GT_AGENT")
    p.set_defaults(func=cmd_prime)

    p = sub.add_parser("hook", parents=[common], help="the work on an agent's hook")
    p.add_argument("--agent", metavar="ADDR", help="default: $GT_AGENT")
    add_json(p)
    p.set_defaults(func=cmd_hook)

    p = sub.add_parser("done", parents=[common], help="finish the hooked work (commits first)")
    p.add_argument("--status", default="completed", choices=("completed", "escalated", "deferred"))
    p.add_argument("-m", "--message", dest="note", default="", help="a note for the bead")
    p.add_argument("--agent", metavar="ADDR", help="default: $GT_AGENT")
    add_json(p)
    p.set_defaults(func=cmd_done)

    p = add_intermixed_parser(
        sub, "nudge", parents=[common], help="type a message into an agent's window"
    )
    p.add_argument("agent", metavar="AGENT")
    p.add_argument("message", nargs="?", metavar="MESSAGE")
    p.add_argument("--stdin", action="store_true", help="read the message from standard input")
    p.add_argument("--queue", action="store_true", help="queue it for when the agent is idle")
    add_json(p)
    p.set_defaults(func=cmd_nudge)

    p = add_intermixed_parser(
        sub,
        "answer",
        parents=[common],
        help="pick one choice of the question an agent waits at",
        description="Pick CHOICE (its number, y/n, or the start of its label) of the question "
        "AGENT waits at: exactly the keys of that choice are sent, and the question must go.",
    )
    p.add_argument("agent", metavar="AGENT")
    p.add_argument("choice", nargs="?", metavar="CHOICE", help="omit it to see the question")
    add_json(p)
    p.set_defaults(func=cmd_answer)

    p = sub.add_parser("peek", parents=[common], help="the tail of an agent's window")
    p.add_argument("agent", metavar="AGENT")
    p.add_argument("-n", "--lines", type=int, default=40)
    p.set_defaults(func=cmd_peek)

    p = sub.add_parser("attach", parents=[common], help="put this terminal on an agent's window")
    p.add_argument("agent", metavar="AGENT")
    p.add_argument("--yes", action="store_true", help="do not ask before nesting tmux")
    p.set_defaults(func=cmd_attach)


def _tmux(town: Town) -> TownTmux:
    from gastown_tui.dispatch.tmuxfor import tmux_for

    return tmux_for(town)


def _agent(town: Town, explicit: str | None, command: str) -> str:
    from gastown_tui.town.errors import GtError
    from gastown_tui.town.work import agent_from_env

    agent = agent_from_env(explicit)
    if agent is None:
        raise GtError(
            f"gt {command} runs as an agent, and none is known here",
            hint="it reads $GT_AGENT (set in every polecat's window); or pass --agent RIG/NAME",
        )
    return town.polecats.resolve(agent)


# -- polecat list / resume ------------------------------------------------------------------------
def _age(now: float, ts: float | None) -> str:
    from gastown_tui.town.clock import age

    return "-" if ts is None else age(now - ts) + " ago"


def cmd_polecat_list(args: argparse.Namespace) -> int:
    from gastown_tui.town.errors import GtError

    town = open_town(args)
    if args.rig:
        town.rigs.get(args.rig)
    now = town.clock.now()
    try:
        from gastown_tui.dispatch.observe import observe

        views = observe(town, _tmux(town), now=now, rig=args.rig)
    except GtError as exc:
        if "tmux" not in str(exc):
            raise
        return _list_stored(town, args, str(exc))
    from gastown_tui.town.scheduler import queued_rows

    queued = queued_rows(town, args.rig)
    if args.json:
        emit_json([v.to_dict() for v in views] + queued)
        return 0
    if not views and not queued:
        print("no polecats yet (sling work to create some: gt sling BEAD RIG)", file=sys.stderr)
        return 0
    rows = []
    for view in views:
        bead = view.bead_id or "-"
        window = "-"
        if view.window is not None:
            window = f"{view.window.session}:{view.window.window}"
            if view.window.pane_dead:
                window += " (dead)"
        rows.append(
            (
                view.name,
                view.rig,
                view.state,
                bead,
                window,
                _age(now, view.last_activity),
                view.hint,
            )
        )
    for row in queued:  # slings waiting for a slot (town/scheduler.py)
        rows.append(
            (row["name"] or "-", row["rig"], "queued", row["bead"]["id"], "-", "-", row["hint"])
        )
    emit_table(["NAME", "RIG", "STATE", "BEAD", "WINDOW", "ACTIVITY", "NOTE"], rows)
    return 0


def _list_stored(town: Town, args: argparse.Namespace, why: str) -> int:
    """Without tmux: what the store says, labelled as such."""
    from gastown_tui.town.polecats import no_window_hint

    rows: list[dict[str, Any]] = []
    for polecat, bead in town.polecats.list_with_hooks(args.rig):
        state = town.polecats.stored_state(polecat, bead)
        rows.append(
            {
                "address": polecat.address,
                "rig": polecat.rig,
                "name": polecat.name,
                "runtime": polecat.runtime,
                "state": state,
                "stored_state": state,
                "bead": {"id": bead.id, "title": bead.title, "status": bead.status}
                if bead
                else None,
                "window": None,
                "hint": no_window_hint(bead.id if bead else None) if state == "no_window" else "",
            }
        )
    from gastown_tui.town.scheduler import queued_rows

    rows += queued_rows(town, args.rig)  # slings waiting for a slot
    print(f"gt: note: {why}; showing the stored state only", file=sys.stderr)
    if args.json:
        emit_json(rows)
    else:
        emit_table(
            ["NAME", "RIG", "STATE", "BEAD", "NOTE"],
            [
                (
                    r["name"] or "-",
                    r["rig"],
                    r["state"],
                    (r["bead"] or {}).get("id", "-"),
                    r["hint"],
                )
                for r in rows
            ],
        )
    return 0


def cmd_polecat_resume(args: argparse.Namespace) -> int:
    from gastown_tui.dispatch.sling import resume_interrupted

    town = open_town(args)
    report = resume_interrupted(town, _tmux(town))
    if args.json:
        emit_json(
            {
                "resumed": [r.to_dict() for r in report.resumed],
                "failed": [f.to_dict() for f in report.failed],
                "cleared": report.cleared,
            }
        )
    else:
        for result in report.resumed:
            print(
                f"resumed {result.bead} on {result.address}"
                f" (window {result.session}:{result.window})"
            )
        for address in report.cleared:
            print(f"cleared a stale start of {address} (its bead is no longer hooked)")
        for failure in report.failed:
            print(
                f"gt: could not resume {failure.bead} on {failure.address}: {failure.error}",
                file=sys.stderr,
            )
        if not (report.resumed or report.cleared or report.failed):
            print("no interrupted slings")
    return 1 if report.failed else 0


# -- sling --------------------------------------------------------------------------------------
def _split_items(town: Town, items: list[str]) -> tuple[list[str], str]:
    """(targets, rig): the last word is the rig when it names one; otherwise the beads'."""
    from gastown_tui.town.errors import GtError

    names = town.rigs.names()
    if len(items) >= 2 and items[-1] in names:
        return items[:-1], items[-1]
    rigs = {town.ids.rig_of(item) for item in items}
    if len(items) >= 2 and town.ids.rig_of(items[-1]) is None:
        known = ", ".join(names) or "none yet"
        raise GtError(f"unknown rig {items[-1]!r}", hint=f"rigs: {known}")
    if len(rigs) == 1 and None not in rigs:
        return items, rigs.pop() or ""
    if None not in rigs:
        raise GtError("these beads belong to different rigs; sling each rig's beads separately")
    return items, town.rigs.default().name


def cmd_sling(args: argparse.Namespace) -> int:
    from gastown_tui.dispatch.sling import sling_many

    town = open_town(args)
    if args.rig:
        rig = town.rigs.get(args.rig).name
        targets = args.items[:-1] if len(args.items) >= 2 and args.items[-1] == rig else args.items
    else:
        targets, rig = _split_items(town, args.items)
    batch = sling_many(
        town,
        _tmux(town),
        targets,
        rig,
        runtime=args.runtime,
        to=args.to,
        convoy=args.convoy,
        force=args.force,
    )
    if args.json:
        emit_json(
            {
                "slung": [r.to_dict() for r in batch.results],
                "failed": [f.to_dict() for f in batch.failures],
                "queued": batch.queued,
            }
        )
    else:
        for item in batch.queued:  # past max_polecats or a role's capacity (town/scheduler.py)
            print(f"queued {item['bead']}: {item['why']}; dispatched when a slot frees")
        for result in batch.results:
            made = " (new bead)" if result.created_bead else ""
            print(
                f"slung {result.bead}{made} to {result.address} ({result.runtime}): "
                f"window {result.session}:{result.window}"
                + (f", branch {result.branch}" if result.branch else "")
                + (f", convoy {result.convoy}" if result.convoy else "")
            )
            for note in result.notes:
                print(f"  note: {note}")
        if len(batch.results) == 1:
            address = batch.results[0].address
            print(f"watch it: gt peek {address}   ·   take over: gt attach {address}")
        for failure in batch.failures:
            undone = (
                "" if "rollback could not be written" in failure.error else " and was rolled back"
            )
            print(
                f"gt: error: sling of {failure.bead} failed{undone}: {failure.error}",
                file=sys.stderr,
            )
    return 0 if batch.ok else 1


# -- agent-side: prime, hook, done (no tmux) -----------------------------------------------------
def cmd_prime(args: argparse.Namespace) -> int:
    from gastown_tui.town.work import prime_text

    town = open_town(args)
    if (args.agent or os.environ.get("GT_AGENT", "")).strip() == "mayor":
        from gastown_tui.town import mayor  # the mayor's own prime (town/mayor.py)

        sys.stdout.write(mayor.prime_text(town))
        return 0
    address = _agent(town, args.agent, "prime")
    sys.stdout.write(prime_text(town, address))
    return 0


def cmd_hook(args: argparse.Namespace) -> int:
    from gastown_tui.town.work import bead_text, hook_info, hooked_bead

    town = open_town(args)
    address = _agent(town, args.agent, "hook")
    if args.json:
        emit_json(hook_info(town, address))
        return 0
    bead = hooked_bead(town, address)
    if bead is None:
        print(f"nothing on {address}'s hook")
        return 0
    print("\n".join(bead_text(bead)))
    return 0


def cmd_done(args: argparse.Namespace) -> int:
    from gastown_tui.town.work import complete

    town = open_town(args)
    address = _agent(town, args.agent, "done")
    result = complete(town, address, args.status, args.note)
    from gastown_tui.commands.formulas import kick_scheduler

    kick_scheduler(town, result.bead)  # a freed slot or a finished step: dispatch now
    if args.json:
        emit_json(result.to_dict())
        return 0
    if result.saved_commit:
        print(f"committed uncommitted work as {result.saved_commit[:12]}")
    verb = "closed" if result.bead_status == "closed" else f"back to open ({result.status})"
    print(f"{result.bead} {verb}; {address} is idle")
    if result.merge_request:
        print(
            f"merge request {result.merge_request}: {result.branch} at {(result.commit or '')[:12]}"
            " for the refinery"
        )
    return 0


# -- nudge, peek, attach ------------------------------------------------------------------------
def cmd_nudge(args: argparse.Namespace) -> int:
    from gastown_tui.town.errors import GtError

    if args.stdin and args.message:
        raise GtError("pass the message as an argument or with --stdin, not both")
    message = read_body(args.message, args.stdin)
    if message is None:
        raise GtError("a nudge needs a message", hint="gt nudge AGENT 'text' (or --stdin)")
    town = open_town(args)
    from gastown_tui.dispatch.nudge import nudge_agent

    outcome = nudge_agent(town, _tmux(town), args.agent, message, queue=args.queue)
    if args.json:
        emit_json(outcome.to_dict())
    elif outcome.status == "delivered":
        print(f"✓ nudged {outcome.agent}: {outcome.detail}")
    elif outcome.status == "queued":
        print(f"queued for {outcome.agent}: {outcome.detail}")
    else:
        print(f"gt: nudge NOT delivered to {outcome.agent}: {outcome.detail}", file=sys.stderr)
    return outcome.exit_code


def cmd_answer(args: argparse.Namespace) -> int:
    from gastown_tui.dispatch.answer import answer_agent, waiting_prompt

    town = open_town(args)
    tmux = _tmux(town)
    if args.choice is None:
        address, _, prompt, _ = waiting_prompt(town, tmux, args.agent)
        if args.json:
            emit_json({"agent": address, **prompt.to_dict()})
        else:
            print(f"{address} is waiting at: {prompt.question}")
            for choice in prompt.choices:
                print(f"  {'❯' if choice.selected else ' '} {choice.key}. {choice.label}")
            if prompt.choices:
                print(f"answer with: gt answer {address} CHOICE")
        return 0
    outcome = answer_agent(town, tmux, args.agent, args.choice)
    if args.json:
        emit_json(outcome.to_dict())
    else:
        print(f"✓ answered {outcome.agent}: {outcome.choice}. {outcome.label}")
        if outcome.next_question:
            print(f"it now waits at: {outcome.next_question}")
    return 0


def cmd_peek(args: argparse.Namespace) -> int:
    from gastown_tui.dispatch.agents import peek

    town = open_town(args)
    text = peek(town, _tmux(town), args.agent, args.lines)
    if text:
        print(text)
    return 0


def cmd_attach(args: argparse.Namespace) -> int:
    from gastown_tui.dispatch.agents import attach_for
    from gastown_tui.tmux import run_attach
    from gastown_tui.town.errors import GtError

    town = open_town(args)
    plan = attach_for(town, _tmux(town), args.agent)
    if plan.nested and not args.yes:
        print(f"gt: {plan.message}", file=sys.stderr)
        if not sys.stdin.isatty():
            raise GtError("attaching would nest tmux", hint="pass --yes to do it anyway")
        answer = input("attach anyway, nesting tmux? [y/N] ").strip().lower()
        if answer not in ("y", "yes"):
            print("not attached")
            return 0
    else:
        print(plan.message, file=sys.stderr)
    return run_attach(plan)
