"""The storage interface of a town: typed repositories, transactions and a change feed.

Everything outside gastown_tui/town/storage/ reaches records through these (pyproject.toml's
import-linter contract keeps TinyDB inside this package). A backend is one class that
provides `Backend` and passes tests/conformance/; register it in BACKENDS
(gastown_tui/town/storage/__init__.py). Records are plain JSON-able dicts (the shapes of
town/models.py and town/shapes.py); reads are snapshots taken without a lock and must not be
mutated; writes happen inside a transaction, which commits whole or not at all.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from gastown_tui.town.storage.changed import Changed

if TYPE_CHECKING:
    from gastown_tui.town.models import Bead

Doc = dict[str, Any]
ChangeKind = Literal[
    "events", "config", "town", "rig", "mail", "archive", "heartbeats", "nudges", "live"
]


@runtime_checkable
class ChangeFeed(Protocol):
    """Says what a change under the town means. The watcher (watchfiles in the app) feeds
    it paths; a database backend would answer from its own notifications instead."""

    watch_root: Path

    def classify(self, path: str) -> Changed | None: ...


# -- transactions ----------------------------------------------------------------------------


@runtime_checkable
class RigTxn(Protocol):
    """One rig's beads, polecats and merge requests, committed together (a sling hooks a
    bead and updates its polecat in one of these; `gt done` closes, records the polecat and
    opens a merge request in one)."""

    rig: str

    def bead_ids(self) -> list[str]: ...
    def bead_docs(self) -> list[Doc]: ...
    def get_bead(self, bead_id: str) -> Bead | None: ...
    def beads(self) -> list[Bead]: ...
    def put_bead(self, bead: Bead) -> None: ...
    def add_new_bead(self, bead: Bead) -> None: ...
    def remove_beads(self, bead_ids: Iterable[str]) -> None: ...

    def polecats(self) -> list[Doc]: ...
    def get_polecat(self, name: str) -> Doc | None: ...
    def put_polecat(self, record: Doc) -> None: ...
    def remove_polecat(self, name: str) -> None: ...

    def merge_requests(self) -> list[Doc]: ...
    def get_merge_request(self, mr_id: str) -> Doc | None: ...
    def add_merge_request(self, doc: Doc) -> None: ...
    def update_merge_request(self, mr_id: str, fields: Doc) -> bool: ...

    def touch(self) -> None:
        """Write even if nothing changed (tests and the doctor re-save a file)."""


@runtime_checkable
class TownTxn(Protocol):
    """The town-wide records: meta, the rig registry, convoys and the town-level agents'
    records (the mayor's, by `address`)."""

    def meta(self) -> Doc | None: ...
    def put_meta(self, doc: Doc) -> None: ...
    def rigs(self) -> list[Doc]: ...
    def add_rig(self, doc: Doc) -> None: ...
    def remove_rig(self, name: str) -> None: ...
    def convoys(self) -> list[Doc]: ...
    def get_convoy(self, convoy_id: str) -> Doc | None: ...
    def put_convoy(self, doc: Doc) -> None: ...
    def get_agent(self, address: str) -> Doc | None: ...
    def put_agent(self, doc: Doc) -> None: ...


@runtime_checkable
class InboxTxn(Protocol):
    """One inbox: messages by their sequence number (ascending in arrival order)."""

    def messages(self) -> Mapping[int, Doc]: ...
    def append(self, doc: Doc) -> int: ...
    def put(self, seq: int, doc: Doc) -> None: ...
    def delete(self, seqs: Iterable[int]) -> None: ...


@runtime_checkable
class ArchiveTxn(Protocol):
    """One month of the archive: closed beads (by id) and mail copies (by id and inbox)."""

    def bead_docs(self) -> list[Doc]: ...
    def put_beads(self, docs: Iterable[Doc]) -> None: ...
    def remove_beads(self, bead_ids: Iterable[str]) -> None: ...
    def message_docs(self) -> Mapping[int, Doc]: ...
    def put_messages(self, docs: Iterable[Doc]) -> None: ...


# -- repositories (read side; writes go through their transactions) ---------------------------


@runtime_checkable
class RigsRepo(Protocol):
    def docs(self) -> list[Doc]: ...


@runtime_checkable
class ConvoysRepo(Protocol):
    def docs(self) -> list[Doc]: ...


@runtime_checkable
class AgentsRepo(Protocol):
    """Records of the town-level agents (the mayor), keyed by `address`."""

    def docs(self) -> list[Doc]: ...


@runtime_checkable
class BeadsRepo(Protocol):
    def docs(self, rig: str) -> Iterable[Doc]: ...
    def has_rig(self, rig: str) -> bool:
        """Whether the rig's records were ever written (a rig with no bead yet has none)."""


@runtime_checkable
class PolecatsRepo(Protocol):
    def docs(self, rig: str) -> list[Doc]: ...
    def with_beads(self, rig: str) -> tuple[list[Doc], list[Doc]]:
        """(polecat docs, bead docs) of one rig from one snapshot."""


@runtime_checkable
class MergeRequestsRepo(Protocol):
    def docs(self, rig: str) -> list[Doc]: ...


@runtime_checkable
class MailRepo(Protocol):
    def inboxes(self) -> list[str]: ...
    def docs(self, address: str) -> Mapping[int, Doc]: ...
    def exists(self, address: str) -> bool:
        """Whether `address` has an inbox (a removed agent's inbox is still there)."""

    def append(self, address: str, doc: Doc, *, idempotent: bool = False) -> int | None:
        """Store one message copy; its seq, or None if `idempotent` and its id is there."""

    def txn(self, address: str) -> AbstractContextManager[InboxTxn]: ...


@runtime_checkable
class ArchiveRepo(Protocol):
    def months(self) -> list[str]:
        """Months that hold archived records, newest first."""

    def bead_docs(self, month: str) -> list[Doc]: ...
    def message_docs(self, month: str) -> Mapping[int, Doc]: ...
    def txn(self, month: str) -> AbstractContextManager[ArchiveTxn]: ...


@runtime_checkable
class IdsRepo(Protocol):
    """Every bead id ever issued in the town, with its rig: ids are unique town-wide, the
    archive included."""

    def all(self) -> dict[str, str]: ...
    def rig_of(self, bead_id: str) -> str | None: ...
    def __contains__(self, bead_id: object) -> bool: ...
    def reserve(self, prefix: str, rig: str) -> str:
        """Issue a new id, unique in the town, recorded before it is used."""

    def record(self, entries: Iterable[tuple[str, str]]) -> None:
        """Record ids that came from elsewhere (an import); known ones are skipped."""


@runtime_checkable
class Backend(Protocol):
    """A town's storage. Construct with the town root; `create` makes an empty store."""

    name: str
    rigs: RigsRepo
    convoys: ConvoysRepo
    agents: AgentsRepo
    beads: BeadsRepo
    polecats: PolecatsRepo
    merge_requests: MergeRequestsRepo
    mail: MailRepo
    archive: ArchiveRepo
    ids: IdsRepo
    changes: ChangeFeed

    def exists(self) -> bool: ...
    def require(self) -> None:
        """Raise StoreCorrupt naming what is missing if the town's store is not there."""

    def create(self, meta: Doc) -> None: ...
    def town_txn(self) -> AbstractContextManager[TownTxn]: ...
    def rig_txn(self, rig: str) -> AbstractContextManager[RigTxn]: ...
    def retire_rig(self, rig: str, stamp: str) -> str | None:
        """Set a removed rig's records aside (kept, not deleted); where they went."""

    def problems(self) -> Iterator[str]:
        """One line per unreadable part of the store (the deacon reports them)."""

    def sweep(self) -> list[str]:
        """Clear what killed writers left behind; one line per thing cleared."""
