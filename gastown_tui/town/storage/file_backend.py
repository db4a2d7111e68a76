"""The files backend: one TinyDB-format JSON file per unit of locking, written under flock
with an atomic rename (gastown_tui/town/storage/files.py), laid out by layout.py:

- `store/town.json`: tables `meta`, `rigs`, `convoys`;
- `store/rigs/<rig>.json`: `beads`, `polecats`, `merge_requests` (one rig transaction writes
  one file, so a sling's hook and its polecat record commit together), and beside it
  `.<rig>.json.journal`, what each write put and deleted (journal.py: readers apply that
  instead of parsing the whole rig again);
- `store/mail/<address>.json`: `messages`;
- `store/archive/<YYYY-MM>.json`: `beads` and `mail`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from gastown_tui.town import jsoncodec
from gastown_tui.town.errors import StoreCorrupt
from gastown_tui.town.models import Bead
from gastown_tui.town.storage.changed import Changed
from gastown_tui.town.storage.files import (
    Store,
    StoreFile,
    Transaction,
    atomic_write_bytes,
    flocked,
    make_private_dirs,
)
from gastown_tui.town.storage.id_index import IdIndex
from gastown_tui.town.storage.journal import remove as remove_journal
from gastown_tui.town.storage.layout import FileLayout, classify, decode_address

TYPE_CHECKING = False  # typing and base.py's protocols stay off gt's start-up
if TYPE_CHECKING:
    from typing import Any

    from gastown_tui.town.storage.base import Doc

META = "meta"
RIGS = "rigs"
CONVOYS = "convoys"
AGENTS = "agents"  # town-level agents' records (the mayor's)
BEADS = "beads"
POLECATS = "polecats"
MERGE_REQUESTS = "merge_requests"
MESSAGES = "messages"  # table of an inbox file
ARCHIVE_MAIL = "mail"  # table of a monthly archive file


def _append(txn: Transaction, table: str, doc: Doc) -> int:
    """Store `doc` under doc id max + 1, as TinyDB numbers them (Transaction.insert may reuse
    a lower free id, which is cheaper for the hot bead paths but not file-order)."""
    next_id = max(map(int, txn.raw(table)), default=0) + 1
    txn.put(table, str(next_id), dict(doc))
    return next_id


class FileRigTxn:
    """One transaction on a rig file: its beads, polecats and merge requests, written once
    at the end. Documents are reached through an id -> doc id index built once per
    transaction."""

    def __init__(self, txn: Transaction, rig: str) -> None:
        self.txn = txn
        self.rig = rig
        self._indexes: dict[str, dict[str, str]] = {}
        self._lookups = 0

    def _index(self, table: str, key: str) -> dict[str, str]:
        index = self._indexes.get(table)
        if index is None:
            index = {doc[key]: doc_id for doc_id, doc in self.txn.raw(table).items()}
            self._indexes[table] = index
        return index

    def _doc_id(self, table: str, key: str, value: str) -> str | None:
        """The doc id of one document. A transaction that looks up one or two (a create, an
        update, a close: the hot paths) scans instead of indexing the table."""
        index = self._indexes.get(table)
        if index is not None:
            return index.get(value)
        self._lookups += 1
        if self._lookups > 2:
            return self._index(table, key).get(value)
        for doc_id, doc in self.txn.raw(table).items():
            if doc.get(key) == value:
                return doc_id
        return None

    def _put(self, table: str, key: str, doc: dict[str, Any]) -> None:
        doc_id = self._doc_id(table, key, doc[key])
        if doc_id is None:
            new_id = self.txn.insert(table, doc)
            if table in self._indexes:
                self._indexes[table][doc[key]] = new_id
        else:
            self.txn.put(table, doc_id, doc)

    def _remove(self, table: str, key: str, names: Iterable[str]) -> None:
        index = self._index(table, key)
        doc_ids = [index.pop(name) for name in names if name in index]
        if doc_ids:
            self.txn.delete(table, doc_ids)

    # beads -------------------------------------------------------------------------------
    def bead_ids(self) -> list[str]:
        return list(self._index(BEADS, "id"))

    def bead_docs(self) -> list[dict[str, Any]]:
        """Raw bead documents of this rig (read-only)."""
        return list(self.txn.raw(BEADS).values())

    def get_bead(self, bead_id: str) -> Bead | None:
        doc_id = self._doc_id(BEADS, "id", bead_id)
        return Bead.from_dict(self.txn.raw(BEADS)[doc_id]) if doc_id else None

    def beads(self) -> list[Bead]:
        return [Bead.from_dict(doc) for doc in self.txn.raw(BEADS).values()]

    def put_bead(self, bead: Bead) -> None:
        self._put(BEADS, "id", bead.to_dict())

    def add_new_bead(self, bead: Bead) -> None:
        """Insert a bead whose id was just reserved (so it cannot exist): no index needed."""
        doc_id = self.txn.insert(BEADS, bead.to_dict())
        if BEADS in self._indexes:
            self._indexes[BEADS][bead.id] = doc_id

    def remove_beads(self, bead_ids: Iterable[str]) -> None:
        self._remove(BEADS, "id", bead_ids)

    # polecats ----------------------------------------------------------------------------
    def polecats(self) -> list[dict[str, Any]]:
        return [dict(doc) for doc in self.txn.raw(POLECATS).values()]

    def get_polecat(self, name: str) -> dict[str, Any] | None:
        doc_id = self._doc_id(POLECATS, "name", name)
        return dict(self.txn.raw(POLECATS)[doc_id]) if doc_id else None

    def put_polecat(self, record: dict[str, Any]) -> None:
        self._put(POLECATS, "name", dict(record))

    def remove_polecat(self, name: str) -> None:
        self._remove(POLECATS, "name", [name])

    # merge requests ----------------------------------------------------------------------
    def merge_requests(self) -> list[Doc]:
        return [dict(doc) for doc in self.txn.raw(MERGE_REQUESTS).values()]

    def get_merge_request(self, mr_id: str) -> Doc | None:
        for doc in self.txn.raw(MERGE_REQUESTS).values():
            if doc.get("id") == mr_id:
                return dict(doc)
        return None

    def add_merge_request(self, doc: Doc) -> None:
        _append(self.txn, MERGE_REQUESTS, doc)

    def update_merge_request(self, mr_id: str, fields: Doc) -> bool:
        """Merge `fields` into every request with this id; False if there is none."""
        found = False
        for doc_id, doc in list(self.txn.raw(MERGE_REQUESTS).items()):
            if doc.get("id") == mr_id:
                self.txn.put(MERGE_REQUESTS, doc_id, {**doc, **fields})
                found = True
        return found

    def touch(self) -> None:
        self.txn.mark_dirty()


class FileTownTxn:
    def __init__(self, txn: Transaction) -> None:
        self.txn = txn

    def meta(self) -> Doc | None:
        docs = list(self.txn.raw(META).values())
        return dict(docs[0]) if docs else None

    def put_meta(self, doc: Doc) -> None:
        keys = list(self.txn.raw(META))
        if keys:
            self.txn.put(META, keys[0], dict(doc))
        else:
            self.txn.insert(META, dict(doc))

    def rigs(self) -> list[Doc]:
        return [dict(d) for d in self.txn.raw(RIGS).values()]

    def add_rig(self, doc: Doc) -> None:
        _append(self.txn, RIGS, doc)

    def remove_rig(self, name: str) -> None:
        self.txn.delete(RIGS, [k for k, d in self.txn.raw(RIGS).items() if d.get("name") == name])

    def convoys(self) -> list[Doc]:
        return [dict(d) for d in self.txn.raw(CONVOYS).values()]

    def get_convoy(self, convoy_id: str) -> Doc | None:
        for doc in self.txn.raw(CONVOYS).values():
            if doc.get("id") == convoy_id:
                return dict(doc)
        return None

    def put_convoy(self, doc: Doc) -> None:
        self._upsert(CONVOYS, "id", doc)

    def get_agent(self, address: str) -> Doc | None:
        for doc in self.txn.raw(AGENTS).values():
            if doc.get("address") == address:
                return dict(doc)
        return None

    def put_agent(self, doc: Doc) -> None:
        self._upsert(AGENTS, "address", doc)

    def _upsert(self, table: str, key: str, doc: Doc) -> None:
        for doc_id, old in self.txn.raw(table).items():
            if old.get(key) == doc[key]:
                self.txn.put(table, doc_id, dict(doc))
                return
        self.txn.insert(table, dict(doc))


class FileInboxTxn:
    def __init__(self, txn: Transaction) -> None:
        self.txn = txn

    def messages(self) -> Mapping[int, Doc]:
        return {int(k): d for k, d in self.txn.raw(MESSAGES).items()}

    def append(self, doc: Doc) -> int:
        # Always max + 1 (not Transaction.insert, which may reuse a lower free id): inbox doc
        # ids must ascend in file order for the fast append (splice_insert) to find the next.
        return _append(self.txn, MESSAGES, doc)

    def put(self, seq: int, doc: Doc) -> None:
        self.txn.put(MESSAGES, str(seq), dict(doc))

    def delete(self, seqs: Iterable[int]) -> None:
        self.txn.delete(MESSAGES, [str(s) for s in seqs])


class FileArchiveTxn:
    def __init__(self, txn: Transaction) -> None:
        self.txn = txn

    def bead_docs(self) -> list[Doc]:
        return list(self.txn.raw(BEADS).values())

    def put_beads(self, docs: Iterable[Doc]) -> None:
        """Upsert by bead id; an existing copy is updated field by field. New ones get doc
        ids max + 1 onward, as `_append` numbers them, from one max: taking it per bead made
        an import of N closed beads O(N^2) (100,000 took hours)."""
        table = self.txn.raw(BEADS)
        existing = {d["id"]: k for k, d in table.items()}
        next_id = max(map(int, table), default=0) + 1
        for doc in docs:
            key = existing.get(doc["id"])
            if key is not None:
                self.txn.put(BEADS, key, {**self.txn.raw(BEADS)[key], **doc})
            else:
                key = existing[doc["id"]] = str(next_id)
                self.txn.put(BEADS, key, dict(doc))
                next_id += 1

    def remove_beads(self, bead_ids: Iterable[str]) -> None:
        wanted = set(bead_ids)
        keys = [k for k, d in self.txn.raw(BEADS).items() if d.get("id") in wanted]
        if keys:
            self.txn.delete(BEADS, keys)

    def message_docs(self) -> Mapping[int, Doc]:
        return {int(k): d for k, d in self.txn.raw(ARCHIVE_MAIL).items()}

    def put_messages(self, docs: Iterable[Doc]) -> None:
        # (id, inbox) identifies a copy: a retried move replaces, never duplicates.
        table = self.txn.raw(ARCHIVE_MAIL)
        existing = {(d.get("id"), d.get("inbox")): k for k, d in table.items()}
        for doc in docs:
            key = existing.get((doc.get("id"), doc.get("inbox")))
            if key is not None:
                self.txn.put(ARCHIVE_MAIL, key, dict(doc))
            else:
                self.txn.insert(ARCHIVE_MAIL, dict(doc))


# -- the fast inbox append ----------------------------------------------------------------------
# An inbox file is the compact JSON (town/jsoncodec.py) of {"messages": {"1": doc, ...}}: one
# table, keys ascending in insertion order (every writer appends max + 1), and each doc starts
# with "id" and holds no nested object but the flat `meta`. Parsing 5,000 messages (~5 MB) and
# dumping them again is most of what a send would cost, so a send splices the new doc in before
# the closing braces instead. Anything that does not look exactly like that layout returns None
# and the caller takes the parse-everything path.
_HEAD = b'{"' + MESSAGES.encode() + b'":{'
_EMPTY = _HEAD + b"}}"
_DOC_START = b':{"id":"'
DUPLICATE: Any = object()


def splice_insert(
    raw: bytes | None, doc: dict[str, Any], check_duplicate: bool = True
) -> tuple[bytes, int] | Any | None:
    """New file bytes with `doc` appended and its doc id; DUPLICATE if a doc with the same id
    is there already (only looked for with `check_duplicate`); None if the fast path does not
    apply."""
    body = jsoncodec.dumps(doc)
    if not body.startswith(b'{"id":"'):
        return None
    if raw is None or raw == _EMPTY:
        return _HEAD + b'"1":' + body + b"}}", 1
    if not (raw.startswith(_HEAD) and raw.endswith(b"}}")):
        return None
    # A quote inside a JSON string is escaped, so `{"id":"<id>",` only occurs as a doc start.
    if check_duplicate and b'{"id":' + jsoncodec.dumps(doc["id"]) + b"," in raw:
        return DUPLICATE
    at = raw.rfind(_DOC_START)
    if at < 0 or raw[at - 1 : at] != b'"':
        return None
    open_quote = raw.rfind(b'"', 0, at - 1)
    key_text = raw[open_quote + 1 : at - 1]
    if not key_text.isdigit():
        return None
    if raw[open_quote - 1 : open_quote] != b"," and open_quote != len(_HEAD):
        return None
    # The found doc must run exactly to the table's closing brace: then it is the last doc of
    # the only table (a trailing table or a nested object would make this fail to parse).
    try:
        last = jsoncodec.loads(raw[at + 1 : -2])
    except ValueError:
        return None
    if not isinstance(last, dict) or "id" not in last:
        return None
    key = int(key_text) + 1
    if b'"%d":{' % key in raw:
        return None  # keys are not ascending: let the general path pick the id
    # One join, one copy: `a + b + c` on a 5 MB file would copy it once per `+`.
    return b"".join((memoryview(raw)[:-2], b',"%d":' % key, body, b"}}")), key


# -- repositories -------------------------------------------------------------------------------


class _Repo:
    def __init__(self, backend: FileBackend) -> None:
        self.b = backend


class FileRigs(_Repo):
    def docs(self) -> list[Doc]:
        return list(self.b.town_file().table(RIGS).values())


class FileConvoys(_Repo):
    def docs(self) -> list[Doc]:
        return list(self.b.town_file().table(CONVOYS).values())


class FileAgents(_Repo):
    def docs(self) -> list[Doc]:
        return list(self.b.town_file().table(AGENTS).values())


class FileBeads(_Repo):
    def docs(self, rig: str) -> Iterable[Doc]:
        return self.b.rig_file(rig).table(BEADS).values()

    def has_rig(self, rig: str) -> bool:
        return self.b.layout.rig_file(rig).exists()


class FilePolecats(_Repo):
    def docs(self, rig: str) -> list[Doc]:
        return list(self.b.rig_file(rig).table(POLECATS).values())

    def with_beads(self, rig: str) -> tuple[list[Doc], list[Doc]]:
        tables = self.b.rig_file(rig).read()
        return list(tables.get(POLECATS, {}).values()), list(tables.get(BEADS, {}).values())


class FileMergeRequests(_Repo):
    def docs(self, rig: str) -> list[Doc]:
        return list(self.b.rig_file(rig).table(MERGE_REQUESTS).values())


class FileMail(_Repo):
    def _file(self, address: str) -> StoreFile:
        return self.b.store.file(self.b.layout.mail_file(address))

    def inboxes(self) -> list[str]:
        return sorted(decode_address(p.stem) for p in self.b.store.files_in(self.b.layout.mail_dir))

    def docs(self, address: str) -> Mapping[int, Doc]:
        return {int(k): d for k, d in self._file(address).table(MESSAGES).items()}

    def exists(self, address: str) -> bool:
        return self.b.layout.mail_file(address).exists()

    @contextlib.contextmanager
    def txn(self, address: str) -> Iterator[FileInboxTxn]:
        with self._file(address).transaction() as txn:
            yield FileInboxTxn(txn)

    def append(self, address: str, doc: Doc, *, idempotent: bool = False) -> int | None:
        inbox = self._file(address)
        with flocked(inbox.lock_path):
            try:
                raw: bytes | None = inbox.path.read_bytes()
            except FileNotFoundError:
                inbox.read()  # a lost inbox (the file index lists it) is an error, not new
                raw = None
            plan = splice_insert(raw, doc, check_duplicate=idempotent)
            if plan is DUPLICATE:
                return None
            if isinstance(plan, tuple):
                payload, seq = plan
                atomic_write_bytes(inbox.path, payload)
                self.b.store.cache.drop(inbox.path)
                if raw is None:
                    inbox.record_created()
                return seq
            # Not our plain layout (hand-edited, other tables, unknown key order): take the
            # general path, which parses the file (and reports it if it is corrupt).
            with self.txn(address) as tx:
                if any(d.get("id") == doc["id"] for d in tx.messages().values()):
                    return None
                return tx.append(doc)


class FileArchive(_Repo):
    def _file(self, month: str) -> StoreFile:
        return self.b.store.file(self.b.layout.archive_file(month))

    def months(self) -> list[str]:
        paths = self.b.store.files_in(self.b.layout.archive_dir)
        return sorted((p.stem for p in paths), reverse=True)

    def bead_docs(self, month: str) -> list[Doc]:
        return list(self._file(month).table(BEADS).values())

    def message_docs(self, month: str) -> Mapping[int, Doc]:
        return {int(k): d for k, d in self._file(month).table(ARCHIVE_MAIL).items()}

    @contextlib.contextmanager
    def txn(self, month: str) -> Iterator[FileArchiveTxn]:
        with self._file(month).transaction() as txn:
            yield FileArchiveTxn(txn)


class FileChanges:
    """The change feed of the files backend: a changed path under the town root, as a
    `Changed` scope (layout.classify)."""

    def __init__(self, layout: FileLayout) -> None:
        root = layout.root
        self.watch_root = root.resolve() if root.exists() else root
        self._prefix = str(self.watch_root)

    def classify(self, path: str) -> Changed | None:
        return classify(self._prefix, path)


class FileBackend:
    """The town's store as flock + atomic-rename JSON files (see the module docstring)."""

    name = "files"

    def __init__(self, root: Path) -> None:
        self.layout = FileLayout(root)
        self.store = Store(self.layout.store, self.layout.locks)
        self.rigs = FileRigs(self)
        self.convoys = FileConvoys(self)
        self.agents = FileAgents(self)
        self.beads = FileBeads(self)
        self.polecats = FilePolecats(self)
        self.merge_requests = FileMergeRequests(self)
        self.mail = FileMail(self)
        self.archive = FileArchive(self)
        self.ids = IdIndex(self.layout.ids_file, self.layout.locks / "ids.lock")
        self._changes: FileChanges | None = None

    @property
    def changes(self) -> FileChanges:
        if self._changes is None:  # resolves the root: only the app's watcher needs it
            self._changes = FileChanges(self.layout)
        return self._changes

    # files (for this backend, its doctor and backups: storage/doctor.py) ----------------------
    def town_file(self) -> StoreFile:
        return self.store.file(self.layout.town_file)

    def rig_file(self, rig: str) -> StoreFile:
        # Journaled: the app reads what a write changed, not the whole rig (journal.py).
        return self.store.file(self.layout.rig_file(rig), journal=True)

    def inbox_file(self, address: str) -> StoreFile:
        return self.store.file(self.layout.mail_file(address))

    # the town ----------------------------------------------------------------------------
    def exists(self) -> bool:
        return self.layout.town_file.exists()

    def require(self) -> None:
        if not self.exists():
            raise StoreCorrupt(self.layout.town_file, "the file is missing")

    def create(self, meta: Doc) -> None:
        for folder in (
            self.layout.store,
            self.layout.rig_store,
            self.layout.mail_dir,
            self.layout.archive_dir,
            self.layout.locks,
        ):
            make_private_dirs(folder)
        with self.town_txn() as tx:
            tx.put_meta(meta)

    @contextlib.contextmanager
    def town_txn(self) -> Iterator[FileTownTxn]:
        with self.town_file().transaction() as txn:
            yield FileTownTxn(txn)

    @contextlib.contextmanager
    def rig_txn(self, rig: str) -> Iterator[FileRigTxn]:
        with self.rig_file(rig).transaction() as txn:
            yield FileRigTxn(txn, rig)

    def retire_rig(self, rig: str, stamp: str) -> str | None:
        rig_file = self.rig_file(rig)
        with flocked(rig_file.lock_path):
            if not rig_file.path.exists():
                return None
            moved = self.layout.store / "removed" / f"{rig}-{stamp}.json"
            moved.parent.mkdir(parents=True, exist_ok=True)
            rig_file.path.replace(moved)
            remove_journal(rig_file.path)
            self.store.index.remove(rig_file.path)  # moved on purpose
            return str(moved)

    def problems(self) -> Iterator[str]:
        try:
            rigs = [str(d.get("name")) for d in self.rigs.docs()]
        except StoreCorrupt as exc:
            yield str(exc)
            return
        for rig in rigs:
            try:
                self.rig_file(rig).read()
            except StoreCorrupt as exc:
                yield str(exc)

    def sweep(self) -> list[str]:
        return [f"swept orphan temp file {p}" for p in self.store.sweep_orphans()]
