"""`Changed`, what a change under the town means (storage/base.py's ChangeFeed returns it).

Its own module, built without typing: the layout (storage/layout.py) and so every `gt` call
uses it, while base.py's protocols are for annotations and conformance tests.
"""

from __future__ import annotations

from collections import namedtuple

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Literal

    ChangeKind = Literal[
        "events", "config", "town", "rig", "mail", "archive", "heartbeats", "nudges", "live"
    ]


class Changed(namedtuple("Changed", ("kind", "rig", "address"), defaults=(None, None))):
    """What changed: `town` (rigs, convoys), `rig` (beads, polecats, merge requests of
    `rig`), `mail` (the inbox of `address`), `archive`, and the town's non-store files:
    `events`, `config`, `heartbeats`, `nudges`, and `live` (the observer's view of
    tmux, dispatch/live.py). Fields: kind (ChangeKind), rig and address (str or None)."""

    __slots__ = ()

    @property
    def scope(self) -> str:
        """The app's scope string (`rig:alpha`, `mail:mayor`, `town`, ...)."""
        if self.kind == "rig":
            return f"rig:{self.rig}"
        if self.kind == "mail":
            return f"mail:{self.address}"
        return str(self.kind)
