"""Where everything of a town lives on disk (DESIGN.md section 4)."""

from __future__ import annotations

import os
import re
from pathlib import Path

from gastown_tui.town.errors import GtError

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


def path_part(kind: str, value: str) -> str:
    """`value` as one file-name component under a town folder: refused (never rewritten) if
    it could leave the folder or hide ('/', '..', NUL, control characters, empty)."""
    if (
        not isinstance(value, str)
        or value in ("", ".", "..")
        or "/" in value
        or "\\" in value
        or any(ord(c) < 32 or ord(c) == 127 for c in value)
        or len(value.encode("utf-8", "surrogatepass")) > 200
    ):
        from gastown_tui.town.display import safe

        raise GtError(
            f"invalid {kind} {safe(repr(value))[:80]}: it cannot name a file in the town",
            hint="names are letters, digits, '-', '_' and '.', without '/' or '..'",
        )
    return value


def child(folder: Path, kind: str, name: str) -> Path:
    """`folder / name`, checked to stay inside `folder` (see path_part)."""
    return folder / path_part(kind, name)


def encode_address(address: str) -> str:
    """An agent address (`alpha/furiosa`) as a file name (`alpha~furiosa`)."""
    return address.replace("/", "~")


def decode_address(stem: str) -> str:
    return stem.replace("~", "/")


def default_town_root(explicit: str | os.PathLike[str] | None = None) -> Path:
    """--town beats GT_TOWN beats ~/gt."""
    if explicit:
        return Path(explicit).expanduser().absolute()
    env = os.environ.get("GT_TOWN")
    if env:
        return Path(env).expanduser().absolute()
    return Path(DEFAULT_TOWN).expanduser().absolute()


class TownPaths:
    __slots__ = ("root",)

    def __init__(self, root: Path) -> None:
        self.root = root

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TownPaths) and other.root == self.root

    def __hash__(self) -> int:
        return hash(self.root)

    def __repr__(self) -> str:
        return f"TownPaths({self.root!r})"

    @property
    def town_toml(self) -> Path:
        return self.root / "town.toml"

    @property
    def store(self) -> Path:
        return self.root / "store"

    @property
    def town_file(self) -> Path:
        return self.store / "town.json"

    @property
    def rig_store(self) -> Path:
        return self.store / "rigs"

    def rig_file(self, rig: str) -> Path:
        return child(self.rig_store, "rig name", f"{rig}.json")

    @property
    def mail_dir(self) -> Path:
        return self.store / "mail"

    def mail_file(self, address: str) -> Path:
        return child(self.mail_dir, "address", f"{encode_address(address)}.json")

    @property
    def archive_dir(self) -> Path:
        return self.store / "archive"

    def archive_file(self, month: str) -> Path:
        return child(self.archive_dir, "archive month", f"{month}.json")

    @property
    def ids_file(self) -> Path:
        return self.store / "ids.txt"

    @property
    def events(self) -> Path:
        return self.root / "events.jsonl"

    @property
    def runtime(self) -> Path:
        return self.root / ".runtime"

    @property
    def locks(self) -> Path:
        return self.runtime / "locks"

    def lock(self, name: str) -> Path:
        return child(self.locks, "lock name", f"{name}.lock")

    @property
    def heartbeats(self) -> Path:
        return self.runtime / "heartbeats"

    def heartbeat(self, agent: str) -> Path:
        return child(self.heartbeats, "agent", f"{encode_address(agent)}.json")

    @property
    def nudge_queue_root(self) -> Path:
        return self.runtime / "nudge-queue"

    def nudge_queue(self, agent: str) -> Path:
        return child(self.nudge_queue_root, "agent", encode_address(agent))

    @property
    def supervisor_lock(self) -> Path:
        return self.runtime / "supervisor.lock"

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
        import hashlib

        digest = hashlib.sha1(str(self.root.resolve()).encode()).hexdigest()[:8]
        return f"gt-{digest}"
