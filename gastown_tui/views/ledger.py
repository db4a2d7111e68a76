"""The Rigs pane's rows, kept up to date by applying what changed (issue 12).

A store write by any process names the rig file it touched (`rig:<name>`, see
`change_scope`). Reloading every rig's beads and rebuilding every row on each write cost the
app 123 ms at 1k beads and 271 ms at 10k; `RigsLedger.apply` re-reads only the rigs that
changed, keeps the row of every bead whose stored document is unchanged, and says which rows
changed, so the pane repaints those and nothing else. The store follows a write through the
rig's change journal (town/storage/journal.py), handing back the very documents no write
touched, so the changed ones are found by identity; their rows are patched into each rig's
sorted rows and ready list instead of sorting every open bead again (at 5,000 open beads a
write went from ~24 ms of ledger work to ~3). `TownData.load_rigs` stays the full reload the
tests compare it against (tests/test_tui_ledger.py).

No textual here: this runs in a thread worker, and any front end may use it.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gastown_tui.views.rows import BeadRow, RigRow, RigsSnapshot

if TYPE_CHECKING:
    from gastown_tui.town.town import Town

Doc = dict[str, Any]


@dataclass(frozen=True)
class LedgerChange:
    """A new snapshot and what differs from the one before it."""

    snapshot: RigsSnapshot
    beads: frozenset[str] = frozenset()  # ids whose row changed, appeared or went
    rigs: frozenset[str] = frozenset()  # rigs whose row (counts, ready list) changed
    full: bool = False  # the rig list itself changed: rebuild everything

    @property
    def empty(self) -> bool:
        return not (self.beads or self.rigs or self.full)


class _Sorted:
    """Rows in (priority, created, id) order, kept sorted as rows come and go: one bisect a
    change instead of sorting every open bead again."""

    __slots__ = ("keys", "rows")

    def __init__(self) -> None:
        self.keys: list[tuple[Any, ...]] = []
        self.rows: list[BeadRow] = []

    def add(self, key: tuple[Any, ...], row: BeadRow) -> None:
        at = bisect.bisect_left(self.keys, key)
        self.keys.insert(at, key)
        self.rows.insert(at, row)

    def remove(self, key: tuple[Any, ...]) -> None:
        at = bisect.bisect_left(self.keys, key)
        if at < len(self.keys) and self.keys[at] == key:
            del self.keys[at]
            del self.rows[at]

    def replace(self, key: tuple[Any, ...], row: BeadRow) -> None:
        """A row whose key did not change (a new title, say): in place."""
        at = bisect.bisect_left(self.keys, key)
        self.rows[at] = row

    def fill(self, items: list[tuple[tuple[Any, ...], BeadRow]]) -> None:
        items.sort(key=lambda item: item[0])
        self.keys = [k for k, _ in items]
        self.rows = [r for _, r in items]


@dataclass
class _RigState:
    prefix: str
    docs: dict[str, Doc] = field(default_factory=dict)  # open beads by id, as last read
    rows: dict[str, BeadRow] = field(default_factory=dict)
    keys: dict[str, tuple[Any, ...]] = field(default_factory=dict)  # their sort keys
    ready: set[str] = field(default_factory=set)
    open: _Sorted = field(default_factory=_Sorted)
    ready_rows: _Sorted = field(default_factory=_Sorted)
    counts: dict[str, int] = field(default_factory=dict)  # open beads by status
    polecats: list[Doc] = field(default_factory=list)  # as last read (identity: changed?)
    row: RigRow | None = None


def _sort_key(doc: Doc) -> tuple[Any, ...]:
    # The order of town.beads.list_docs and town.beads.ready.
    return (doc.get("priority", 2), doc.get("created_at", ""), doc["id"])


def _blockers(doc: Doc) -> list[str]:
    return [
        str(dep.get("on"))
        for dep in doc.get("deps") or ()
        if dep.get("type") == "blocks" and dep.get("on")
    ]


def _ready(doc: Doc, live: Mapping[str, str]) -> bool:
    """Open, unassigned, and no `blocks` dependency on a bead that is not closed (a blocker
    in no rig file is archived, so closed): town.beads.ready's rule."""
    if doc.get("status") != "open" or doc.get("assignee"):
        return False
    return not any(on in live for on in _blockers(doc))


# Past this many changed beads in one rig, sort it again rather than bisect each one in.
BULK = 256


class RigsLedger:
    """The open beads of every rig, as rows, updated bead by bead. One instance per app; its
    `apply` runs in one thread worker at a time (the lock makes a stray second one wait).

    What it keeps, so that a write costs what it changed: each rig's open documents as last
    read (the store hands back the very same objects for documents no write touched: its
    journal, town/storage/journal.py), their rows in display order, which are ready, and who
    blocks whom. A write is found by identity, in one pass over the rig's documents; only the
    beads that changed, and those their coming or going unblocked or blocked, are worked on."""

    def __init__(self, town: Town) -> None:
        self.town = town
        self._rigs: dict[str, _RigState] = {}
        self._names: tuple[str, ...] = ()
        self._snapshot = RigsSnapshot()
        self._lock = threading.Lock()
        self._pending: set[str] | None = None  # rigs to re-read; None: every rig
        self._where: dict[str, str] = {}  # open bead id -> its rig (the live set)
        self._blocked_by: dict[str, set[str]] = {}  # blocker id -> open beads it blocks
        self._polecats_changed = True

    def mark(self, rigs: Iterable[str] | None) -> None:
        """Note rigs whose files changed (None: all). Called as changes arrive, so a burst
        whose loader workers replace each other (an exclusive worker group cancels a pending
        one before it runs) still re-reads every rig it touched at the next `apply`."""
        with self._lock:
            if rigs is None:
                self._pending = None
            elif self._pending is not None:
                self._pending |= set(rigs)

    def apply_marked(self) -> LedgerChange:
        """Re-read what `mark` noted since the last apply."""
        with self._lock:
            wanted, self._pending = self._pending, set()
            return self._apply(wanted)

    @property
    def snapshot(self) -> RigsSnapshot:
        return self._snapshot

    def take_polecats_changed(self) -> bool:
        """Whether an apply since the last call saw what the polecats' rows show change: a
        polecat record, or a bead that is or was on someone's hook (town/polecats.py
        `hooked_docs`). A write to other beads need not make anyone look at the polecats."""
        with self._lock:
            changed, self._polecats_changed = self._polecats_changed, False
            return changed

    def apply(self, rigs: Iterable[str] | None = None) -> LedgerChange:
        """Re-read the rig files of `rigs` (None: all of them, as at start) and return the
        new snapshot with the rows that changed."""
        with self._lock:
            wanted = None if rigs is None else set(rigs)
            if wanted is not None and self._pending is not None:
                wanted |= self._pending
            self._pending = set()
            return self._apply(wanted)

    # -- reading -----------------------------------------------------------------------------
    def _apply(self, wanted: set[str] | None) -> LedgerChange:
        records = self.town.rigs.list()
        names = tuple(r.name for r in records)
        full = names != self._names
        if full:
            wanted = None
            self._polecats_changed = True
            for gone in [n for n in self._rigs if n not in names]:
                self._drop_rig(gone)
        reads: dict[str, _Read] = {}
        for record in records:
            state = self._rigs.get(record.name)
            if state is not None and state.prefix != record.prefix:
                self._drop_rig(record.name)
                state = None
            if state is None:
                state = self._rigs[record.name] = _RigState(record.prefix)
                reads[record.name] = self._read(record.name, state)
            elif wanted is None or record.name in wanted:
                reads[record.name] = self._read(record.name, state)
        self._names = names
        return self._build(reads, full)

    def _drop_rig(self, rig: str) -> None:
        state = self._rigs.pop(rig)
        for bead_id, doc in state.docs.items():
            self._unlink(bead_id, doc)

    def _unlink(self, bead_id: str, doc: Doc) -> None:
        self._where.pop(bead_id, None)
        for on in _blockers(doc):
            blocked = self._blocked_by.get(on)
            if blocked is not None:
                blocked.discard(bead_id)
                if not blocked:
                    del self._blocked_by[on]

    def _link(self, bead_id: str, doc: Doc, rig: str) -> None:
        self._where[bead_id] = rig
        for on in _blockers(doc):
            self._blocked_by.setdefault(on, set()).add(bead_id)

    def _read(self, rig: str, state: _RigState) -> _Read:
        """Take the rig's open beads as stored now."""
        polecats = self.town.storage.polecats.docs(rig)
        if len(polecats) != len(state.polecats) or any(
            a is not b for a, b in zip(polecats, state.polecats, strict=True)
        ):
            self._polecats_changed = True
        state.polecats = polecats
        held = state.docs
        fresh: dict[str, Doc | None] = {}  # id -> its new document, None: it left
        same = 0
        for doc in self.town.storage.beads.docs(rig):
            bead_id = doc["id"]
            before = held.get(bead_id)
            if before is doc:
                same += 1  # untouched since the last read: the very same object
            elif doc.get("status") != "closed":
                if before is not None and before == doc:
                    held[bead_id] = doc  # the same, parsed again: keep its row
                    same += 1
                else:
                    fresh[bead_id] = doc
            elif before is not None:
                fresh[bead_id] = None  # closed: no longer open
        if same + sum(1 for i in fresh if i in held) < len(held):
            # A held bead is no longer in the file (archived, removed): find which.
            present = {doc["id"] for doc in self.town.storage.beads.docs(rig)}
            for bead_id in held.keys() - present:
                fresh[bead_id] = None
        read = _Read(bulk=len(fresh) > BULK)
        for bead_id, doc in fresh.items():
            self._set(rig, state, bead_id, doc, read)
        return read

    def _set(self, rig: str, state: _RigState, bead_id: str, doc: Doc | None, read: _Read) -> None:
        """One bead's new document (None: it left the open beads) into the rig's state."""
        read.docs.add(bead_id)
        before = state.docs.pop(bead_id, None)
        if before is not None:
            self._unlink(bead_id, before)
            status = str(before.get("status", "open"))
            state.counts[status] -= 1
            if not state.counts[status]:
                del state.counts[status]
            if before.get("assignee"):
                self._polecats_changed = True
        if doc is None:
            read.rows.add(bead_id)
            read.live.add(bead_id)
            key = state.keys.pop(bead_id)
            del state.rows[bead_id]
            if not read.bulk:
                state.open.remove(key)
                if bead_id in state.ready:
                    state.ready_rows.remove(key)
            state.ready.discard(bead_id)
            return
        state.docs[bead_id] = doc
        self._link(bead_id, doc, rig)
        status = str(doc.get("status", "open"))
        state.counts[status] = state.counts.get(status, 0) + 1
        if doc.get("assignee"):
            self._polecats_changed = True
        if before is None:
            read.live.add(bead_id)
        key, row = _sort_key(doc), BeadRow.from_doc(doc)
        old_key, old_row = state.keys.get(bead_id), state.rows.get(bead_id)
        if old_row is not None and old_key == key and old_row == row:
            return  # what the row shows is the same (a description changed): keep it
        read.rows.add(bead_id)
        state.keys[bead_id], state.rows[bead_id] = key, row
        if read.bulk:
            return
        if old_key is None:
            state.open.add(key, row)
        elif old_key == key:
            state.open.replace(key, row)
            if bead_id in state.ready:
                state.ready_rows.replace(key, row)
        else:
            state.open.remove(old_key)
            state.open.add(key, row)
            if bead_id in state.ready:  # settled again in _build
                state.ready.discard(bead_id)
                state.ready_rows.remove(old_key)

    # -- the snapshot --------------------------------------------------------------------------
    def _build(self, reads: dict[str, _Read], full: bool) -> LedgerChange:
        # Readiness: of the beads whose document changed, and of the beads blocked by one
        # that came or went (cross-rig blockers too). Every other bead kept its readiness.
        live = self._where
        touched: set[str] = set()
        for read in reads.values():
            touched |= read.docs
            for bead_id in read.live:
                touched |= self._blocked_by.get(bead_id, set())
        rigs_changed = {rig for rig, read in reads.items() if read.rows}
        for bead_id in touched:
            rig = live.get(bead_id)
            if rig is None:
                continue
            state = self._rigs[rig]
            ready = _ready(state.docs[bead_id], live)
            if ready == (bead_id in state.ready):
                continue
            rigs_changed.add(rig)
            bulk = rig in reads and reads[rig].bulk
            if ready:
                state.ready.add(bead_id)
                if not bulk:
                    state.ready_rows.add(state.keys[bead_id], state.rows[bead_id])
            else:
                state.ready.discard(bead_id)
                if not bulk:
                    state.ready_rows.remove(state.keys[bead_id])
        rig_rows: list[RigRow] = []
        open_beads: list[BeadRow] = []
        for name in self._names:
            state = self._rigs[name]
            read = reads.get(name)
            if read is not None and read.bulk:
                state.open.fill([(state.keys[i], state.rows[i]) for i in state.docs])
                state.ready_rows.fill([(state.keys[i], state.rows[i]) for i in state.ready])
            if state.row is None or name in rigs_changed:
                state.row = RigRow(
                    name=name,
                    prefix=state.prefix,
                    open_count=len(state.docs),
                    ready=tuple(state.ready_rows.rows),
                    status_counts=tuple(sorted(state.counts.items())),
                )
                rigs_changed.add(name)
            rig_rows.append(state.row)
            open_beads.extend(state.open.rows)
        self._snapshot = RigsSnapshot(tuple(rig_rows), tuple(open_beads))
        changed_beads = frozenset().union(*(read.rows for read in reads.values()))
        return LedgerChange(self._snapshot, changed_beads, frozenset(rigs_changed), full)


@dataclass
class _Read:
    """What reading one rig found: ids whose document changed (appeared, went, rewritten),
    whose row changed, and which came into or left the open beads."""

    bulk: bool = False  # so many changed that the rig's order is sorted again, not patched
    docs: set[str] = field(default_factory=set)
    rows: set[str] = field(default_factory=set)
    live: set[str] = field(default_factory=set)
