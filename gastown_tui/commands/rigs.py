"""gt rig add / list / remove."""

from __future__ import annotations

import argparse

from gastown_tui.commands.common import add_json, emit_json, emit_table, open_town


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    rig = sub.add_parser("rig", parents=[common], help="projects of the town")
    rsub = rig.add_subparsers(dest="rig_command", metavar="ACTION", required=True)

    p = rsub.add_parser("add", parents=[common], help="register a git repository or a directory")
    p.add_argument("name")
    p.add_argument("source", metavar="PATH_OR_URL")
    p.add_argument("--prefix", help="bead id prefix (default: from the name)")
    p.add_argument("--no-git", action="store_true", help="a plain directory, for non-coding work")
    p.add_argument("--branch", help="the branch polecats start from (default: the clone's HEAD)")
    add_json(p)
    p.set_defaults(func=cmd_add)

    p = rsub.add_parser("list", parents=[common], help="list rigs")
    add_json(p)
    p.set_defaults(func=cmd_list)

    p = rsub.add_parser("remove", parents=[common], help="unregister a rig (files are kept)")
    p.add_argument("name")
    p.add_argument("--force", action="store_true", help="even with work in flight")
    p.set_defaults(func=cmd_remove)


def cmd_add(args: argparse.Namespace) -> int:
    town = open_town(args)
    rig = town.rigs.add(
        args.name, args.source, prefix=args.prefix, no_git=args.no_git, branch=args.branch
    )
    if args.json:
        emit_json(rig.to_dict())
    else:
        kind = f"git, branch {rig.branch}" if rig.git else "plain directory"
        print(f"rig {rig.name} added ({kind}, prefix {rig.prefix}) at {rig.path}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    town = open_town(args)
    rigs = town.rigs.list()
    if args.json:
        emit_json([r.to_dict() for r in rigs])
        return 0
    if not rigs:
        print("no rigs yet: gt rig add NAME PATH_OR_URL")
        return 0
    emit_table(
        ["NAME", "PREFIX", "KIND", "PATH"],
        [(r.name, r.prefix, "git" if r.git else "dir", r.path) for r in rigs],
    )
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    town = open_town(args)
    moved = town.rigs.remove(args.name, force=args.force)
    print(f"rig {args.name} removed; its files stay in {town.paths.rig_dir(args.name)}")
    if moved:
        print(f"its beads and polecats are kept in {moved}")
    return 0
