"""What a changed file of the town means to a front end: a scope (`rig:alpha`, `mail:overseer`,
`events`, ...), or nothing. A front end's refresh engine maps scopes to what it re-reads
(tui/refresh.py for the app)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

IGNORED_SUFFIXES = (".lock", ".tmp", ".swp", "~")


def watch_filter(root: Path) -> Callable[[Any, str], bool]:
    """A watchfiles filter: only files whose change can alter what the app shows."""
    prefix = str(root.resolve() if root.exists() else root)

    def keep(_change: Any, path: str) -> bool:
        return change_scope(prefix, path) is not None

    return keep


def change_scope(root: str, path: str) -> str | None:
    """What a changed file means to the app, or None to ignore it.

    Scopes: `events`, `config`, `town` (rig registry and convoys), `rig:<name>` (beads and
    polecats), `mail:<address>`, `archive`, `heartbeats`, `nudges`.
    """
    if path.endswith(IGNORED_SUFFIXES):
        return None
    if not path.startswith(root):
        return None
    rel = path[len(root) :].lstrip("/")
    if rel == "events.jsonl":
        return "events"
    if rel == "town.toml":
        return "config"
    parts = rel.split("/")
    name = parts[-1]
    if name.startswith("."):  # temp files of atomic writes, editor droppings
        return None
    if parts[0] == "store" and len(parts) >= 2:
        if rel == "store/town.json":
            return "town"
        if len(parts) == 3 and parts[1] == "rigs" and name.endswith(".json"):
            return f"rig:{name[:-5]}"
        if len(parts) == 3 and parts[1] == "mail" and name.endswith(".json"):
            from gastown_tui.town.paths import decode_address

            return f"mail:{decode_address(name[:-5])}"
        if len(parts) == 3 and parts[1] == "archive":
            return "archive"
        return None
    if parts[0] == ".runtime" and len(parts) >= 3:
        if parts[1] == "heartbeats":
            return "heartbeats"
        if parts[1] == "nudge-queue":
            return "nudges"
    return None
