"""gt signal: an agent's program tells the town what it is doing, from its own hooks.

    gt signal waiting      # Claude Code's Notification hook: a permission prompt or question
    gt signal turn-ended   # Claude Code's Stop hook: its turn is over

Run by the agent's program, not by people: it records the signal for GT_AGENT at once in
`.runtime/signals/` (town/signals.py), where the town's observer picks it up within a moment
(dispatch/live.py). With the hook's JSON on stdin, Claude Code's `notification_type` and
`message` are kept: an `idle_prompt` notification (60 s at its prompt) is a turn that ended,
not a question. It imports the standard library only and opens no store: a hook runs at
every turn. It is not a heartbeat (town.touch_heartbeat): a program saying it waits has not
done any work.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import sys
import time

KINDS = ("waiting", "turn-ended")
STDIN_LIMIT = 65536
STDIN_WAIT = 0.5  # seconds: a hook's JSON is written at once; never hang on an open pipe


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "signal",
        parents=[common],
        help="record what this agent's program is doing (for its hooks)",
        description="Record, for GT_AGENT, that its program waits for a person or ended its "
        "turn. Installed as Claude Code's Notification and Stop hooks.",
    )
    p.add_argument("kind", choices=KINDS, help="waiting | turn-ended")
    p.add_argument("-m", "--message", default=None, help="what it waits for (else from stdin)")
    p.set_defaults(func=cmd_signal)


def _hook_input() -> dict[str, object]:
    """The JSON a hook gets on stdin (Claude Code), or {} without one."""
    stdin = sys.stdin
    try:
        if stdin is None or stdin.isatty():
            return {}
        ready, _, _ = select.select([stdin], [], [], STDIN_WAIT)
        if not ready:
            return {}
        raw = os.read(stdin.fileno(), STDIN_LIMIT)
        doc = json.loads(raw.decode("utf-8", "replace") or "{}")
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def cmd_signal(args: argparse.Namespace) -> int:
    from gastown_tui.town.errors import GtError
    from gastown_tui.town.paths import NAME_RE, default_town_root
    from gastown_tui.town.signals import Signal, record

    agent = os.environ.get("GT_AGENT", "")
    rig, _, name = agent.partition("/")
    if not agent:
        raise GtError(
            "gt signal records a signal for the agent in GT_AGENT, which is not set here",
            hint="it runs inside an agent's window (from its program's hooks)",
        )
    if not (NAME_RE.fullmatch(rig) and NAME_RE.fullmatch(name)):
        raise GtError(
            f"GT_AGENT {agent[:80]!r} is not an agent address",
            hint="an address is RIG/NAME, e.g. alpha/furiosa",
        )
    root = default_town_root(getattr(args, "town", None))
    if not (root / "town.toml").is_file():
        raise GtError(f"{root} is not a town (no town.toml)", hint="set GT_TOWN or pass --town")
    hook = _hook_input()
    kind = args.kind
    kind_word = str(hook.get("notification_type") or "")
    if kind == "waiting" and kind_word == "idle_prompt":
        kind = "turn-ended"  # sitting at its own prompt is the end of a turn, not a question
    message = args.message if args.message is not None else str(hook.get("message") or "")
    record(
        root / ".runtime",
        Signal(agent=agent, kind=kind, at=time.time(), message=message[:300], type=kind_word),
    )
    return 0
