"""gt notify: see where notices go (`[notify]` in town.toml) and send a test one.

`gt notify test` delivers one notice to every sink (or `--sink NAME`) right away, in the
foreground, with the same requests the supervisor makes, and says which sinks took it.
"""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "notify", parents=[common], help="notification sinks ([notify] in town.toml)"
    )
    nsub = p.add_subparsers(dest="notify_command", metavar="ACTION", required=True)
    q = nsub.add_parser("list", parents=[common], help="the sinks, their events and quiet hours")
    q.set_defaults(func=cmd_list)
    q = nsub.add_parser("test", parents=[common], help="send a test notice to the sinks now")
    q.add_argument("--sink", metavar="NAME", help="only this sink")
    q.set_defaults(func=cmd_test)


def _config(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from gastown_tui.commands.common import open_town

    town = open_town(args)
    return town, town.config.notify


def cmd_list(args: argparse.Namespace) -> int:
    from gastown_tui.town.notify_config import EVENTS

    _town, config = _config(args)
    if not config.sinks:
        print("no sinks: add [notify.sinks.NAME] to town.toml (see the README, Notifications)")
        return 0
    for sink in config.sinks:
        events = (
            "all events" if sink.events == frozenset(EVENTS) else ", ".join(sorted(sink.events))
        )
        quiet = ""
        if sink.quiet is not None:
            q = sink.quiet
            quiet = (
                f"; quiet {q.start // 60:02d}:{q.start % 60:02d}-{q.end // 60:02d}:{q.end % 60:02d}"
            )
        where = f" {sink.url}" + (f" topic {sink.topic}" if sink.topic else "") if sink.url else ""
        print(f"{sink.name}: {sink.type}{where}; {events}{quiet}")
    return 0


def cmd_test(args: argparse.Namespace) -> int:
    from gastown_tui.supervise.notify_route import Notice, SinkError, send
    from gastown_tui.town.errors import GtError

    town, config = _config(args)
    sinks = [s for s in config.sinks if args.sink in (None, s.name)]
    if not sinks:
        if args.sink:
            names = ", ".join(s.name for s in config.sinks) or "none"
            raise GtError(f"no sink named {args.sink!r}", hint=f"sinks: {names}")
        raise GtError("no sinks in [notify]", hint="add [notify.sinks.NAME] to town.toml")
    notice = Notice(
        "waiting", "test", "test notice", "gt notify test: this sink works", town.config.name
    )
    tmux = None
    if any(s.type == "bell" for s in sinks):
        from gastown_tui.dispatch.tmuxfor import tmux_for

        tmux = tmux_for(town)
    failed = 0
    for sink in sinks:
        try:
            send(sink, notice, config.timeout, tmux)
        except SinkError as exc:
            failed += 1
            print(f"{sink.name}: FAILED: {exc}", file=sys.stderr)
        else:
            print(f"{sink.name}: sent")
    return 1 if failed else 0
