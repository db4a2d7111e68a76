"""The command lines agents type all day, read without argparse (issue 12: importing argparse
and building one command's parser is ~5 ms of a 30 ms call).

Only plain, well-formed lines are read here: the exact option strings below, each value a
separate word not starting with `-`, the positionals in one run (anywhere, for a parser that
takes options after its positionals: commands/common.py `add_intermixed_parser`). Anything
else (`--help`, `--opt=value`, an abbreviation, `--`, an empty argument, a missing or unknown
value, a wrong count) returns None and cli.py hands the line to argparse, so help and every
error read exactly as before. The result is the namespace argparse would build: the specs
mirror the `register` functions, and tests/test_cli_cheap.py checks both against each other
and the two parsers against each other on many lines.
"""

from __future__ import annotations

from types import SimpleNamespace

TYPE_CHECKING = False  # typing's import is ~2 ms of every call (tests/test_cli_cheap.py)
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

VALUE, FLAG, APPEND = "value", "flag", "append"
ONE, OPTIONAL, MANY = "1", "?", "+"
# The common options every parser takes (cli.py): default SUPPRESS, so set only when given.
COMMON = {"--town": ("town", VALUE), "--debug": ("debug", FLAG)}


class Spec:
    """One command: its words, handler, positionals, options and argparse's defaults."""

    __slots__ = ("defaults", "func", "intermixed", "module", "options", "positionals", "words")

    def __init__(
        self,
        words: tuple[str, ...],
        module: str,
        func: str,
        positionals: tuple[tuple[str, str], ...],
        options: dict[str, tuple[str, str, Any]],
        defaults: dict[str, Any],
        intermixed: bool = False,
    ) -> None:
        self.words = words
        self.module = module  # under gastown_tui.commands
        self.func = func  # its handler, as `set_defaults(func=...)` names it
        self.positionals = positionals  # (dest, ONE | OPTIONAL | MANY), in order
        self.options = options  # option string -> (dest, VALUE | FLAG | APPEND, choices)
        self.defaults = defaults  # every dest's default, positionals' included
        self.intermixed = intermixed  # options may follow the positionals


AGENT = {"--agent": ("agent", VALUE, None)}
JSON = {"--json": ("json", FLAG, None)}
# What the subparsers' `dest` records for the words (cli.py's `command`, then the area's).
SPECS: dict[tuple[str, ...], Spec] = {
    spec.words: spec
    for spec in (
        Spec(("prime",), "polecats", "cmd_prime", (), AGENT, {"agent": None}),
        Spec(("hook",), "polecats", "cmd_hook", (), AGENT | JSON, {"agent": None, "json": False}),
        Spec(
            ("done",),
            "polecats",
            "cmd_done",
            (),
            {
                "--status": ("status", VALUE, ("completed", "escalated", "deferred")),
                "-m": ("note", VALUE, None),
                "--message": ("note", VALUE, None),
            }
            | AGENT
            | JSON,
            {"status": "completed", "note": "", "agent": None, "json": False},
        ),
        Spec(
            ("nudge",),
            "polecats",
            "cmd_nudge",
            (("agent", ONE), ("message", OPTIONAL)),
            {"--stdin": ("stdin", FLAG, None), "--queue": ("queue", FLAG, None)} | JSON,
            {"message": None, "stdin": False, "queue": False, "json": False},
            intermixed=True,
        ),
        Spec(
            ("sling",),
            "polecats",
            "cmd_sling",
            (("items", MANY),),
            {
                "--agent": ("runtime", VALUE, None),
                "--to": ("to", VALUE, None),
                "--rig": ("rig", VALUE, None),
                "--convoy": ("convoy", VALUE, None),
                "--force": ("force", FLAG, None),
            }
            | JSON,
            {
                "runtime": None,
                "to": None,
                "rig": None,
                "convoy": None,
                "force": False,
                "json": False,
            },
        ),
        Spec(
            ("mail", "send"),
            "mail",
            "cmd_send",
            (("to", MANY),),
            {
                "-s": ("subject", VALUE, None),
                "--subject": ("subject", VALUE, None),
                "-m": ("body", VALUE, None),
                "--message": ("body", VALUE, None),
                "--stdin": ("stdin", FLAG, None),
                "--type": ("type", VALUE, ("task", "escalation", "notification", "reply")),
                "--priority": ("priority", VALUE, ("urgent", "high", "normal", "low")),
                "--cc": ("cc", APPEND, None),
            }
            | JSON,
            {
                "subject": None,
                "body": None,
                "stdin": False,
                "type": "notification",
                "priority": "normal",
                "cc": [],
                "json": False,
            },
        ),
        Spec(
            ("bead", "create"),
            "beads",
            "cmd_create",
            (("title", ONE),),
            {
                "-d": ("description", VALUE, None),
                "--description": ("description", VALUE, None),
                "-p": ("priority", VALUE, None),
                "--priority": ("priority", VALUE, None),
                "-t": ("type", VALUE, None),
                "--type": ("type", VALUE, None),
                "-l": ("labels", APPEND, None),
                "--label": ("labels", APPEND, None),
                "--rig": ("rig", VALUE, None),
                "--blocked-by": ("blocked_by", APPEND, None),
                "--dep": ("blocked_by", APPEND, None),
            }
            | JSON,
            {
                "description": "",
                "priority": "2",
                "type": "task",
                "labels": [],
                "rig": None,
                "blocked_by": [],
                "json": False,
            },
        ),
    )
}
REQUIRED = {("mail", "send"): ("subject",)}  # required=True options
# The `dest` of each word's subparsers: `command` (cli.py), then the area's own.
WORD_DESTS = {"mail": "mail_command", "bead": "bead_command"}


def parse(argv: Sequence[str]) -> tuple[SimpleNamespace, Spec] | None:
    """The namespace argparse would give for `argv` and its spec, or None: let argparse
    read it (help, errors, and every form not read here)."""
    if "" in argv:
        return None  # cli.py's empty-argument check names it
    words: list[str] = []
    given: dict[str, Any] = {}
    i = 0
    # The command's words, with the common options before and between them.
    while i < len(argv):
        token = argv[i]
        if token in COMMON:
            i = _take_common(argv, i, given)
            if i < 0:
                return None
            continue
        if token.startswith("-"):
            return None
        words.append(token)
        i += 1
        if tuple(words) in SPECS or len(words) == 2:
            break
        if token not in WORD_DESTS:
            return None
    spec = SPECS.get(tuple(words))
    if spec is None:
        return None
    rest = list(argv[i:])
    values = {k: list(v) if isinstance(v, list) else v for k, v in spec.defaults.items()}
    positionals: list[str] = []
    runs = 0
    previous_positional = False
    j = 0
    while j < len(rest):
        token = rest[j]
        if token in COMMON:
            j = _take_common(rest, j, given)
            if j < 0:
                return None
            previous_positional = False
            continue
        option = spec.options.get(token)
        if option is not None:
            dest, kind, choices = option
            if kind == FLAG:
                values[dest] = True
                j += 1
            else:
                if j + 1 >= len(rest) or rest[j + 1].startswith("-"):
                    return None
                value = rest[j + 1]
                if choices is not None and value not in choices:
                    return None
                if kind == APPEND:
                    values[dest].append(value)
                else:
                    values[dest] = value
                j += 2
            previous_positional = False
            continue
        if token.startswith("-"):
            return None  # an unknown option, `--`, `-`, a negative number: argparse's call
        if not previous_positional:
            runs += 1
        previous_positional = True
        positionals.append(token)
        j += 1
    if runs > 1 and not spec.intermixed:
        return None
    if not _assign(spec, positionals, values):
        return None
    for dest in REQUIRED.get(spec.words, ()):
        if values[dest] is None:
            return None
    namespace = SimpleNamespace(**given, **values)
    namespace.command = spec.words[0]
    if len(spec.words) == 2:
        setattr(namespace, WORD_DESTS[spec.words[0]], spec.words[1])
    return namespace, spec


def _take_common(argv: Sequence[str], i: int, given: dict[str, Any]) -> int:
    """Read a common option at argv[i]; the next index, or -1 to leave the line to argparse."""
    dest, kind = COMMON[argv[i]]
    if kind == FLAG:
        given[dest] = True
        return i + 1
    if i + 1 >= len(argv) or argv[i + 1].startswith("-"):
        return -1
    given[dest] = argv[i + 1]
    return i + 2


def _assign(spec: Spec, positionals: list[str], values: dict[str, Any]) -> bool:
    """Positionals to their dests as argparse matches them; False on a wrong count."""
    left = list(positionals)
    for index, (dest, nargs) in enumerate(spec.positionals):
        later = len(spec.positionals) - index - 1
        if nargs == ONE:
            if not left:
                return False
            values[dest] = left.pop(0)
        elif nargs == OPTIONAL:
            values[dest] = left.pop(0) if len(left) > later else values.get(dest)
        else:  # MANY: all but what the later ones need
            if len(left) - later < 1:
                return False
            values[dest] = left[: len(left) - later]
            left = left[len(left) - later :]
    return not left
