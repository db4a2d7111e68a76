"""gt daemon, gt up, gt down: supervision without the app."""

from __future__ import annotations

import argparse
import sys

from gastown_tui.commands.common import open_town


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "daemon", parents=[common], help="run the witness, deacon, refinery and dogs headless"
    )
    p.add_argument("--once", action="store_true", help="one cycle of every patrol, then exit")
    p.set_defaults(func=cmd_daemon)

    p = sub.add_parser("up", parents=[common], help="start the daemon in the town's tmux server")
    p.set_defaults(func=cmd_up)

    p = sub.add_parser("down", parents=[common], help="stop the daemon (agents keep running)")
    p.set_defaults(func=cmd_down)


def cmd_daemon(args: argparse.Namespace) -> int:
    import threading

    from gastown_tui.dispatch.tmuxfor import tmux_for
    from gastown_tui.supervise.daemon import install_signal_handlers, run_daemon

    town = open_town(args)
    stop = threading.Event()
    install_signal_handlers(stop)

    def log(line: str) -> None:
        print(line, flush=True)

    return run_daemon(town, tmux_for(town), once=args.once, stop=stop, log=log)


def cmd_up(args: argparse.Namespace) -> int:
    from gastown_tui.dispatch.tmuxfor import tmux_for
    from gastown_tui.supervise.daemon import start_detached

    town = open_town(args)
    print(start_detached(town, tmux_for(town)))
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    from gastown_tui.dispatch.tmuxfor import tmux_for
    from gastown_tui.supervise.daemon import stop_daemon

    town = open_town(args)
    message = stop_daemon(town, tmux_for(town))
    print(message, file=sys.stdout)
    return 0
