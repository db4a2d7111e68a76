"""gt bead … and gt ready."""

from __future__ import annotations

import sys

from gastown_tui.commands.common import add_json, emit_json, emit_table, open_town

TYPE_CHECKING = False  # typing and argparse stay off the hot path (commands/quick.py)
if TYPE_CHECKING:
    import argparse
    from typing import Any


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    bead = sub.add_parser("bead", parents=[common], help="work items")
    bsub = bead.add_subparsers(dest="bead_command", metavar="ACTION", required=True)

    p = bsub.add_parser("create", parents=[common], help="create a bead; prints its id")
    p.add_argument("title")
    p.add_argument("-d", "--description", default="")
    p.add_argument("-p", "--priority", default="2", help="0 (highest) to 4; default 2")
    p.add_argument("-t", "--type", default="task", help="task, bug, feature, epic, chore, …")
    p.add_argument("-l", "--label", action="append", default=[], dest="labels")
    p.add_argument(
        "--rig",
        help="the rig (default: the agent's rig, the only one, the one whose folder you are"
        " in, [town] default_rig, or the first rig added)",
    )
    p.add_argument("--blocked-by", "--dep", action="append", default=[], metavar="ID")
    add_json(p)
    p.set_defaults(func=cmd_create)

    p = bsub.add_parser("list", parents=[common], help="list beads (open ones by default)")
    p.add_argument("--rig")
    p.add_argument("--status", action="append", help="only these statuses (repeatable)")
    p.add_argument("--assignee")
    p.add_argument("--all", action="store_true", help="include closed and archived beads")
    add_json(p)
    p.set_defaults(func=cmd_list)

    p = bsub.add_parser("show", parents=[common], help="one bead in full")
    p.add_argument("id")
    add_json(p)
    p.set_defaults(func=cmd_show)

    p = bsub.add_parser("update", parents=[common], help="change fields of a bead")
    p.add_argument("id")
    p.add_argument("--title")
    p.add_argument("-d", "--description")
    p.add_argument("-p", "--priority")
    p.add_argument("-t", "--type")
    p.add_argument("--status")
    p.add_argument("--assignee")
    p.add_argument("--unassign", action="store_true")
    p.add_argument("--add-label", action="append", default=[])
    p.add_argument("--remove-label", action="append", default=[])
    add_json(p)
    p.set_defaults(func=cmd_update)

    p = bsub.add_parser("close", parents=[common], help="close beads")
    p.add_argument("ids", nargs="+", metavar="ID")
    p.add_argument("--reason", "-r", default="")
    add_json(p)
    p.set_defaults(func=cmd_close)

    p = bsub.add_parser("reopen", parents=[common], help="reopen a closed bead")
    p.add_argument("id")
    add_json(p)
    p.set_defaults(func=cmd_reopen)

    p = bsub.add_parser("comment", parents=[common], help="add a comment")
    p.add_argument("id")
    p.add_argument("text")
    p.set_defaults(func=cmd_comment)

    p = bsub.add_parser("dep", parents=[common], help="ID depends on ON (ON blocks ID)")
    p.add_argument("id")
    p.add_argument("on")
    p.add_argument("--type", default="blocks", help="blocks, parent-child, related, tracks")
    p.set_defaults(func=cmd_dep)

    p = bsub.add_parser("import", parents=[common], help="import a beads (bd) JSONL backup")
    p.add_argument("path", help="a folder with issues.jsonl etc., or one issues.jsonl")
    p.add_argument("--rig")
    p.add_argument("--skip-bad", action="store_true", help="import the good lines, report bad")
    add_json(p)
    p.set_defaults(func=cmd_import)

    p = bsub.add_parser("export", parents=[common], help="write beads as a bd JSONL backup")
    p.add_argument("dir")
    p.add_argument("--rig")
    add_json(p)
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("ready", parents=[common], help="open, unassigned, unblocked beads")
    p.add_argument("--rig")
    add_json(p)
    p.set_defaults(func=cmd_ready)


def _rows(beads: list[Any]) -> list[tuple[Any, ...]]:
    return [(b.id, f"P{b.priority}", b.status, b.type, b.assignee or "-", b.title) for b in beads]


def _print_beads(beads: list[Any], empty: str) -> None:
    if not beads:
        print(empty, file=sys.stderr)
        return
    emit_table(["ID", "PRI", "STATUS", "TYPE", "ASSIGNEE", "TITLE"], _rows(beads))


def cmd_create(args: argparse.Namespace) -> int:
    town = open_town(args)
    why = None
    if args.rig:
        rig = args.rig
    else:
        picked, why = town.rigs.for_new_work()
        rig = picked.name
    bead = town.beads.create(
        args.title,
        rig=rig,
        description=args.description,
        priority=args.priority,
        type=args.type,
        labels=args.labels,
        deps=[(on, "blocks") for on in args.blocked_by],
    )
    if why:  # after the create: an error stays one line (tests/test_fuzz_cli.py)
        print(f"gt: created the bead in {why}", file=sys.stderr)
    if args.json:
        emit_json(bead.to_dict())
    else:
        print(bead.id)
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from gastown_tui.town.beads import check_status

    statuses = [check_status(s) for s in args.status] if args.status else None
    town = open_town(args)
    query = {
        "rig": args.rig,
        "statuses": statuses,
        "include_closed": args.all,
        "include_archive": args.all,
        "assignee": args.assignee,
    }
    if args.json:
        emit_json(town.beads.list_docs(**query))
    else:
        _print_beads(town.beads.list(**query), "no beads match")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    town = open_town(args)
    bead = town.beads.get(args.id)
    if args.json:
        emit_json(bead.to_dict())
        return 0
    from gastown_tui.town.display import safe, safe_lines

    # Stored text is shown, never obeyed by the terminal (town/display.py).
    print(safe(f"{bead.id}  {bead.title}"))
    print(safe(f"  rig {bead.rig} · P{bead.priority} · {bead.type} · {bead.status}"), end="")
    print(safe(f" · assignee {bead.assignee}") if bead.assignee else "")
    print(
        safe(f"  created {bead.created_at} by {bead.created_by or '-'} · updated {bead.updated_at}")
    )
    if bead.closed_at:
        print(
            safe(
                f"  closed {bead.closed_at}"
                + (f": {bead.close_reason}" if bead.close_reason else "")
            )
        )
    if bead.labels:
        print(safe("  labels: " + ", ".join(bead.labels)))
    for dep in bead.deps:
        print(safe(f"  depends on {dep.on} ({dep.type})"))
    if bead.description:
        print()
        print(safe_lines(bead.description.rstrip()))
    for comment in bead.comments:
        print()
        print(safe(f"-- {comment.author} at {comment.created_at}"))
        print(safe_lines(comment.text.rstrip()))
    return 0


def cmd_update(args: argparse.Namespace) -> int:
    from gastown_tui.town.beads import UNSET
    from gastown_tui.town.errors import GtError

    if args.assignee is not None and args.unassign:
        raise GtError("pass --assignee or --unassign, not both")
    assignee = None if args.unassign else (args.assignee if args.assignee is not None else UNSET)
    town = open_town(args)
    bead = town.beads.update(
        args.id,
        title=args.title,
        description=args.description,
        priority=args.priority,
        type=args.type,
        status=args.status,
        assignee=assignee,
        add_labels=args.add_label,
        remove_labels=args.remove_label,
    )
    if args.json:
        emit_json(bead.to_dict())
    else:
        print(f"{bead.id} updated")
    return 0


def cmd_close(args: argparse.Namespace) -> int:
    from gastown_tui.town.errors import GtError

    town = open_town(args)
    # Validate all first: nothing closes (no convoy lands, no mail goes) if one id is wrong.
    seen: set[str] = set()
    for bead_id in args.ids:
        bead = town.beads.get(bead_id)
        if bead.is_closed:
            raise GtError(f"{bead.id} is already closed", hint="nothing was closed")
        if bead.id in seen:
            raise GtError(f"{bead.id} is named twice", hint="nothing was closed")
        seen.add(bead.id)
    closed = [town.beads.close(bead_id, reason=args.reason) for bead_id in args.ids]
    if args.json:
        emit_json([b.to_dict() for b in closed])
    else:
        for bead in closed:
            print(f"{bead.id} closed")
    return 0


def cmd_reopen(args: argparse.Namespace) -> int:
    town = open_town(args)
    bead = town.beads.reopen(args.id)
    if args.json:
        emit_json(bead.to_dict())
    else:
        print(f"{bead.id} reopened")
    return 0


def cmd_comment(args: argparse.Namespace) -> int:
    town = open_town(args)
    bead = town.beads.comment(args.id, args.text)
    print(f"comment added to {bead.id}")
    return 0


def cmd_dep(args: argparse.Namespace) -> int:
    town = open_town(args)
    bead = town.beads.add_dep(args.id, args.on, args.type)
    print(f"{bead.id} depends on {args.on} ({args.type})")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from gastown_tui.town.interop import import_beads

    town = open_town(args)
    from pathlib import Path

    report = import_beads(town, Path(args.path), rig=args.rig, skip_bad=args.skip_bad)
    if args.json:
        emit_json(report.to_dict())
        return 0
    print(
        f"imported {report.imported} beads into rig {report.rig}"
        f" ({report.archived} closed, archived; {report.events} events);"
        f" {report.skipped_existing} already present"
    )
    for bad in report.bad:
        print(f"skipped {bad}", file=sys.stderr)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from gastown_tui.town.interop import export_beads

    town = open_town(args)
    from pathlib import Path

    counts = export_beads(town, Path(args.dir), rig=args.rig)
    if args.json:
        emit_json(counts)
    else:
        print(", ".join(f"{n} {name}" for name, n in counts.items()) + f" written to {args.dir}")
    return 0


def cmd_ready(args: argparse.Namespace) -> int:
    town = open_town(args)
    beads = town.beads.ready(args.rig)
    if args.json:
        emit_json([b.to_dict() for b in beads])
    else:
        _print_beads(beads, "nothing ready")
    return 0
