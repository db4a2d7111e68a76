"""Where everything of a town lives on disk. The store's files and the files a watcher cares
about are laid out by gastown_tui/town/storage/layout.py (FileLayout); this adds the rest."""

from __future__ import annotations

import os
import re
from pathlib import Path

from gastown_tui.town.errors import GtError

# The store's layout and the file-name checks live in gastown_tui/town/storage/layout.py;
# re-exported here for the many callers that name files of the town.
from gastown_tui.town.storage.layout import (
    FileLayout,
    child,
    decode_address,
    encode_address,
    path_part,
)

__all__ = [
    "FileLayout",
    "TownPaths",
    "check_name",
    "child",
    "decode_address",
    "default_town_root",
    "encode_address",
    "path_part",
]

NAME_RE = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
DEFAULT_TOWN = "~/gt"


# Each rig's agents run as windows of one tmux session of the town's server: `gt-<rig>`.
SESSION_PREFIX = "gt-"


def session_for(rig: str) -> str:
    """The tmux session of a rig's agents (the one place that spells it)."""
    return SESSION_PREFIX + rig


def check_name(kind: str, name: str) -> str:
    """Rig and polecat names end up in tmux targets and file names: keep them plain."""
    if not NAME_RE.fullmatch(name or ""):
        raise GtError(
            f"invalid {kind} name {name!r}",
            hint="use 1-32 lowercase letters, digits, '-' or '_', starting with a letter",
        )
    return name


def default_town_root(explicit: str | os.PathLike[str] | None = None) -> Path:
    """--town beats GT_TOWN beats ~/gt."""
    if explicit:
        return Path(explicit).expanduser().absolute()
    env = os.environ.get("GT_TOWN")
    if env:
        return Path(env).expanduser().absolute()
    return Path(DEFAULT_TOWN).expanduser().absolute()


class TownPaths(FileLayout):
    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TownPaths) and other.root == self.root

    def __hash__(self) -> int:
        return hash(self.root)

    def __repr__(self) -> str:
        return f"TownPaths({self.root!r})"

    def lock(self, name: str) -> Path:
        return child(self.locks, "lock name", f"{name}.lock")

    @property
    def supervisor_lock(self) -> Path:
        return self.runtime / "supervisor.lock"

    @property
    def command_socket(self) -> Path:
        """The town's command server (cmdserver.py; cmdwire.py spells it for `gt` itself)."""
        return self.runtime / "command.sock"

    @property
    def rigs_dir(self) -> Path:
        return self.root / "rigs"

    def rig_dir(self, rig: str) -> Path:
        return child(self.rigs_dir, "rig name", rig)

    def rig_repo(self, rig: str) -> Path:
        return self.rig_dir(rig) / "repo"

    def polecat_dir(self, rig: str, polecat: str) -> Path:
        return child(self.rig_dir(rig) / "polecats", "polecat name", polecat)

    @property
    def backups(self) -> Path:
        return self.root / "backups"

    @property
    def tmux_socket(self) -> str:
        """The town's own tmux server: `tmux -L <this>`. Never the user's default server."""
        try:  # CPython's own sha1: hashlib's OpenSSL import is ~2 ms of every tmux-side gt call
            from _sha1 import sha1
        except ImportError:
            from hashlib import sha1

        digest = sha1(str(self.root.resolve()).encode()).hexdigest()[:8]
        return f"gt-{digest}"
