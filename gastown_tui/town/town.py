"""The Town: one object that knows where a town lives and hands out its parts.

Parts are created on first use so that a CLI call pays only for what it touches.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import cached_property
from pathlib import Path

from gastown_tui.town.clock import SystemClock, iso
from gastown_tui.town.errors import GtError, NotATown
from gastown_tui.town.events import EventLog
from gastown_tui.town.models import Event
from gastown_tui.town.paths import TownPaths, default_town_root
from gastown_tui.town.storage import open_backend
from gastown_tui.town.storage.files import (
    DIR_MODE,
    FILE_MODE,
    atomic_write_bytes,
    fsync_dir,
    make_private_dirs,
    private_umask,
)

TYPE_CHECKING = False  # typing's import is ~2 ms of every gt call (tests/test_cli_cheap.py)
if TYPE_CHECKING:
    from typing import Any

    from gastown_tui.town.beads import BeadStore
    from gastown_tui.town.clock import Clock
    from gastown_tui.town.config import TownConfig
    from gastown_tui.town.convoys import ConvoyStore
    from gastown_tui.town.mail import MailStore
    from gastown_tui.town.models import Bead
    from gastown_tui.town.polecats import PolecatRegistry
    from gastown_tui.town.rigs import RigRegistry
    from gastown_tui.town.storage import Backend
    from gastown_tui.town.storage.base import IdsRepo

OVERSEER = "overseer"
STORE_VERSION = 1


class Town:
    def __init__(
        self,
        root: Path,
        clock: Clock | None = None,
        actor: str | None = None,
        backend: str | None = None,
    ) -> None:
        private_umask()  # everything a town process creates is private (town/storage/files.py)
        self.root = root
        self.paths = TownPaths(root)
        self.clock: Clock = clock or SystemClock()
        self._actor = actor
        # Records are reached through the backend's repositories only (town/storage/).
        self.storage: Backend = open_backend(root, backend)
        # Called with the beads that just closed, by whichever process closed them.
        self.close_listeners: list[Callable[[list[Bead]], None]] = []
        self.close_listeners.append(self._land_convoys)
        # Added to `mail.on_delivered` when the mail store is first made: compose.py wires
        # every town's mail hook, and a call that never touches mail (`gt hook`) never loads it.
        self.mail_hooks: list[Callable[[list[Any]], None]] = []

    # opening -----------------------------------------------------------------------------
    @classmethod
    def open(
        cls,
        root: str | os.PathLike[str] | None = None,
        clock: Clock | None = None,
        actor: str | None = None,
    ) -> Town:
        path = default_town_root(root)
        if not (path / "town.toml").is_file():
            raise NotATown(path)
        town = cls(path, clock, actor)
        town.storage.require()
        return town

    @classmethod
    def init(
        cls,
        root: str | os.PathLike[str] | None = None,
        *,
        name: str | None = None,
        runtime: str = "claude",
        force: bool = False,
        clock: Clock | None = None,
    ) -> Town:
        path = default_town_root(root)
        if (path / "town.toml").exists():
            raise GtError(f"{path} is already a town")
        if path.exists() and not path.is_dir():
            raise GtError(f"{path} exists and is not a directory")
        if path.exists() and any(path.iterdir()) and not force:
            raise GtError(f"{path} is not empty", hint="pick an empty folder or pass --force")
        from gastown_tui.town.config import check_town_name, render_template

        town_name = check_town_name(name if name is not None else (path.name or "gastown"))
        if name is not None:
            name = town_name
        import shutil  # here, not at the top: agents' gt calls never init a town
        import tempfile

        toml = render_template(town_name, check_town_name(runtime, what="runtime"))
        # Built aside and renamed into place, so a failed init (a full disk) leaves no
        # half-made folder that a retry would refuse. A --force init into a folder that holds
        # files cannot be renamed over: it is built in place and what it made is removed.
        in_place = path.exists() and any(path.iterdir())
        if in_place:
            build = path
            before = set(path.iterdir())
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            build = Path(tempfile.mkdtemp(prefix=f".{path.name}.init-", dir=path.parent))
            before = set()
        try:
            cls._build(build, path, name, toml, clock)
            if not in_place:
                os.rename(build, path)  # onto a missing or an empty folder
                fsync_dir(path.parent)
        except BaseException:
            if in_place:
                for made in set(path.iterdir()) - before:
                    if made.is_dir() and not made.is_symlink():
                        shutil.rmtree(made, ignore_errors=True)
                    else:
                        made.unlink(missing_ok=True)
            else:
                shutil.rmtree(build, ignore_errors=True)
            raise
        return cls(path, clock)

    @classmethod
    def _build(
        cls, build: Path, final: Path, name: str | None, toml: str, clock: Clock | None
    ) -> None:
        town = cls(build, clock)
        for folder in (
            town.paths.locks,
            town.paths.heartbeats,
            town.paths.nudge_queue_root,
            town.paths.rigs_dir,
            town.paths.backups,
        ):
            make_private_dirs(folder)
        os.chmod(build, DIR_MODE)  # a town holds mail and code: the owner's alone
        town.storage.create(
            {"version": STORE_VERSION, "created_at": iso(town.clock.now()), "name": name}
        )
        # town.toml last: until it exists, the folder is not a town.
        atomic_write_bytes(town.paths.town_toml, toml.encode())
        # Written directly (not town.events.append, which forgives a failed write): a town
        # whose first write fails is not made at all.
        town.events.append_raw(
            [Event(iso(town.clock.now()), "town.created", town.actor, None, None, str(final), {})
             .to_dict()]
        )  # fmt: skip

    # parts -------------------------------------------------------------------------------
    @property
    def actor(self) -> str:
        """Who is acting: the agent address in GT_AGENT, or the overseer (a person)."""
        return self._actor or os.environ.get("GT_AGENT") or OVERSEER

    @cached_property
    def config(self) -> TownConfig:
        # Imported here: tomllib and the config module cost a few ms that most CLI calls
        # (bead create, mail send) never need.
        from gastown_tui.town.config import TownConfig

        return TownConfig.load(self.paths.town_toml)

    @property
    def name(self) -> str:
        """The town's name, as `config.name` says it, read without building the TownConfig
        (its sections and checks are about a third of a `gt prime`). A file this light read
        cannot take (not TOML, a name that is not text) is left to TownConfig, which names
        the problem."""
        if "config" in self.__dict__:
            return self.config.name
        import tomllib

        try:
            data = tomllib.loads(self.paths.town_toml.read_text(encoding="utf-8"))
            name = (data.get("town") or {}).get("name", "gastown")  # TownSection's default
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, AttributeError):
            name = None
        return name if isinstance(name, str) else self.config.name

    @cached_property
    def events(self) -> EventLog:
        return EventLog(self.paths, self.clock)

    @cached_property
    def ids(self) -> IdsRepo:
        return self.storage.ids

    @cached_property
    def rigs(self) -> RigRegistry:
        from gastown_tui.town.rigs import RigRegistry

        return RigRegistry(self)

    @cached_property
    def beads(self) -> BeadStore:
        from gastown_tui.town.beads import BeadStore

        return BeadStore(self)

    @cached_property
    def mail(self) -> MailStore:
        from gastown_tui.town.mail import MailStore

        store = MailStore(self)
        store.on_delivered.extend(self.mail_hooks)
        return store

    @cached_property
    def convoys(self) -> ConvoyStore:
        from gastown_tui.town.convoys import ConvoyStore

        return ConvoyStore(self)

    @cached_property
    def polecats(self) -> PolecatRegistry:
        from gastown_tui.town.polecats import PolecatRegistry

        return PolecatRegistry(self)

    # hooks -------------------------------------------------------------------------------
    def _land_convoys(self, beads: list[Bead]) -> None:
        # Whichever process closed the last bead of a convoy lands it.
        self.convoys.check_landings([b.id for b in beads])

    def beads_closed(self, beads: list[Bead]) -> None:
        """What follows closing beads (a convoy landing, its mail). The close is committed
        by now: a failure here is a warning, and the deacon's patrol lands the convoy later
        (supervise/deacon.py runs check_landings), so a retried close is never needed."""
        for listener in list(self.close_listeners):
            try:
                listener(beads)
            except (OSError, GtError) as exc:
                reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
                ids = ", ".join(b.id for b in beads)
                self.events.warn(
                    f"gt: warning: {ids} closed, but the convoy check failed ({reason});"
                    " the deacon lands its convoy at its next patrol"
                )

    def touch_heartbeat(self, agent: str, **fields: Any) -> None:
        """Record that `agent` just did something (any gt call it makes counts)."""
        from gastown_tui.town import jsoncodec

        path = self.paths.heartbeat(agent)
        from gastown_tui.town.procs import caller_parent

        record = {"agent": agent, "ts": iso(self.clock.now()), "pid": caller_parent(), **fields}
        try:
            make_private_dirs(path.parent)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
            try:
                os.write(fd, jsoncodec.dumps(record))
            finally:
                os.close(fd)
            os.replace(tmp, path)
        except OSError:
            pass  # a heartbeat is a hint, never a reason to fail the agent's command
