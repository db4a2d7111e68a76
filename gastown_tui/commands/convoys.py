"""gt convoy …: batches of beads tracked until they land."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from gastown_tui.commands.common import add_json, emit_json, emit_table, open_town


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    convoy = sub.add_parser("convoy", parents=[common], help="track batches of beads")
    csub = convoy.add_subparsers(dest="convoy_command", metavar="ACTION", required=True)

    p = csub.add_parser("create", parents=[common], help="create a convoy; prints its id")
    p.add_argument("title")
    p.add_argument("beads", nargs="*", metavar="BEAD")
    p.add_argument(
        "--notify", nargs="+", action="extend", default=[], metavar="ADDR",
        help="also mail these addresses or groups when it lands",
    )  # fmt: skip
    p.add_argument("--owner", metavar="ADDR", help="who is told it landed (default: you)")
    p.add_argument(
        "--auto",
        action="store_true",
        help="the deacon slings its ready beads to polecats as they free up",
    )
    add_json(p)
    p.set_defaults(func=cmd_create)

    p = csub.add_parser("add", parents=[common], help="track more beads (reopens a landed one)")
    p.add_argument("id")
    p.add_argument("beads", nargs="+", metavar="BEAD")
    add_json(p)
    p.set_defaults(func=cmd_add)

    p = csub.add_parser("list", parents=[common], help="convoys in flight (--all: every one)")
    p.add_argument("--all", action="store_true", help="include landed and closed convoys")
    add_json(p)
    p.set_defaults(func=cmd_list)

    p = csub.add_parser("status", parents=[common], help="a convoy's beads and progress")
    p.add_argument("id")
    add_json(p)
    p.set_defaults(func=cmd_status)

    p = csub.add_parser("close", parents=[common], help="stop tracking a convoy (no landing)")
    p.add_argument("id")
    p.add_argument("--reason", "-r", default="")
    add_json(p)
    p.set_defaults(func=cmd_close)

    p = csub.add_parser("check", parents=[common], help="land every convoy whose beads closed")
    add_json(p)
    p.set_defaults(func=cmd_check)


def _report_errors(town: Any) -> None:
    for error in town.convoys.errors:
        print(f"gt: warning: {error} (retried by the next `gt convoy check`)", file=sys.stderr)


def _bar(done: int, total: int, width: int = 10) -> str:
    if total <= 0:
        return "[" + "." * width + "]"
    filled = round(width * done / total)
    return "[" + "#" * filled + "." * (width - filled) + "]"


def cmd_create(args: argparse.Namespace) -> int:
    town = open_town(args)
    convoy = town.convoys.create(
        args.title, args.beads, owner=args.owner, notify=args.notify, auto=args.auto
    )
    if args.json:
        emit_json(convoy.to_dict())
    else:
        print(convoy.id)
        if convoy.state == "landed":
            print(f"{convoy.id} landed at once: all its beads are closed", file=sys.stderr)
    _report_errors(town)
    return 0


def cmd_add(args: argparse.Namespace) -> int:
    town = open_town(args)
    before = town.convoys.get(args.id)
    convoy = town.convoys.add(args.id, args.beads)
    if args.json:
        emit_json(convoy.to_dict())
    else:
        added = len(convoy.beads) - len(before.beads)
        plural = "s" if added != 1 else ""
        print(f"{convoy.id}: {added} bead{plural} added, tracking {len(convoy.beads)}")
        if before.state == "landed" and convoy.state == "open":
            print(f"{convoy.id} reopened")
        elif convoy.state == "landed" and before.state != "landed":
            print(f"{convoy.id} landed")
    _report_errors(town)
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    town = open_town(args)
    convoys = town.convoys.list(include_landed=args.all)
    counts = town.convoys.progress(convoys)
    if args.json:
        emit_json(
            [{**c.to_dict(), "done": counts[c.id][0], "total": counts[c.id][1]} for c in convoys]
        )
        return 0
    if not convoys:
        print("no convoys in flight" if not args.all else "no convoys", file=sys.stderr)
        return 0
    emit_table(
        ["ID", "STATE", "DONE", "", "OWNER", "TITLE"],
        [
            (
                c.id,
                c.state + (" (auto)" if c.auto else ""),
                f"{counts[c.id][0]}/{counts[c.id][1]}",
                _bar(*counts[c.id]),
                c.owner,
                c.title,
            )
            for c in convoys
        ],
    )
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    town = open_town(args)
    status = town.convoys.status(args.id)
    if args.json:
        emit_json(status)
        return 0
    done, total = status["done"], status["total"]
    from gastown_tui.town.display import safe

    print(safe(f"{status['id']}  {status['title']}"))
    state = status["state"]
    when = ""
    if state == "landed":
        when = f" at {status['landed_at']}"
    elif state == "closed":
        when = f" at {status['closed_at']}"
    print(f"  {state}{when} · {done}/{total} done {_bar(done, total)}", end="")
    print(f" · {status['blocked']} blocked" if status["blocked"] else "")
    notify = ", ".join(status["notify"]) or "-"
    print(f"  owner {status['owner']} · notify {notify} · created {status['created']}")
    if not status["beads"]:
        print("  no beads yet: gt convoy add ID BEAD…")
        return 0
    print()
    emit_table(
        ["", "BEAD", "RIG", "STATUS", "ASSIGNEE", "TITLE"],
        [
            (
                "!" if row["blocked"] else ("✓" if row["status"] == "closed" else ""),
                row["id"],
                row["rig"] or "-",
                row["status"]
                + (f" (by {', '.join(row['blocked_by'])})" if row["blocked_by"] else ""),
                row["assignee"] or "-",
                row["title"],
            )
            for row in status["beads"]
        ],
    )
    return 0


def cmd_close(args: argparse.Namespace) -> int:
    town = open_town(args)
    convoy = town.convoys.close(args.id, reason=args.reason)
    if args.json:
        emit_json(convoy.to_dict())
    else:
        print(f"{convoy.id} closed")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    town = open_town(args)
    landed = town.convoys.check_landings()
    if args.json:
        emit_json([c.to_dict() for c in landed])
    else:
        for convoy in landed:
            print(f"{convoy.id} landed: {convoy.title}")
        if not landed:
            print("no convoy landed", file=sys.stderr)
    _report_errors(town)
    return 0
