"""gt watch: a plain, self-refreshing one-screen status, for a phone's SSH client.

No Textual (tests/test_watch.py checks the import graph): plain lines, cut to the width of
the terminal (or $COLUMNS when the output is not a terminal), readable at 40 columns.
Redrawn when the store or the feed changes, and every --interval seconds for what only tmux
knows (a polecat that starts waiting). `--once` prints one frame and exits.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gastown_tui.town.polecats import ATTENTION_STATES

if TYPE_CHECKING:
    from gastown_tui.town.town import Town

# Waiting first: it is the state that needs a person now.
STATE_ORDER = (*ATTENTION_STATES, "starting", "working", "idle")
NEEDS_YOU = {"waiting": "waits for you", "zombie": "is dead", "gupp": "ignores its hook",
             "stalled": "is stalled"}  # fmt: skip
DEFAULT_WIDTH = 80
MIN_WIDTH = 20
POLL = 0.5  # seconds between looks at the store's files


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "watch",
        parents=[common],
        help="a plain one-screen status that refreshes itself (fits a phone, 40 columns)",
    )
    p.add_argument("--once", action="store_true", help="print one frame and exit")
    p.add_argument(
        "--interval",
        type=float,
        default=5.0,
        metavar="N",
        help="seconds between refreshes when nothing changes (default 5)",
    )
    p.set_defaults(func=cmd_watch)


def screen_size() -> tuple[int, int | None]:
    """(columns, rows or None): the terminal's when stdout is one, else $COLUMNS/$LINES."""
    if sys.stdout.isatty():
        size = shutil.get_terminal_size((DEFAULT_WIDTH, 24))
        return max(MIN_WIDTH, size.columns), max(5, size.lines)
    try:
        columns = int(os.environ.get("COLUMNS") or DEFAULT_WIDTH)
    except ValueError:
        columns = DEFAULT_WIDTH
    try:
        rows = int(os.environ["LINES"]) if os.environ.get("LINES") else None
    except ValueError:
        rows = None
    return max(MIN_WIDTH, columns), rows


def fit(line: str, width: int) -> str:
    """The line cut to `width` terminal cells (wide characters count two); no control
    characters, so text from agents cannot move the cursor."""
    from rich.cells import cell_len, set_cell_size

    line = "".join(c if c.isprintable() else " " for c in line)
    if cell_len(line) <= width:
        return line
    return set_cell_size(line, width - 1).rstrip() + "…"


def _polecats(town: Town) -> tuple[list[dict[str, Any]], str]:
    """Observed polecats (tmux-derived states) or, without tmux, the stored ones."""
    from gastown_tui.town.errors import GtError

    now = town.clock.now()
    try:
        from gastown_tui.dispatch.observe import observe
        from gastown_tui.dispatch.tmuxfor import tmux_for

        tmux = tmux_for(town)
        if tmux.available():
            return [
                {
                    "address": v.address,
                    "state": v.state,
                    "bead": v.bead_id or "",
                    "quiet": v.idle_for(now),
                }
                for v in observe(town, tmux, now=now)
            ], ""
    except GtError:
        pass
    rows = town.polecats.status_summary()["polecats"]
    return [
        {"address": r["address"], "state": r["state"], "bead": r.get("bead") or "", "quiet": None}
        for r in rows
    ], "(no tmux: stored states)"


def _problems(town: Town, polecats: list[dict[str, Any]], status: dict[str, Any]) -> list[str]:
    out = []
    for row in polecats:
        if row["state"] in NEEDS_YOU:
            bead = f" on {row['bead']}" if row["bead"] else ""
            out.append(f"{row['address']} {NEEDS_YOU[row['state']]}{bead}")
    budget = status.get("budget") or {}
    if budget.get("over"):
        out.append(f"over budget: {budget['reason']}")
    try:
        from gastown_tui.supervise.refinery import failed_merges
        from gastown_tui.supervise.witness import problems as witness_problems

        for merge in failed_merges(town)[:3]:
            out.append(f"merge of {merge.get('bead')} failed ({merge.get('failure', '?')})")
        for problem in witness_problems(town)[:3]:
            out.append(str(problem.get("reason") or problem))
    except Exception:  # a problem list must never stop the status from showing
        pass
    urgent = status["mail"].get("overseer_urgent") or 0
    if urgent:
        out.append(f"{urgent} urgent mail for you")
    if status.get("supervisor") is None:
        out.append("nobody supervises: run `gt up`")
    return out


def frame(town: Town, width: int, rows: int | None = None) -> list[str]:
    """One screen of status, every line at most `width` characters."""
    from gastown_tui.town.clock import age
    from gastown_tui.town.status import town_status

    status = town_status(town)
    polecats, note = _polecats(town)
    clock = time.strftime("%H:%M:%S", time.localtime(town.clock.now()))
    lines = [f"GAS TOWN {status['town']['name']} · {clock}"]
    supervisor = status.get("supervisor")
    if supervisor:
        lines.append(f"supervised by {supervisor['kind']} pid {supervisor['pid']}")
    problems = _problems(town, polecats, status)
    sections: list[tuple[str, list[str]]] = [
        (
            f"PROBLEMS {len(problems)}" if problems else "PROBLEMS none",
            [f" ! {p}" for p in problems],
        )
    ]
    polecats.sort(key=lambda r: (_order(r["state"]), r["address"]))
    counts: dict[str, int] = {}
    for row in polecats:
        counts[row["state"]] = counts.get(row["state"], 0) + 1
    summary = ", ".join(f"{counts[s]} {s}" for s in sorted(counts, key=_order))
    items = []
    for row in polecats:
        quiet = f" {age(row['quiet'])}" if row["quiet"] is not None else ""
        bead = f" {row['bead']}" if row["bead"] else ""
        items.append(f" {row['state']:<8} {row['address']}{bead}{quiet}")
    sections.append((f"POLECATS {summary or 'none'} {note}".rstrip(), items))
    convoys = status["convoys"]["in_flight"]
    sections.append(
        (
            f"CONVOYS in flight {len(convoys)}" if convoys else "CONVOYS none in flight",
            [f" {c['done']}/{c['total']} {c['id']} {c['title']}" for c in convoys],
        )
    )
    mail = status["mail"]
    items = []
    for message in mail.get("overseer_unread_messages") or []:
        mark = "!" if message["priority"] in ("urgent", "high") else " "
        items.append(f" {mark} {message['from']}: {message['subject']}")
    sections.append((f"MAIL {mail['overseer_unread']} unread", items))
    lines += _pack(sections, None if rows is None else rows - len(lines))
    from gastown_tui.town.display import safe

    # Stored text (titles, subjects) shown as written, escaped before it is cut to the width.
    return [fit(safe(line), width) for line in lines]


def _pack(sections: list[tuple[str, list[str]]], room: int | None) -> list[str]:
    """Every section's header always; items cut (longest list first) to fit `room` lines."""
    spaced = room is None or sum(1 + 1 + len(items) for _, items in sections) <= room
    shown = [len(items) for _, items in sections]
    if room is not None and not spaced:
        while sum(shown) + len(sections) + sum(
            1 for (_, items), n in zip(sections, shown, strict=True) if n < len(items)
        ) > room and any(shown):
            biggest = max(range(len(shown)), key=lambda i: shown[i])
            shown[biggest] -= 1
    out: list[str] = []
    for (header, items), n in zip(sections, shown, strict=True):
        if spaced:
            out.append("")
        out.append(header)
        out += items[:n]
        if n < len(items):
            out.append(f"   … {len(items) - n} more")
    return out


def _order(state: str) -> int:
    return STATE_ORDER.index(state) if state in STATE_ORDER else len(STATE_ORDER)


def _signature(town: Town) -> tuple[Any, ...]:
    """What changes when any process writes the store or the feed (cheap: a few stats)."""
    root = town.root
    found: list[tuple[str, int, int]] = []
    for path in [Path(root) / "events.jsonl", *sorted((Path(root) / "store").rglob("*.json"))]:
        try:
            stat = path.stat()
        except OSError:
            continue
        found.append((str(path), stat.st_mtime_ns, stat.st_size))
    return tuple(found)


def cmd_watch(args: argparse.Namespace) -> int:
    from gastown_tui.commands.common import open_town
    from gastown_tui.town.errors import GtError

    if not args.interval > 0:
        raise GtError("--interval must be more than 0 seconds")
    town = open_town(args)
    town.config  # noqa: B018 - a bad town.toml is one line, before the screen is taken
    width, rows = screen_size()
    if args.once:
        sys.stdout.write("\n".join(frame(town, width, rows)) + "\n")
        return 0
    tty = sys.stdout.isatty()
    seen: tuple[Any, ...] | None = None
    drawn_at = 0.0
    try:
        while True:
            signature = _signature(town)
            if signature != seen or time.monotonic() - drawn_at >= args.interval:
                seen = signature
                width, rows = screen_size()
                text = "\n".join(frame(town, width, rows))
                # Home and clear, then the frame: a plain terminal redraws in place.
                sys.stdout.write(("\x1b[H\x1b[2J" if tty else "\n") + text + "\n")
                sys.stdout.flush()
                drawn_at = time.monotonic()
            time.sleep(POLL)
    except KeyboardInterrupt:
        return 0
