"""`gt status`: a town overview as one JSON-able dict (the CLI and the app both use it).

Keys: `town` {name, root}; `rigs` [{name, prefix, path, beads: {status: count}}];
`polecats` (see PolecatRegistry.status_summary); `mail` (MailStore.status_summary);
`convoys` (ConvoyStore.status_summary); `supervisor` {pid, kind, since, patrols} or null.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from gastown_tui.town.usage import budget_state

if TYPE_CHECKING:
    from gastown_tui.town.town import Town


def town_status(town: Town) -> dict[str, Any]:
    rigs = []
    for rig in town.rigs.list():
        beads = town.storage.beads.docs(rig.name)
        counts = Counter(d.get("status", "open") for d in beads)
        rigs.append(
            {"name": rig.name, "prefix": rig.prefix, "path": rig.path, "beads": dict(counts)}
        )
    return {
        "town": {"name": town.config.name, "root": str(town.root)},
        "rigs": rigs,
        "polecats": town.polecats.status_summary(),
        "mail": town.mail.status_summary(),
        "convoys": town.convoys.status_summary(),
        "supervisor": supervisor_summary(town),
        "budget": budget_state(town),
        "scheduler": _scheduler(town),
    }


def _scheduler(town: Town) -> dict[str, Any]:
    """{max_polecats, holding, by_role, queued: [bead ids]} (town/scheduler.py)."""
    from gastown_tui.town.scheduler import summary

    return summary(town)


def supervisor_summary(town: Town) -> dict[str, Any] | None:
    """Who supervises the town (from the lease holder's status file), or None.

    Read from the file the holder writes; the lock itself is checked by `gt daemon`/the app.
    The file is removed when a supervisor stops cleanly, and a stale one (a killed holder)
    is recognised by its pid no longer running.
    """
    import os

    import orjson

    try:
        doc = orjson.loads((town.paths.runtime / "supervisor.json").read_bytes())
        pid = int(doc["pid"])
        os.kill(pid, 0)
    except (OSError, ValueError, KeyError, TypeError, orjson.JSONDecodeError):
        return None
    return {
        "pid": pid,
        "kind": doc.get("kind"),
        "since": doc.get("since"),
        "updated": doc.get("updated"),
        "patrols": doc.get("patrols") or {},
    }
