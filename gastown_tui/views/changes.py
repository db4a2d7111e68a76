"""What a change in the town means to a front end: a scope (`rig:alpha`, `mail:overseer`,
`events`, ...), or nothing. The storage backend's change feed says it (for the files backend,
gastown_tui/town/storage/layout.py, the one place that knows the layout); a front end's
refresh engine maps scopes to what it re-reads (tui/refresh.py for the app)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gastown_tui.town.storage.base import ChangeFeed
from gastown_tui.town.storage.layout import classify


def watch_filter(feed: ChangeFeed) -> Callable[[Any, str], bool]:
    """A watchfiles filter: only paths whose change can alter what a front end shows."""

    def keep(_change: Any, path: str) -> bool:
        return feed.classify(path) is not None

    return keep


def scopes_of(feed: ChangeFeed, paths: Any) -> set[str]:
    """The scopes of a batch of changed paths (watchfiles' `(change, path)` pairs)."""
    return {c.scope for _, path in paths if (c := feed.classify(path)) is not None}


def change_scope(root: str, path: str) -> str | None:
    """The scope of one changed path under the files-backend town at `root`, or None.

    Scopes: `events`, `config`, `town` (rig registry and convoys), `rig:<name>` (beads,
    polecats, merge requests), `mail:<address>`, `archive`, `heartbeats`, `nudges`,
    `live` (what the town's observer saw in tmux: dispatch/live.py).
    """
    changed = classify(root, path)
    return None if changed is None else changed.scope
