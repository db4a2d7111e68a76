"""gt polecat stop|kill|restart|pause|thaw|release: a person's control of running agents
(dispatch/control.py). Registered under `gt polecat` by commands/polecats.py."""

from __future__ import annotations

import argparse
from typing import Any

from gastown_tui.commands.common import add_json, emit_json, open_town

HELP = {
    "stop": "interrupt the agent's turn (Escape / Ctrl-C); it stays up, hook unchanged",
    "kill": "save its work, close its window; the hook stays, so the witness restarts it",
    "restart": "save its work and start it again on its hook now",
    "release": "save its work, close its window, bead back to ready (branch kept)",
}


def register_actions(psub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    for action, text in HELP.items():
        p = psub.add_parser(action, parents=[common], help=text)
        p.add_argument("agent", metavar="AGENT")
        add_json(p)
        p.set_defaults(func=cmd_control, control_action=action)
    p = psub.add_parser(
        "pause", parents=[common], help="stop an agent's processes (SIGSTOP); the witness waits"
    )
    p.add_argument("agent", nargs="?", metavar="AGENT")
    p.add_argument("--all", action="store_true", help="every polecat (estop)")
    add_json(p)
    p.set_defaults(func=cmd_pause, control_action="pause")
    p = psub.add_parser("thaw", parents=[common], help="continue paused agents (SIGCONT)")
    p.add_argument("agent", nargs="?", metavar="AGENT")
    p.add_argument("--all", action="store_true", help="every paused polecat")
    add_json(p)
    p.set_defaults(func=cmd_pause, control_action="thaw")


def _emit(args: argparse.Namespace, results: list[Any]) -> int:
    if args.json:
        emit_json([r.to_dict() for r in results])
    else:
        for result in results:
            print(result.detail)
        if not results:
            print("nothing to do")
    return 0


def cmd_control(args: argparse.Namespace) -> int:
    from gastown_tui.dispatch import control
    from gastown_tui.dispatch.tmuxfor import tmux_for

    town = open_town(args)
    action = getattr(control, args.control_action)
    return _emit(args, [action(town, tmux_for(town), args.agent)])


def cmd_pause(args: argparse.Namespace) -> int:
    from gastown_tui.dispatch import control
    from gastown_tui.dispatch.tmuxfor import tmux_for
    from gastown_tui.town.errors import GtError

    if bool(args.agent) == bool(args.all):
        raise GtError(f"gt polecat {args.control_action} takes one AGENT or --all")
    town = open_town(args)
    action = getattr(control, args.control_action)
    return _emit(args, action(town, tmux_for(town), args.agent, every=args.all))
