"""`gt status`: a town overview as one JSON-able dict (the CLI and the app both use it).

Keys: `town` {name, root}; `rigs` [{name, prefix, path, beads: {status: count}}];
`polecats` (see PolecatRegistry.status_summary); `mail` (MailStore.status_summary);
`convoys` (ConvoyStore.status_summary).
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gastown_tui.town.town import Town


def town_status(town: Town) -> dict[str, Any]:
    rigs = []
    for rig in town.rigs.list():
        beads = town.rig_file(rig.name).table("beads").values()
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
    }
