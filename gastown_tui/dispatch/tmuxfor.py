"""The one way every command and the app get the town's tmux server."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from gastown_tui.tmux import TownTmux

if TYPE_CHECKING:
    from gastown_tui.town.town import Town

# A tmux.conf for the town's server instead of the user's own (tests pass /dev/null so a
# developer's config cannot change what the tests see).
CONF_ENV = "GT_TMUX_CONF"


def tmux_for(town: Town) -> TownTmux:
    """The town's dedicated server: socket `town.paths.tmux_socket`, locks in the town."""
    conf = os.environ.get(CONF_ENV)
    return TownTmux(
        town.paths.tmux_socket,
        town.paths.locks,
        config_file=Path(conf) if conf else None,
    )
