"""The per-record change journal of a store file (issue 12: work proportional to what changed).

A rig file holds every open bead of its rig; parsing it again after each write cost the app
most of its CPU per write (about 150 ms at 5,000 open beads). So each transaction on a
journaled file (the rig files: storage/file_backend.py) also appends one line to
`.<name>.journal` beside it, saying which documents it put and deleted:

    {"prev": [ino, size, mtime_ns], "key": [ino, size, mtime_ns],
     "put": {table: {doc_id: doc, ...}}, "del": {table: [doc_id, ...]}}

`prev` is the identity (files.py `_stat_key`) of the file the transaction read, `key` the one
it wrote. A reader holding the tables of file `prev` (its cache, files.py StoreCache) applies
the entries that lead from there to the file now on disk, walking back from the current
file's identity; the documents it did not touch stay the same objects, so a diff downstream
(views/ledger.py) can skip them by identity.

Crash safety: the journal is only ever a shortcut. The line is appended under the file's lock,
after the new file is fsynced and before it is renamed into place, without an fsync of its
own. Whatever goes wrong (a writer killed between the line and the rename, a torn or lost
line, a writer that changed the file another way, a journal restarted because it grew past
JOURNAL_MAX) leaves a chain that does not reach the reader's file, and the reader parses the
whole file as before. Nothing else reads the journal; deleting it is always safe.
"""

from __future__ import annotations

import os
from pathlib import Path

from gastown_tui.town import jsoncodec

TYPE_CHECKING = False  # typing's import is ~2 ms of every gt call (tests/test_cli_cheap.py)
if TYPE_CHECKING:
    from typing import Any

    Key = tuple[int, int, int]
    Tables = dict[str, dict[str, dict[str, Any]]]

SUFFIX = ".journal"
JOURNAL_MAX = 1 << 20  # bytes: past this the next entry starts a fresh journal
MAX_HELD = 4096  # entries a reader keeps that led nowhere yet (a writer mid-rename)


def journal_path(path: Path) -> Path:
    """`.<name>.journal` beside the store file: a dot name, so the app's watcher ignores it
    (storage/layout.py `classify`), and not `*.json`, so no store listing sees it."""
    return path.with_name(f".{path.name}{SUFFIX}")


def entry_line(
    prev: Key,
    key: Key,
    data: Tables,
    changed: dict[str, dict[str, None]],
    moved: dict[str, set[str]],
) -> bytes:
    """One journal line. `changed`: doc ids a transaction put or deleted, per table, in the
    order it first touched them (a new one is appended to its table then, as in the file);
    `moved`: those it deleted at some point (a re-put one goes to the table's end)."""
    put: dict[str, dict[str, Any]] = {}
    gone: dict[str, list[str]] = {}
    for table, ids in changed.items():
        docs = data.get(table, {})
        dropped = moved.get(table, set())
        kept = [i for i in ids if i in docs]
        if dropped & set(kept):
            # File order matters to the reader's copy: take the put ids in the table's order.
            kept = [i for i in docs if i in ids]
        if kept:
            put[table] = {i: docs[i] for i in kept}
        gone_ids = sorted(dropped | {i for i in ids if i not in docs})
        if gone_ids:
            gone[table] = gone_ids
    return jsoncodec.dumps({"prev": list(prev), "key": list(key), "put": put, "del": gone}) + b"\n"


def append(path: Path, line: bytes) -> None:
    """Add a line to the journal (the caller holds the store file's lock); a journal grown
    past JOURNAL_MAX is replaced by one holding only this line. Never raises: a journal that
    cannot be written only makes readers parse the file."""
    journal = journal_path(path)
    try:
        try:
            size = journal.stat().st_size
        except FileNotFoundError:
            size = 0
        # files.py imports this module: import back only when a line is written.
        from gastown_tui.town.storage.files import append_line, atomic_write_bytes

        if size and size + len(line) > JOURNAL_MAX:
            atomic_write_bytes(journal, line, durable=False)
            return
        append_line(journal, line)
    except OSError:
        pass


def remove(path: Path) -> None:
    """Drop the journal of a file that is being moved away (a retired rig)."""
    try:
        journal_path(path).unlink()
    except OSError:
        pass


class JournalReader:
    """One process's place in one journal: the byte offset read so far (of which journal
    file), and the entries read that were not used yet. Used under the cache's lock for the
    file (files.py StoreCache), so one thread at a time."""

    __slots__ = ("entries", "ino", "journal", "offset")

    def __init__(self, path: Path) -> None:
        self.journal = journal_path(path)
        self.ino = 0
        self.offset = 0
        self.entries: dict[Key, dict[str, Any]] = {}

    def skip_to_end(self) -> None:
        """Called before a full parse of the file: what the journal holds so far is older."""
        self.entries.clear()
        try:
            stat = self.journal.stat()
        except OSError:
            self.ino, self.offset = 0, 0
            return
        self.ino, self.offset = stat.st_ino, stat.st_size

    def _read_new(self) -> None:
        try:
            fd = os.open(self.journal, os.O_RDONLY)
        except OSError:
            self.ino, self.offset = 0, 0
            return
        try:
            stat = os.fstat(fd)
            if stat.st_ino != self.ino or stat.st_size < self.offset:
                self.ino, self.offset = stat.st_ino, 0  # a fresh journal
            if stat.st_size <= self.offset:
                return
            raw = os.pread(fd, stat.st_size - self.offset, self.offset)
        finally:
            os.close(fd)
        end = raw.rfind(b"\n")
        if end < 0:
            return
        self.offset += end + 1
        loads = jsoncodec.loader_for(len(raw))
        if len(self.entries) > MAX_HELD:
            self.entries.clear()
        for line in raw[: end + 1].splitlines():
            try:
                entry = loads(line)
                self.entries[tuple(entry["key"])] = entry  # type: ignore[index]
            except (ValueError, TypeError, KeyError):
                continue  # a torn line: the chain through it breaks, the reader parses

    def catch_up(self, old_key: Key, old: Tables, new_key: Key) -> Tables | None:
        """The tables of file `new_key` from those of file `old_key`, by the journal; None
        when the journal does not lead from one to the other (parse the file instead).
        `old` is never changed: the tables that changed are copies, the rest shared."""
        self._read_new()
        chain: list[dict[str, Any]] = []
        key = new_key
        while key != old_key:
            entry = self.entries.get(key)
            if entry is None or len(chain) > len(self.entries):
                return None
            chain.append(entry)
            try:
                key = tuple(entry["prev"])  # type: ignore[assignment]
            except (KeyError, TypeError):
                return None
        for entry in chain:
            self.entries.pop(tuple(entry["key"]), None)
        return apply(old, reversed(chain))


def apply(old: Tables, entries: Any) -> Tables | None:
    """`old` with the entries' deletions and puts, copying only the tables they touch; None
    if an entry is not of the journal's shape."""
    from gastown_tui.town.shapes import shape_problem

    data = dict(old)
    copied: set[str] = set()
    try:
        for entry in entries:
            put, gone = entry["put"], entry["del"]
            for table in (*gone, *put):
                if table not in copied:
                    data[table] = dict(data.get(table, {}))
                    copied.add(table)
            for table, ids in gone.items():
                docs = data[table]
                for doc_id in ids:
                    docs.pop(doc_id, None)
            if shape_problem(put) is not None:
                return None
            for table, docs in put.items():
                data[table].update(docs)
    except (KeyError, TypeError, AttributeError):
        return None
    return data
