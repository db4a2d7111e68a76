"""gt init, doctor, backup, status, version."""

from __future__ import annotations

import argparse
from typing import Any

from gastown_tui.commands.common import add_json, emit_json, open_town


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("init", parents=[common], help="create a town")
    p.add_argument("dir", nargs="?", help="folder for the town (default: $GT_TOWN or ~/gt)")
    p.add_argument("--name", help="the town's name (default: the folder's name)")
    p.add_argument("--runtime", default="claude", help="default agent runtime for slings")
    p.add_argument("--force", action="store_true", help="allow a folder that is not empty")
    p.set_defaults(func=cmd_init)

    p = sub.add_parser("doctor", parents=[common], help="check the store and repair it")
    p.add_argument("--check", action="store_true", help="only report, change nothing")
    add_json(p)
    p.set_defaults(func=cmd_doctor)

    p = sub.add_parser("backup", parents=[common], help="snapshot the store now")
    p.add_argument("--keep", type=int, help="keep this many backups (default from town.toml)")
    p.add_argument("--list", action="store_true", help="list backups instead")
    add_json(p)
    p.set_defaults(func=cmd_backup)

    p = sub.add_parser("status", parents=[common], help="town overview")
    add_json(p)
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("usage", parents=[common], help="tokens and cost, and the budget")
    p.add_argument(
        "--by", choices=["agent", "bead", "convoy", "rig", "model"], help="break totals down"
    )
    add_json(p)
    p.set_defaults(func=cmd_usage)

    p = sub.add_parser("version", parents=[common], help="print the version")
    p.set_defaults(func=cmd_version)


def cmd_init(args: argparse.Namespace) -> int:
    from gastown_tui.town.town import Town

    root = args.dir or getattr(args, "town", None)
    town = Town.init(root, name=args.name, runtime=args.runtime, force=args.force)
    print(f"town created at {town.root}")
    print("next: gt rig add NAME PATH_OR_URL   (then gt bead create, gt sling, gt)")
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from gastown_tui.town.errors import StoreCorrupt
    from gastown_tui.town.storage.doctor import doctor
    from gastown_tui.town.town import Town

    try:
        town = open_town(args)
    except StoreCorrupt as exc:
        # town.json itself is missing: doctor can still restore it.
        town = Town(exc.path.parent.parent)
    report = doctor(town, repair=not args.check)
    if args.json:
        emit_json(report.to_dict())
    else:
        for line in report.swept:
            print(f"swept orphan temp file {line}")
        for line in report.repaired:
            print(f"repaired {line}")
        for line in report.notes:
            print(line)
        for line in report.unrepaired:
            print(f"PROBLEM {line}")
        if report.healthy:
            print(f"store healthy: {report.checked} files checked")
    return 0 if report.healthy else 1


def cmd_backup(args: argparse.Namespace) -> int:
    from gastown_tui.town.errors import GtError
    from gastown_tui.town.storage.doctor import create_backup, list_backups

    town = open_town(args)
    if args.list:
        backups = list_backups(town)
        if args.json:
            emit_json([{"name": b.name, "path": str(b)} for b in backups])
        else:
            for backup in backups:
                print(backup)
        return 0
    if args.keep is not None and args.keep < 1:
        raise GtError("--keep must be at least 1")
    path = create_backup(town, keep=args.keep, reason="gt backup")
    if args.json:
        emit_json({"path": str(path)})
    else:
        print(f"backup written to {path}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from gastown_tui.town.status import town_status

    town = open_town(args)
    status = town_status(town)
    _overlay_live_states(town, status)
    if args.json:
        emit_json(status)
        return 0
    for line in status_lines(status):
        print(line)
    return 0


def _overlay_live_states(town: Any, status: dict) -> None:
    """One live state everywhere: with the town's tmux up, the polecat section comes from the
    same observation as `gt polecat list`, the app and the witness (not the stored states)."""
    if not status["polecats"].get("polecats"):
        return
    from gastown_tui.dispatch.observe import live_summary, observe
    from gastown_tui.dispatch.tmuxfor import tmux_for
    from gastown_tui.town.errors import GtError

    tmux = tmux_for(town)
    try:
        if tmux.available():
            status["polecats"] = live_summary(observe(town, tmux))
    except GtError:
        pass  # no tmux: the stored states, as before


def status_lines(status: dict) -> list[str]:
    from gastown_tui.town.polecats import summary_lines

    lines = [f"town {status['town']['name']} at {status['town']['root']}"]
    supervisor = status.get("supervisor")
    if supervisor:
        lines.append(
            f"  supervised by {supervisor['kind']} pid {supervisor['pid']} since "
            f"{str(supervisor['since'])[:19].replace('T', ' ')}"
        )
    else:
        lines.append("  not supervised: run `gt up` (or open the app) to start the patrols")
    if not status["rigs"]:
        lines.append("  no rigs yet: gt rig add NAME PATH_OR_URL")
    for rig in status["rigs"]:
        counts = ", ".join(f"{n} {s}" for s, n in sorted(rig["beads"].items())) or "no beads"
        lines.append(f"  rig {rig['name']} ({rig['prefix']}): {counts}")
    lines.extend(summary_lines(status["polecats"]))
    lines.extend(scheduler_lines(status.get("scheduler")))
    mail = status["mail"]
    unread = mail["overseer_unread"]
    urgent = f" ({mail['overseer_urgent']} urgent)" if mail.get("overseer_urgent") else ""
    lines.append(f"  mail: {unread} unread for you{urgent}")
    for subject in mail["overseer_unread_subjects"]:
        lines.append(f"    {subject}")
    budget = status.get("budget") or {}
    if budget.get("over"):
        lines.append(f"  OVER BUDGET: {budget['reason']} (new dispatch stopped)")
    convoys = status["convoys"]
    if convoys["in_flight"]:
        lines.append(f"  convoys in flight: {len(convoys['in_flight'])}")
        for convoy in convoys["in_flight"]:
            lines.append(f"    {convoy['id']} {convoy['done']}/{convoy['total']} {convoy['title']}")
    else:
        lines.append("  convoys in flight: none")
    for convoy in convoys["recently_landed"]:
        lines.append(f"    landed {convoy['id']} {convoy['title']}")
    return lines


def cmd_usage(args: argparse.Namespace) -> int:
    from gastown_tui.town.usage import budget_state, collect_transcripts, totals

    town = open_town(args)
    collect_transcripts(town)  # Claude Code's, Codex's and Gemini's own logs
    result = totals(town, by=args.by)
    budget = budget_state(town)
    if args.json:
        emit_json({**result, "budget": budget})
        return 0
    print(
        f"{result['tokens']:,} tokens ({result['input_tokens']:,} in, "
        f"{result['output_tokens']:,} out) in {result['calls']} model calls, "
        f"about ${result['usd']:.2f}"
    )
    limits = []
    if budget["max_tokens"]:
        limits.append(f"{budget['max_tokens']:,} tokens")
    if budget["max_usd"]:
        limits.append(f"${budget['max_usd']:.2f}")
    if limits:
        state = f"OVER: {budget['reason']}" if budget["over"] else "within budget"
        print(f"budget: {' / '.join(limits)}; {state}")
    else:
        print("budget: none set ([budget] max_tokens / max_usd in town.toml)")
    for key, group in sorted((result.get("by") or {}).items(), key=lambda kv: -kv[1]["usd"]):
        tokens, dollars, calls = group["tokens"], group["usd"], group["calls"]
        print(f"  {key:30s} {tokens:>10,} tokens  ${dollars:.2f}  {calls} calls")
    return 0


def cmd_version(args: argparse.Namespace) -> int:
    from gastown_tui import __version__

    print(f"gt {__version__}")
    return 0


def scheduler_lines(scheduler: dict | None) -> list[str]:
    """Slots held against `[scheduler] max_polecats`, and slings queued for a slot."""
    if not scheduler or (not scheduler.get("max_polecats") and not scheduler.get("queued")):
        return []
    limit = scheduler["max_polecats"] or "no limit"
    lines = [f"  scheduler: {scheduler['holding']} holding work (max_polecats {limit})"]
    if scheduler.get("queued"):
        lines.append(f"    queued: {' '.join(scheduler['queued'])}")
    return lines
