"""The Rigs pane's rows, kept up to date by applying what changed (issue 12).

A store write by any process names the rig file it touched (`rig:<name>`, see
`change_scope`). Reloading every rig's beads and rebuilding every row on each write cost the
app 123 ms at 1k beads and 271 ms at 10k; `RigsLedger.apply` re-reads only the rigs that
changed, keeps the row of every bead whose stored document is unchanged, and says which rows
changed, so the pane repaints those and nothing else. `TownData.load_rigs` stays the full
reload the tests compare it against (tests/test_tui_ledger.py).

No textual here: this runs in a thread worker, and any front end may use it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
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


@dataclass
class _RigState:
    prefix: str
    docs: dict[str, Doc] = field(default_factory=dict)  # open beads by id, as last read
    rows: dict[str, BeadRow] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)  # ids by (priority, created, id)


def _sort_key(doc: Doc) -> tuple[Any, ...]:
    # The order of town.beads.list_docs and town.beads.ready.
    return (doc.get("priority", 2), doc.get("created_at", ""), doc["id"])


def _ready(doc: Doc, live: set[str]) -> bool:
    """Open, unassigned, and no `blocks` dependency on a bead that is not closed (a blocker
    in no rig file is archived, so closed): town.beads.ready's rule."""
    if doc.get("status") != "open" or doc.get("assignee"):
        return False
    return not any(
        dep.get("on") in live for dep in doc.get("deps") or () if dep.get("type") == "blocks"
    )


class RigsLedger:
    """The open beads of every rig, as rows, updated rig by rig. One instance per app; its
    `apply` runs in one thread worker at a time (the lock makes a stray second one wait)."""

    def __init__(self, town: Town) -> None:
        self.town = town
        self._rigs: dict[str, _RigState] = {}
        self._names: tuple[str, ...] = ()
        self._snapshot = RigsSnapshot()
        self._lock = threading.Lock()
        self._pending: set[str] | None = None  # rigs to re-read; None: every rig

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

    def apply(self, rigs: Iterable[str] | None = None) -> LedgerChange:
        """Re-read the rig files of `rigs` (None: all of them, as at start) and return the
        new snapshot with the rows that changed."""
        with self._lock:
            wanted = None if rigs is None else set(rigs)
            if wanted is not None and self._pending is not None:
                wanted |= self._pending
            self._pending = set()
            return self._apply(wanted)

    def _apply(self, wanted: set[str] | None) -> LedgerChange:
        records = self.town.rigs.list()
        names = tuple(r.name for r in records)
        full = names != self._names
        if full:
            wanted = None
            self._rigs = {n: s for n, s in self._rigs.items() if n in names}
        changed_beads: set[str] = set()
        for record in records:
            state = self._rigs.get(record.name)
            if state is None or state.prefix != record.prefix:
                state = self._rigs[record.name] = _RigState(record.prefix)
                changed_beads |= self._read(record.name, state)
            elif wanted is None or record.name in wanted:
                changed_beads |= self._read(record.name, state)
        self._names = names
        return self._build(changed_beads, full)

    def _read(self, rig: str, state: _RigState) -> set[str]:
        """Take the rig's open beads as stored now; the ids whose row changed."""
        docs = self.town.beads.list_docs(rig=rig)
        changed: set[str] = set()
        fresh: dict[str, Doc] = {}
        rows: dict[str, BeadRow] = {}
        for doc in docs:
            bead_id = doc["id"]
            fresh[bead_id] = doc
            before = state.docs.get(bead_id)
            # An unchanged file hands back the same objects; a rewritten one equal ones.
            if before is not None and (before is doc or before == doc):
                rows[bead_id] = state.rows[bead_id]
            else:
                rows[bead_id] = BeadRow.from_doc(doc)
                changed.add(bead_id)
        changed |= state.docs.keys() - fresh.keys()
        state.docs, state.rows = fresh, rows
        state.order = [d["id"] for d in docs]  # list_docs sorts them
        return changed

    def _build(self, changed_beads: set[str], full: bool) -> LedgerChange:
        # Readiness depends on other beads (cross-rig blockers too): recomputed for all, as
        # a set lookup per dependency, from the documents already held.
        live = {i for s in self._rigs.values() for i in s.docs}
        old = {r.name: r for r in self._snapshot.rigs}
        rig_rows: list[RigRow] = []
        open_beads: list[BeadRow] = []
        changed_rigs: set[str] = set()
        for name in self._names:
            state = self._rigs[name]
            counts: dict[str, int] = {}
            ready: list[BeadRow] = []
            for bead_id in state.order:
                doc = state.docs[bead_id]
                status = str(doc.get("status", "open"))
                counts[status] = counts.get(status, 0) + 1
                if _ready(doc, live):
                    ready.append(state.rows[bead_id])
            open_beads.extend(state.rows[i] for i in state.order)
            row = RigRow(
                name=name,
                prefix=state.prefix,
                open_count=len(state.order),
                ready=tuple(ready),
                status_counts=tuple(sorted(counts.items())),
            )
            before = old.get(name)
            if before is not None and before == row:
                row = before  # unchanged: the same object, so the pane can skip it
            else:
                changed_rigs.add(name)
            rig_rows.append(row)
        self._snapshot = RigsSnapshot(tuple(rig_rows), tuple(open_beads))
        return LedgerChange(self._snapshot, frozenset(changed_beads), frozenset(changed_rigs), full)
