"""gt mail … and gt escalate.

Agents call these many times an hour, so the module top imports nothing heavy and `send`
does one inbox write per recipient and one event append.
"""

from __future__ import annotations

import os
import sys

from gastown_tui.commands.common import add_json, emit_json, emit_table, open_town, read_body

TYPE_CHECKING = False  # typing and argparse stay off the hot path (commands/quick.py)
if TYPE_CHECKING:
    import argparse
    from typing import Any

    from gastown_tui.town.mail import Message
    from gastown_tui.town.town import Town

MESSAGE_TYPES = ("task", "escalation", "notification", "reply")
PRIORITIES = ("urgent", "high", "normal", "low")
SEVERITIES = ("critical", "high", "medium")
SEVERITY_PRIORITY = {"critical": "urgent", "high": "high", "medium": "normal"}


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    mail = sub.add_parser("mail", parents=[common], help="mail between agents and the overseer")
    msub = mail.add_subparsers(dest="mail_command", metavar="ACTION", required=True)

    p = msub.add_parser("send", parents=[common], help="send a message; prints `sent <id>`")
    p.add_argument("to", nargs="+", metavar="ADDR", help="addresses or groups (@town, @rig/R, …)")
    p.add_argument("-s", "--subject", required=True)
    p.add_argument("-m", "--message", dest="body", help="the body")
    p.add_argument("--stdin", action="store_true", help="read the body from standard input")
    p.add_argument("--type", default="notification", choices=MESSAGE_TYPES)
    p.add_argument("--priority", default="normal", choices=PRIORITIES)
    p.add_argument("--cc", action="append", default=[], metavar="ADDR")
    add_json(p)
    p.set_defaults(func=cmd_send)

    p = msub.add_parser("inbox", parents=[common], help="list an inbox, newest first")
    p.add_argument("address", nargs="?", metavar="ADDR", help="default: $GT_AGENT or overseer")
    p.add_argument("--unread", action="store_true", help="only unread messages")
    p.add_argument("--all", action="store_true", help="include archived messages")
    add_json(p)
    p.set_defaults(func=cmd_inbox)

    p = msub.add_parser("read", parents=[common], help="show a message and mark it read")
    p.add_argument("id")
    p.add_argument("--inbox", metavar="ADDR", help="whose copy (default: your own)")
    add_json(p)
    p.set_defaults(func=cmd_read)

    p = msub.add_parser("reply", parents=[common], help="reply to a message's sender")
    p.add_argument("id")
    p.add_argument("-m", "--message", dest="body")
    p.add_argument("--stdin", action="store_true", help="read the body from standard input")
    p.add_argument("--priority", default="normal", choices=PRIORITIES)
    add_json(p)
    p.set_defaults(func=cmd_reply)

    p = msub.add_parser("thread", parents=[common], help="a message's whole thread, oldest first")
    p.add_argument("id")
    add_json(p)
    p.set_defaults(func=cmd_thread)

    p = msub.add_parser("archive", parents=[common], help="move messages out of an inbox")
    p.add_argument("ids", nargs="+", metavar="ID")
    p.add_argument("--inbox", metavar="ADDR", help="whose inbox (default: your own)")
    add_json(p)
    p.set_defaults(func=cmd_archive)

    p = sub.add_parser(
        "escalate",
        parents=[common],
        help="ask for help: mails the rig's witness, the mayor (and overseer if critical)",
    )
    p.add_argument("-s", "--subject", required=True)
    p.add_argument("-m", "--message", dest="body")
    p.add_argument("--stdin", action="store_true", help="read the body from standard input")
    p.add_argument("--severity", default="medium", choices=SEVERITIES)
    p.add_argument("--bead", metavar="ID", help="the bead this is about: it is marked blocked")
    add_json(p)
    p.set_defaults(func=cmd_escalate)


# helpers ---------------------------------------------------------------------------------
def _me(town: Town) -> str:
    from gastown_tui.town.addresses import normalize

    return normalize(town.actor)


def install_delivery_hooks(town: Town) -> None:
    """Recipients are nudged (an idle agent now, a busy one queued): the composition root
    installs that hook (gastown_tui/compose.py); a town from `open_town` already has it."""
    from gastown_tui.compose import wire

    wire(town)


def _report_hook_errors(town: Town) -> None:
    for error in town.mail.hook_errors:
        print(f"gt: warning: mail stored, but a delivery hook failed: {error}", file=sys.stderr)


def _age(created: str, now: float) -> str:
    from gastown_tui.town.clock import age, parse_iso

    ts = parse_iso(created)
    return age(now - ts) if ts is not None else "?"


def _print_message(message: Message) -> None:
    from gastown_tui.town.display import safe, safe_lines

    # Stored text is shown, never obeyed by the terminal (town/display.py).
    print(safe(f"{message.id}  {message.subject}"))
    print(safe(f"  from {message.sender} · to {', '.join(message.to)}"), end="")
    print(safe(f" · cc {', '.join(message.cc)}") if message.cc else "")
    print(safe(f"  {message.type} · {message.priority} · {message.created}"), end="")
    if message.reply_to:
        print(safe(f" · reply to {message.reply_to}"), end="")
    if message.thread and message.thread != message.id:
        print(safe(f" · thread {message.thread}"), end="")
    print(safe(f" · in {message.inbox}'s inbox" + (" (archived)" if message.archived else "")))
    if message.meta:
        print(safe("  " + " · ".join(f"{k} {v}" for k, v in sorted(message.meta.items()))))
    if message.body:
        print()
        print(safe_lines(message.body.rstrip()))


def _print_sent(stored: list[Message], as_json: bool) -> None:
    if as_json:
        emit_json([m.to_dict() for m in stored])
    elif stored:
        print(f"sent {stored[0].id} to {', '.join(m.inbox for m in stored)}")
    else:
        print("nothing new to send (already delivered)")


def _body(args: argparse.Namespace) -> str:
    from gastown_tui.town.errors import GtError

    if args.stdin and args.body is not None:
        raise GtError("pass -m BODY or --stdin, not both")
    return read_body(args.body, args.stdin) or ""


# commands --------------------------------------------------------------------------------
def cmd_send(args: argparse.Namespace) -> int:
    body = _body(args)
    town = open_town(args)
    install_delivery_hooks(town)
    stored = town.mail.send(
        args.to,
        args.subject,
        body,
        cc=args.cc,
        type=args.type,
        priority=args.priority,
    )
    # Only now, after every inbox write returned (each fsynced), does the caller hear `sent`.
    _print_sent(stored, args.json)
    _report_hook_errors(town)
    return 0


def cmd_inbox(args: argparse.Namespace) -> int:
    town = open_town(args)
    address = args.address or _me(town)
    if args.address:
        from gastown_tui.town.addresses import check_address

        # A removed agent's inbox can still be read; anything else must be a real address.
        if not town.mail.has_inbox(address):
            address = check_address(town, address, "inbox")
    messages = town.mail.inbox(address, unread_only=args.unread, include_archived=args.all)
    if args.json:
        emit_json([m.to_dict() for m in messages])
        return 0
    if not messages:
        print(f"no {'unread ' if args.unread else ''}mail for {address}", file=sys.stderr)
        return 0
    now = town.clock.now()
    emit_table(
        ["", "ID", "FROM", "PRI", "TYPE", "AGE", "SUBJECT"],
        [
            (
                "A" if m.archived else ("*" if not m.read else ""),
                m.id,
                m.sender,
                m.priority,
                m.type,
                _age(m.created, now),
                m.subject,
            )
            for m in messages
        ],
    )
    return 0


def cmd_read(args: argparse.Namespace) -> int:
    town = open_town(args)
    me = _me(town)
    message = town.mail.get(args.id, address=args.inbox)
    # Only the reader's own copy is marked read: the overseer looking into an agent's inbox
    # (--inbox) must not hide that agent's mail from it.
    if message.inbox == me and not message.read and not message.archived:
        message = town.mail.mark_read(message.id, message.inbox)
    if args.json:
        emit_json(message.to_dict())
    else:
        _print_message(message)
    return 0


def cmd_reply(args: argparse.Namespace) -> int:
    body = _body(args)
    town = open_town(args)
    install_delivery_hooks(town)
    stored = town.mail.reply(args.id, body, sender=town.actor, priority=args.priority)
    _print_sent(stored, args.json)
    _report_hook_errors(town)
    return 0


def cmd_thread(args: argparse.Namespace) -> int:
    town = open_town(args)
    messages = town.mail.thread(args.id)
    if args.json:
        emit_json([m.to_dict() for m in messages])
        return 0
    for n, message in enumerate(messages):
        if n:
            print()
            print("-" * 60)
        _print_message(message)
    return 0


def cmd_archive(args: argparse.Namespace) -> int:
    town = open_town(args)
    address = args.inbox or _me(town)
    # Accept unique id prefixes, as people type them; all must resolve before anything moves.
    ids = [town.mail.get(i, address=address).id for i in args.ids]
    moved = town.mail.archive(ids, address)
    if args.json:
        emit_json([m.to_dict() for m in moved])
    else:
        print(f"archived {len(moved)} message{'s' if len(moved) != 1 else ''} of {address}")
    return 0


def _escalation_rig(town: Town, bead_rig: str | None) -> str | None:
    """The caller's rig: GT_RIG, else the bead's rig, else the rig part of GT_AGENT."""
    from gastown_tui.town.addresses import rig_of

    return os.environ.get("GT_RIG") or bead_rig or rig_of(town.actor)


def cmd_escalate(args: argparse.Namespace) -> int:
    from gastown_tui.town.addresses import OVERSEER, AddressBook
    from gastown_tui.town.errors import GtError
    from gastown_tui.town.mail import check_body, check_subject

    body = _body(args)
    subject = check_subject(args.subject)
    check_body(body)
    town = open_town(args)
    actor = _me(town)
    if (by_role := _escalate_by_role(town, args, actor, subject, body)) is not None:
        return by_role
    bead = town.beads.get(args.bead) if args.bead else None
    if bead is not None and bead.is_closed:
        raise GtError(f"{bead.id} is closed", hint="reopen it first, or escalate without --bead")
    rig = _escalation_rig(town, bead.rig if bead else None)
    recipients: list[str] = []
    notes: list[str] = []
    if rig:
        if not town.rigs.exists(rig):
            raise GtError(f"unknown rig {rig!r} for the escalation", hint="check GT_RIG / --bead")
        recipients.append(f"{rig}/witness")
    else:
        notes.append("no rig known (GT_RIG, --bead or a rig agent address): no witness mailed")
    recipients.append("mayor")
    if args.severity == "critical":
        recipients.append(OVERSEER)
    # Validate every address before the bead or any inbox is touched.
    AddressBook(town).resolve_all(recipients)

    lines = [
        f"Escalation ({args.severity}) from {actor}.",
        f"Bead: {bead.id} [{bead.rig}] {bead.title} (now blocked)" if bead else "Bead: none",
        "",
        body.rstrip() if body.strip() else "(no details given)",
    ]
    if bead is not None:
        from gastown_tui.town.clock import iso
        from gastown_tui.town.models import Comment

        reason = f"ESCALATED ({args.severity}) by {actor}: {subject}"
        if body.strip():
            reason += "\n\n" + body.strip()
        now = iso(town.clock.now())

        def block(target: Any) -> str | None:
            if target.is_closed:
                raise GtError(f"{target.id} is closed", hint="reopen it first")
            target.status = "blocked"
            target.comments.append(Comment(actor, now, reason))
            return f"blocked: {subject}"

        # One write: the status and the comment holding the reason land together.
        town.beads.mutate(bead.id, block, event="bead.escalated", actor=actor)
    install_delivery_hooks(town)
    stored = town.mail.send(
        recipients,
        f"ESCALATION [{args.severity}]: {subject}",
        "\n".join(lines) + "\n",
        sender=actor,
        type="escalation",
        priority=SEVERITY_PRIORITY[args.severity],
        meta={"severity": args.severity, **({"bead": bead.id} if bead else {})},
    )
    if args.json:
        emit_json(
            {
                "messages": [m.to_dict() for m in stored],
                "bead": bead.id if bead else None,
                "notes": notes,
            }
        )
    else:
        print(f"sent {stored[0].id} to {', '.join(m.inbox for m in stored)}")
        if bead is not None:
            print(f"{bead.id} marked blocked")
    for note in notes:
        print(f"gt: note: {note}", file=sys.stderr)
    _report_hook_errors(town)
    return 0


def _escalate_by_role(
    town: Town, args: argparse.Namespace, actor: str, subject: str, body: str
) -> int | None:
    """An agent with a role escalates along its role's chain (town/roles.py): its step (the
    hooked bead, or --bead) is blocked and handed to the next in the chain. None: no role."""
    from gastown_tui.town.errors import GtError
    from gastown_tui.town.roles import escalate, get_role, load_roles, role_of_agent

    name = role_of_agent(town, actor) if "/" in actor else None
    if not name:
        return None
    roles = load_roles(town)
    role = get_role(town, name, roles)
    bead = town.beads.get(args.bead) if args.bead else town.polecats.hooked(actor)
    if bead is not None and bead.is_closed:
        raise GtError(f"{bead.id} is closed", hint="reopen it first, or escalate without --bead")
    install_delivery_hooks(town)
    result = escalate(
        town, actor, role, subject, body, bead=bead, severity=args.severity, roles=roles
    )
    if args.json:
        emit_json(result.to_dict())
    else:
        print(f"escalated to {result.target} ({role.name}'s chain: {' -> '.join(role.escalation)})")
        if result.recipients:
            print(f"mailed {', '.join(result.recipients)}")
        if bead is not None:
            print(f"{bead.id} blocked until it is answered; stop now, it comes back to you")
        if result.answer_bead:
            print(f"answer bead {result.answer_bead} for {result.target}")
    for note in result.notes:
        print(f"gt: note: {note}", file=sys.stderr)
    _report_hook_errors(town)
    if result.answer_bead:
        from gastown_tui.commands.formulas import kick_scheduler

        kick_scheduler(town)  # the answer bead goes to its role now, not at the next patrol
    return 0
