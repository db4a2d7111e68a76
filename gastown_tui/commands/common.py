"""Helpers shared by the command modules: opening the town, printing tables and JSON."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Sequence

TYPE_CHECKING = False  # typing and argparse stay off the hot path (commands/quick.py)

if TYPE_CHECKING:
    import argparse
    from typing import Any

    from gastown_tui.town.town import Town


def open_town(args: argparse.Namespace) -> Town:
    """Open the town named by --town / GT_TOWN / ~/gt, wired as every entry point is
    (gastown_tui/compose.py), and count the call as agent activity."""
    from gastown_tui.compose import open_town as composed

    town = composed(getattr(args, "town", None))
    agent = os.environ.get("GT_AGENT")
    if agent:
        town.touch_heartbeat(agent, command=getattr(args, "command", None))
    return town


def emit_json(value: Any) -> None:
    from gastown_tui.town.display import json_safe
    from gastown_tui.town.jsoncodec import dumps_pretty

    data = dumps_pretty(value)
    sys.stdout.buffer.write(json_safe(data) + b"\n")
    sys.stdout.flush()


def emit_table(headers: Sequence[str], rows: Iterable[Sequence[Any]], max_width: int = 60) -> None:
    """Plain aligned columns; the last column is never padded or cut."""
    from gastown_tui.town.display import safe

    # One line per row, and stored text shown, never obeyed by the terminal.
    cells = [[("" if v is None else safe(v)) for v in row] for row in rows]
    if not cells:
        return
    widths = [len(h) for h in headers]
    for row in cells:
        for i, value in enumerate(row[:-1]):
            widths[i] = min(max(widths[i], len(value)), max_width)
    lines = ["  ".join(h.ljust(widths[i]) for i, h in enumerate(headers[:-1])) + "  " + headers[-1]]
    for row in cells:
        parts = [v[:max_width].ljust(widths[i]) for i, v in enumerate(row[:-1])]
        lines.append("  ".join(parts) + "  " + row[-1])
    sys.stdout.write("\n".join(line.rstrip() for line in lines) + "\n")


def add_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON (documented, stable keys)")


def read_body(message: str | None, use_stdin: bool) -> str | None:
    if use_stdin:
        raw = sys.stdin.buffer.read()
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            from gastown_tui.town.errors import GtError

            raise GtError(
                f"standard input is not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset "
                f"{exc.start})",
                hint="nothing was sent; convert it first, e.g. with iconv",
            ) from None
    return message


class _Intermixed:
    """Options may come after the positionals (`gt nudge AGENT --queue MSG`): plain argparse
    takes AGENT and an optional MESSAGE in one go and then rejects MSG as extra."""

    _intermixing = False

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
        if self._intermixing:
            return super().parse_known_args(args, namespace)  # type: ignore[misc]
        self._intermixing = True
        try:
            return self.parse_known_intermixed_args(args, namespace)  # type: ignore[attr-defined]
        finally:
            self._intermixing = False


def add_intermixed_parser(sub: Any, name: str, **kwargs: Any) -> argparse.ArgumentParser:
    """`sub.add_parser(name, …)` whose options may follow its positionals."""
    base = sub._parser_class
    sub._parser_class = type(f"Intermixed{base.__name__}", (_Intermixed, base), {})
    try:
        return sub.add_parser(name, **kwargs)
    finally:
        sub._parser_class = base
