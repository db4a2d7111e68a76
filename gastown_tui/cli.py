"""The `gt` command.

Commands live in `gastown_tui/commands/<area>.py`; each module has `register(subparsers,
common)`. To keep a CLI call fast, only the module of the command being run is imported (all of
them only for help or an unknown command), and heavy libraries are imported inside handlers.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys
from collections.abc import Sequence

# command word -> module under gastown_tui.commands that registers it
COMMANDS: dict[str, str] = {
    "init": "town_cmds",
    "doctor": "town_cmds",
    "backup": "town_cmds",
    "status": "town_cmds",
    "version": "town_cmds",
    "usage": "town_cmds",
    "rig": "rigs",
    "bead": "beads",
    "ready": "beads",
    "trail": "events",
    "feed": "events",
    "polecat": "polecats",
    "sling": "polecats",
    "prime": "polecats",
    "hook": "polecats",
    "done": "polecats",
    "nudge": "polecats",
    "answer": "polecats",
    "peek": "polecats",
    "attach": "polecats",
    "mail": "mail",
    "escalate": "mail",
    "convoy": "convoys",
    "role": "formulas",
    "formula": "formulas",
    "schedule": "formulas",
    "daemon": "supervise",
    "up": "supervise",
    "down": "supervise",
    "tui": "app",
    "demo": "app",
    "serve": "serve",
    "watch": "watch",
    "notify": "notify",
}


def _exists(module: str) -> bool:
    return importlib.util.find_spec(f"gastown_tui.commands.{module}") is not None


def _module_names() -> list[str]:
    return [name for name in dict.fromkeys(COMMANDS.values()) if _exists(name)]


def _command_word(argv: Sequence[str]) -> str | None:
    skip = False
    for token in argv:
        if skip:
            skip = False
            continue
        if token == "--town":
            skip = True
            continue
        if token.startswith("-"):
            continue
        return token
    return None


def build_parser(only: list[str] | None = None) -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--town",
        metavar="DIR",
        default=argparse.SUPPRESS,
        help="the town folder (default: $GT_TOWN or ~/gt)",
    )
    common.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help="show tracebacks",
    )
    parser = argparse.ArgumentParser(
        prog="gt",
        parents=[common],
        description="Gas Town: run a town of AI agents. With no command, opens the app.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in only or _module_names():
        module = importlib.import_module(f"gastown_tui.commands.{name}")
        module.register(sub, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    word = _command_word(args_list)
    module = COMMANDS.get(word or "")
    if module is not None and not _exists(module):
        module = None
    if word is None and not any(a in ("-h", "--help") for a in args_list) and _exists("app"):
        args_list.append("tui")  # `gt` alone opens the app
        module = "app"
    parser = build_parser([module] if module else None)
    args = parser.parse_args(args_list)
    debug = bool(getattr(args, "debug", False)) or bool(os.environ.get("GT_DEBUG"))
    handler = getattr(args, "func", None)
    if handler is None:
        parser.print_help()
        return 2
    from gastown_tui.town.errors import GtError

    try:
        result = handler(args)
    except GtError as exc:
        if debug:
            raise
        print(f"gt: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("gt: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `gt bead list | head`: the reader went away; not an error.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except Exception as exc:
        if debug:
            raise
        print(
            f"gt: internal error: {type(exc).__name__}: {exc} (rerun with --debug for details)",
            file=sys.stderr,
        )
        return 1
    return int(result or 0)


if __name__ == "__main__":
    raise SystemExit(main())
