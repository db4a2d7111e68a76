"""gt trail (recent activity) and gt feed --plain (stream it like tail -f)."""

from __future__ import annotations

import argparse
import sys
import time

from gastown_tui.commands.common import add_json, emit_json, open_town

MAX_SINCE = 36500 * 86400.0


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("trail", parents=[common], help="recent activity")
    p.add_argument("--since", default="1h", help="how far back: 30m, 1h, 2d (default 1h)")
    p.add_argument("--rig")
    p.add_argument("--actor")
    p.add_argument("--type", action="append", dest="types", help="event type or prefix")
    p.add_argument("-n", "--limit", type=int, help="at most this many, newest")
    add_json(p)
    p.set_defaults(func=cmd_trail)

    p = sub.add_parser("feed", parents=[common], help="stream events")
    p.add_argument("--plain", action="store_true", help="print lines instead of opening the app")
    p.add_argument("--follow", "-f", action="store_true", help="keep printing new events")
    p.add_argument("-n", "--lines", type=int, default=20, help="events shown first (default 20)")
    p.add_argument("--interval", type=float, default=0.2, help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_feed)


def format_event(event) -> str:  # Event
    where = "/".join(x for x in (event.rig, event.bead) if x)
    parts = [event.ts[:19].replace("T", " "), event.type.ljust(16), event.actor or "-"]
    if where:
        parts.append(where)
    line = "  ".join(parts)
    if event.msg:
        line += "  " + event.msg.replace("\n", " ")
    from gastown_tui.town.display import safe

    return safe(line)  # stored text is shown, never obeyed by the terminal


def cmd_trail(args: argparse.Namespace) -> int:
    from gastown_tui.town.clock import parse_duration
    from gastown_tui.town.errors import GtError

    try:
        window = parse_duration(args.since)
    except ValueError:
        raise GtError(f"--since {args.since!r} is not a duration", hint="e.g. 30m, 1h, 2d")
    if window > MAX_SINCE:
        raise GtError(f"--since {args.since!r} is too far back", hint="at most 36500d (100 years)")
    if args.limit is not None and args.limit < 0:
        raise GtError("--limit must not be negative")
    town = open_town(args)
    events = town.events.read(
        since=town.clock.now() - window,
        limit=args.limit,
        rig=args.rig,
        actor=args.actor,
        types=args.types,
    )
    if args.json:
        emit_json([e.to_dict() for e in events])
        return 0
    for event in events:
        print(format_event(event))
    if not events:
        print(f"no activity in the last {args.since}", file=sys.stderr)
    return 0


def cmd_feed(args: argparse.Namespace) -> int:
    from gastown_tui.town.errors import GtError

    if not args.plain and sys.stdout.isatty():
        raise GtError("the live feed pane is in the app", hint="run `gt`, or `gt feed --plain`")
    if args.lines < 0:
        raise GtError("--lines must not be negative")
    town = open_town(args)
    events, follower = town.events.tail_and_follow(args.lines)
    for event in events:
        print(format_event(event))
    sys.stdout.flush()
    if not args.follow:
        return 0
    try:
        while True:
            for event in follower.poll():
                print(format_event(event))
            sys.stdout.flush()
            time.sleep(args.interval)
    except KeyboardInterrupt:
        return 0
