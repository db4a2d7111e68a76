"""The town's file layout, said once: where each kind of record lives, and what a changed
file means (a `Changed` scope). TownPaths (town/paths.py) builds on this class; the app's
watcher asks `classify` instead of parsing paths itself.
"""

from __future__ import annotations

from pathlib import Path

from gastown_tui.town.errors import GtError
from gastown_tui.town.storage.changed import Changed

# Names under the town root. Change one here and both the writers and the watcher follow.
TOWN_TOML = "town.toml"
EVENTS = "events.jsonl"
STORE = "store"
TOWN_JSON = "town.json"
RIGS = "rigs"
MAIL = "mail"
ARCHIVE = "archive"
IDS = "ids.txt"
RUNTIME = ".runtime"
LIVE_STATE = RUNTIME + "/live.json"  # what the town's observer saw in tmux (dispatch/live.py)
HEARTBEATS = "heartbeats"
LOCKS = "locks"
NUDGE_QUEUE = "nudge-queue"

IGNORED_SUFFIXES = (".lock", ".tmp", ".swp", "~")


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


class FileLayout:
    """Paths of the store's files and of the town files a watcher cares about."""

    __slots__ = ("root",)

    def __init__(self, root: Path) -> None:
        self.root = root

    @property
    def town_toml(self) -> Path:
        return self.root / TOWN_TOML

    @property
    def events(self) -> Path:
        return self.root / EVENTS

    @property
    def store(self) -> Path:
        return self.root / STORE

    @property
    def town_file(self) -> Path:
        return self.store / TOWN_JSON

    @property
    def rig_store(self) -> Path:
        return self.store / RIGS

    def rig_file(self, rig: str) -> Path:
        return child(self.rig_store, "rig name", f"{rig}.json")

    @property
    def mail_dir(self) -> Path:
        return self.store / MAIL

    def mail_file(self, address: str) -> Path:
        return child(self.mail_dir, "address", f"{encode_address(address)}.json")

    @property
    def archive_dir(self) -> Path:
        return self.store / ARCHIVE

    def archive_file(self, month: str) -> Path:
        return child(self.archive_dir, "archive month", f"{month}.json")

    @property
    def ids_file(self) -> Path:
        return self.store / IDS

    @property
    def runtime(self) -> Path:
        return self.root / RUNTIME

    @property
    def locks(self) -> Path:
        return self.runtime / LOCKS

    @property
    def heartbeats(self) -> Path:
        return self.runtime / HEARTBEATS

    def heartbeat(self, agent: str) -> Path:
        return child(self.heartbeats, "agent", f"{encode_address(agent)}.json")

    @property
    def nudge_queue_root(self) -> Path:
        return self.runtime / NUDGE_QUEUE

    def nudge_queue(self, agent: str) -> Path:
        return child(self.nudge_queue_root, "agent", encode_address(agent))


def classify(root: str, path: str) -> Changed | None:
    """What a changed file under the town `root` means, or None to ignore it (locks, temp
    files of atomic writes, editor droppings, files nothing shows)."""
    if path.endswith(IGNORED_SUFFIXES) or not path.startswith(root):
        return None
    rel = path[len(root) :].lstrip("/")
    if rel == EVENTS:
        return Changed("events")
    if rel == TOWN_TOML:
        return Changed("config")
    parts = rel.split("/")
    name = parts[-1]
    if name.startswith("."):
        return None
    if parts[0] == STORE and len(parts) >= 2:
        if len(parts) == 2 and name == TOWN_JSON:
            return Changed("town")
        if len(parts) == 3 and parts[1] == RIGS and name.endswith(".json"):
            return Changed("rig", rig=name[:-5])
        if len(parts) == 3 and parts[1] == MAIL and name.endswith(".json"):
            return Changed("mail", address=decode_address(name[:-5]))
        if len(parts) == 3 and parts[1] == ARCHIVE:
            return Changed("archive")
        return None
    if rel == LIVE_STATE:
        return Changed("live")
    if parts[0] == RUNTIME and len(parts) >= 3:
        if parts[1] == HEARTBEATS:
            return Changed("heartbeats")
        if parts[1] == NUDGE_QUEUE:
            return Changed("nudges")
    return None
