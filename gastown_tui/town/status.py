"""`gt status`: a town overview as one JSON-able dict (the CLI and the app both use it)."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gastown_tui.town.town import Town


def town_status(town: Town) -> dict[str, Any]:
    rigs = []
    for rig in town.rigs.list():
        counts = Counter(
            d.get("status", "open") for d in town.rig_file(rig.name).table("beads").values()
        )
        rigs.append(
            {"name": rig.name, "prefix": rig.prefix, "path": rig.path, "beads": dict(counts)}
        )
    return {
        "town": {"name": town.config.name, "root": str(town.root)},
        "rigs": rigs,
    }
