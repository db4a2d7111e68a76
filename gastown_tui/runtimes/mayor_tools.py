"""The mayor's tools: exactly the town operations it acts through, each run as the real `gt`
command (as GT_AGENT=mayor), so a tool validates its input exactly like the CLI and a bad
argument comes back as the CLI's own error text, with nothing written. Used by the built-in
mayor (runtimes/builtin_mayor.py) and the demo mayor (runtimes/demo_mayor.py).

Arguments are passed as `--option=value` and positionals after `--`, so a value that starts
with `-` is data, never an option. No shell is involved.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

STR = {"type": "string"}
TOOLS: list[dict[str, Any]] = [
    {
        "name": "status",
        "description": "The town as JSON (gt status --json): rigs, beads, polecats, convoys, "
        "mail, budget.",
        "input_schema": {"type": "object", "properties": {}},
    },
    {
        "name": "bead_create",
        "description": "Create a bead (gt bead create). deps: ids of beads that must close "
        "first. Returns the bead as JSON.",
        "input_schema": {
            "type": "object",
            "properties": {
                "title": STR,
                "rig": STR,
                "description": STR,
                "priority": {"type": "integer", "minimum": 0, "maximum": 4},
                "deps": {"type": "array", "items": STR},
            },
            "required": ["title"],
        },
    },
    {
        "name": "convoy_create",
        "description": "Track beads together (gt convoy create). auto: the deacon slings its "
        "ready beads as polecats free up.",
        "input_schema": {
            "type": "object",
            "properties": {
                "title": STR,
                "beads": {"type": "array", "items": STR},
                "auto": {"type": "boolean"},
                "owner": {"type": "string", "description": "told when it lands (overseer)"},
            },
            "required": ["title", "beads"],
        },
    },
    {
        "name": "formula_run",
        "description": "Run a formula (gt formula run): its beads with dependencies and a convoy.",
        "input_schema": {
            "type": "object",
            "properties": {
                "name": STR,
                "rig": STR,
                "vars": {"type": "object", "additionalProperties": STR},
            },
            "required": ["name"],
        },
    },
    {
        "name": "sling",
        "description": "Start a polecat on a ready bead (gt sling BEAD --rig RIG).",
        "input_schema": {
            "type": "object",
            "properties": {"bead": STR, "rig": STR, "convoy": STR, "agent": STR},
            "required": ["bead"],
        },
    },
    {
        "name": "mail_send",
        "description": "Send mail (gt mail send) to overseer, a polecat, <rig>/witness, ...",
        "input_schema": {
            "type": "object",
            "properties": {"to": STR, "subject": STR, "body": STR},
            "required": ["to", "subject", "body"],
        },
    },
    {
        "name": "mail_reply",
        "description": "Answer a message in its thread (gt mail reply ID): how you answer the "
        "overseer.",
        "input_schema": {
            "type": "object",
            "properties": {"id": STR, "body": STR},
            "required": ["id", "body"],
        },
    },
]
NAMES = frozenset(t["name"] for t in TOOLS)


class ToolInputError(ValueError):
    """Arguments of the wrong shape (the CLI would never see them)."""


def _text(args: dict[str, Any], key: str, default: str = "") -> str:
    value = args.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ToolInputError(f"{key} must be a string, not {type(value).__name__}")
    return str(value)


def _list(args: dict[str, Any], key: str) -> list[str]:
    value = args.get(key) or []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ToolInputError(f"{key} must be a list of strings")
    return list(value)


def argv_for(name: str, args: dict[str, Any]) -> list[str]:
    """The `gt` arguments of a tool call. ToolInputError for a wrong shape."""
    if name == "status":
        return ["status", "--json"]
    if name == "bead_create":
        out = ["bead", "create", "--json"]
        if args.get("rig"):
            out.append(f"--rig={_text(args, 'rig')}")
        if args.get("description"):
            out.append(f"--description={_text(args, 'description')}")
        if args.get("priority") is not None:
            out.append(f"--priority={_text(args, 'priority')}")
        out += [f"--dep={dep}" for dep in _list(args, "deps")]
        return [*out, "--", _text(args, "title")]
    if name == "convoy_create":
        out = ["convoy", "create", "--json", f"--owner={_text(args, 'owner', 'overseer')}"]
        if args.get("auto"):
            out.append("--auto")
        return [*out, "--", _text(args, "title"), *_list(args, "beads")]
    if name == "formula_run":
        out = ["formula", "run", "--json"]
        if args.get("rig"):
            out.append(f"--rig={_text(args, 'rig')}")
        variables = args.get("vars") or {}
        if not isinstance(variables, dict):
            raise ToolInputError("vars must be an object of names to values")
        out += [f"--var={k}={_text(variables, k)}" for k in variables]
        return [*out, "--", _text(args, "name")]
    if name == "sling":
        out = ["sling"]
        for key, flag in (("rig", "--rig"), ("convoy", "--convoy"), ("agent", "--agent")):
            if args.get(key):
                out.append(f"{flag}={_text(args, key)}")
        return [*out, "--", _text(args, "bead")]
    if name == "mail_send":
        return [
            "mail", "send", f"--subject={_text(args, 'subject')}",
            f"--message={_text(args, 'body')}", "--", _text(args, "to"),
        ]  # fmt: skip
    if name == "mail_reply":
        return ["mail", "reply", f"--message={_text(args, 'body')}", "--", _text(args, "id")]
    raise ToolInputError(f"unknown tool {name!r}; the tools are: {', '.join(sorted(NAMES))}")


def run_gt(args: list[str], timeout: float = 300.0) -> subprocess.CompletedProcess[str]:
    """The real `gt`, as its own process, with this process's environment (GT_AGENT=mayor)."""
    return subprocess.run(
        [sys.executable, "-m", "gastown_tui", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def call(name: str, args: dict[str, Any]) -> tuple[str, bool]:
    """Run one tool: (the command's output or error text, is_error)."""
    try:
        argv = argv_for(name, dict(args or {}))
    except ToolInputError as exc:
        return f"gt: error: {exc}", True
    try:
        proc = run_gt(argv)
    except subprocess.TimeoutExpired:
        return f"gt {argv[0]} timed out", True
    text = (proc.stdout + proc.stderr).strip()
    return text or f"(gt {argv[0]} printed nothing)", proc.returncode != 0


# -- the loop both mayor programs run ----------------------------------------------------------
def read_lines(timeout: float) -> list[str]:
    """Lines typed into the window (nudges), waiting at most `timeout` for the first."""
    import select

    lines: list[str] = []
    wait = timeout
    try:
        while select.select([sys.stdin], [], [], wait)[0]:
            line = sys.stdin.readline()
            if not line:
                break
            if line.strip():
                lines.append(line.strip())
            wait = 0
    except (OSError, ValueError):
        pass
    return lines


def take_unread(town: Any) -> list[Any]:
    """The mayor's unread mail, oldest first, marked read as it is taken: a message is acted
    on at most once, even if the mayor dies half-way (its answer says what it did)."""
    from gastown_tui.town.errors import GtError
    from gastown_tui.town.mayor import MAYOR

    taken = []
    for message in reversed(town.mail.inbox(MAYOR, unread_only=True)):
        try:
            town.mail.mark_read(message.id, MAYOR)
        except GtError:
            continue
        taken.append(message)
    return taken
