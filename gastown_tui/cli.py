"""The `gt` command.

Commands live in `gastown_tui/commands/<area>.py`; each module has `register(subparsers,
common)`. Agents call `gt` all day, so a call pays only for its own command: only the module of
the command being run is imported and only that command's parser is built (all of them only for
help or an unknown command), the lines agents type most are read without argparse at all
(commands/quick.py), and heavy libraries are imported inside handlers (tests/test_cli_cheap.py
checks which modules the hot commands load; bench/bench_cli.py times them).
"""

from __future__ import annotations

import importlib
import os
import sys

TYPE_CHECKING = False  # typing and argparse are ~4 ms of a call commands/quick.py reads
if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence
    from typing import Any

    from gastown_tui.commands.argparsing import UsageError

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
    "mr": "mr",
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
    "mayor": "mayor",
    "signal": "signal",
}


def _exists(module: str) -> bool:
    import importlib.util  # only for help and unknown commands

    return importlib.util.find_spec(f"gastown_tui.commands.{module}") is not None


def _load(module: str) -> bool:
    """Import a command module; False if this install does not have it."""
    name = f"gastown_tui.commands.{module}"
    try:
        importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name != name:
            raise
        return False
    return True


def _module_names() -> list[str]:
    return [name for name in dict.fromkeys(COMMANDS.values()) if _exists(name)]


class _Skipped:
    """Stands in for the parser of a command that is not being run: every call does nothing."""

    def __getattr__(self, name: str) -> Any:
        return self._ignore

    def _ignore(self, *args: Any, **kwargs: Any) -> _Skipped:
        return self


class _OnlyCommand:
    """The top-level sub-parsers as a module's `register` sees them when one command runs:
    only the parser of that command is built (a module registers up to 15)."""

    def __init__(self, sub: argparse._SubParsersAction, word: str) -> None:
        object.__setattr__(self, "_sub", sub)
        object.__setattr__(self, "_word", word)

    def add_parser(self, name: str, **kwargs: Any) -> Any:
        if name != self._word and self._word not in kwargs.get("aliases", ()):
            return _Skipped()
        return self._sub.add_parser(name, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sub, name)

    def __setattr__(self, name: str, value: Any) -> None:  # common.py's add_intermixed_parser
        setattr(self._sub, name, value)


# Commands that hand the terminal to a full-screen program (Textual, tmux attach).
# (`watch` homes and clears the screen itself and escapes what it shows: commands/watch.py.)
RAW_TERMINAL = frozenset({"tui", "demo", "attach", "watch"})


class _SafeWriter:
    """stdout/stderr for a command: whatever text it prints goes through town/display.py's
    `safe` (newlines and tabs kept), so no output path can hand stored ESC/OSC/bidi bytes to
    the terminal. Commands escape their fields themselves too; this is the net under them."""

    def __init__(self, stream: Any) -> None:
        from gastown_tui.town.display import safe_lines

        self._stream = stream
        self._safe = safe_lines

    def write(self, text: str) -> int:
        self._stream.write(self._safe(text))
        return len(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _usage_line(exc: UsageError, word: str | None) -> str:
    from gastown_tui.town.display import safe

    prog = exc.prog if exc.prog != "gt" or not word or word not in COMMANDS else f"gt {word}"
    message = " ".join(str(exc).split())  # argparse wraps long choices lists
    return f"gt: error: {safe(message)} (see {prog} --help)"


# Arguments that may be given as "" on purpose (an empty body, no reason). Elsewhere an empty
# string is a mistake (`--rig "$RIG"` with RIG unset) that would otherwise read as "not given"
# and quietly mean the default rig, inbox or town. Titles and subjects have their own errors.
EMPTY_OK = frozenset(
    {"description", "body", "reason", "note", "title", "subject", "message", "text"}
    | {"token"}  # gt serve says "empty token" itself
)


def _empty_argument(
    parser: argparse.ArgumentParser, argv: list[str], args: argparse.Namespace
) -> str | None:
    """The first argument given as an empty string where that cannot be meant, named."""
    if "" not in argv:
        return None
    for name, value in vars(args).items():
        if name in EMPTY_OK:
            continue
        values = value if isinstance(value, list) else [value]
        if any(v == "" for v in values):
            return f"--{name.replace('_', '-')}" if name in _option_dests(parser) else name
    return None


def _option_dests(parser: argparse.ArgumentParser) -> set[str]:
    import argparse

    dests: set[str] = set()
    stack = [parser]
    while stack:
        current = stack.pop()
        for action in current._actions:
            if action.option_strings:
                dests.add(action.dest)
            if isinstance(action, argparse._SubParsersAction):
                stack.extend(action.choices.values())
    return dests


def _prog(parser: argparse.ArgumentParser, argv: list[str]) -> str:
    """The prog of the deepest sub-command named in `argv` (`gt mail send`), for a hint."""
    import argparse

    current = parser
    for token in argv:
        subs = [a for a in current._actions if isinstance(a, argparse._SubParsersAction)]
        if subs and token in subs[0].choices:
            current = subs[0].choices[token]
    return current.prog


def build_parser(only: list[str] | None = None, word: str | None = None) -> argparse.ArgumentParser:
    """The `gt` parser with the commands of the modules `only` (default: all); with `word`,
    only the parser of that command."""
    import argparse

    from gastown_tui.commands.argparsing import GtArgumentParser

    common = GtArgumentParser(add_help=False)
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
    parser = GtArgumentParser(
        prog="gt",
        parents=[common],
        description="Gas Town: run a town of AI agents. With no command, opens the app.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    target: Any = sub if word is None else _OnlyCommand(sub, word)
    for name in only or _module_names():
        module = importlib.import_module(f"gastown_tui.commands.{name}")
        module.register(target, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """`gt ARGV`; with no `argv` (a `gt` process), the town's command server may run it."""
    from gastown_tui.cmdwire import command_word, warm_call

    args_list = list(sys.argv[1:] if argv is None else argv)
    if argv is None:
        warm_call(args_list)
    word = command_word(args_list)
    module = COMMANDS.get(word or "")
    if module is not None and not _load(module):
        module = None
    only = word  # the one command whose parser is built
    if word is None and not any(a in ("-h", "--help") for a in args_list) and _exists("app"):
        if _exists("mayor"):  # no town yet: offer one, with the mayor (commands/mayor.py)
            from gastown_tui.commands.mayor import first_run

            town_at = (
                args_list[args_list.index("--town") + 1] if "--town" in args_list[:-1] else None
            )
            code = first_run(town_at)
            if code is not None:
                return code
        args_list.append("tui")  # `gt` alone opens the app
        module, only = "app", "tui"
    # Bytes that are not UTF-8 arrive as lone surrogates: nothing could store or print them.
    for arg in args_list:
        if any("\ud800" <= ch <= "\udfff" for ch in arg):
            from gastown_tui.town.display import safe

            print(
                f"gt: error: argument '{safe(arg)}' is not UTF-8 text (see gt --help)",
                file=sys.stderr,
            )
            return 2
    # A town holds agents' mail and code: whatever this process (and the tmux server and
    # agents it starts) creates is private. town/storage/files.py also sets modes explicitly.
    os.umask(0o077)
    # The lines agents type all day are read without argparse; any other (help, errors,
    # unusual forms) goes to argparse (commands/quick.py).
    quick = None
    if module is not None and only == word:
        from gastown_tui.commands.quick import parse as quick_parse

        quick = quick_parse(args_list)
    if quick is not None:
        args, spec = quick
        args.func = getattr(
            importlib.import_module(f"gastown_tui.commands.{spec.module}"), spec.func
        )
    else:
        from gastown_tui.commands.argparsing import UsageError

        parser = build_parser([module], only) if module else build_parser()
        try:
            args = parser.parse_args(args_list)
        except UsageError as exc:
            print(_usage_line(exc, word), file=sys.stderr)
            return 2
        except SystemExit as exc:  # --help, --version: argparse printed what was asked
            return exc.code if isinstance(exc.code, int) else 0
        empty = _empty_argument(parser, args_list, args)
        if empty is not None:
            print(
                f"gt: error: {empty} is empty (see {_prog(parser, args_list)} --help)",
                file=sys.stderr,
            )
            return 2
    debug = bool(getattr(args, "debug", False)) or bool(os.environ.get("GT_DEBUG"))
    handler = getattr(args, "func", None)
    if handler is None:
        print("gt: error: no command given (see gt --help)", file=sys.stderr)
        return 2
    from gastown_tui.town.display import safe
    from gastown_tui.town.errors import GtError

    saved = sys.stdout, sys.stderr
    if word not in RAW_TERMINAL:
        sys.stdout, sys.stderr = _SafeWriter(sys.stdout), _SafeWriter(sys.stderr)
    try:
        result = handler(args)
    except GtError as exc:
        if debug:
            raise
        print(f"gt: error: {safe(exc)}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("gt: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `gt bead list | head`: the reader went away; not an error.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except OSError as exc:
        # A full disk, a read-only or vanished folder: the system's words and the path, on one
        # line. Exit 1: the request was valid; nothing it reported done was lost.
        if debug:
            raise
        where = f": {exc.filename}" if exc.filename else ""
        print(f"gt: error: {exc.strerror or exc}{where}", file=sys.stderr)
        return 1
    except Exception as exc:
        if debug:
            raise
        print(
            f"gt: internal error: {type(exc).__name__}: {safe(exc)}"
            " (rerun with --debug for details)",
            file=sys.stderr,
        )
        return 1
    finally:
        sys.stdout, sys.stderr = saved
    return int(result or 0)


if __name__ == "__main__":
    raise SystemExit(main())
