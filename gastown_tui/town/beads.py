"""Beads: the work items of a town.

Open beads live in their rig's file (`store/rigs/<rig>.json`, table `beads`) beside the rig's
polecats, so one user-level operation writes one file. Closed beads stay there for a while
(recent history is cheap to show) and are moved to the monthly archive once a rig holds more
than `store.archive_closed_over` of them. A move always writes the destination first, so a
killed mover leaves a bead in two places (the rig file wins), never in none.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator

from gastown_tui.town.clock import iso
from gastown_tui.town.display import first_unsafe
from gastown_tui.town.errors import GtError
from gastown_tui.town.models import (
    ACTIVE_STATUSES,
    BEAD_STATUSES,
    BEAD_TYPES,
    DEP_TYPES,
    Bead,
    Comment,
    Dependency,
)
from gastown_tui.town.validate import one_line, one_of, text_block

TYPE_CHECKING = False  # typing's import is ~2 ms of every gt call (tests/test_cli_cheap.py)
if TYPE_CHECKING:
    from typing import Any

    from gastown_tui.town.storage.base import RigTxn
    from gastown_tui.town.town import Town

UNSET: Any = object()
MAX_TITLE = 500
MAX_DESCRIPTION = 1_000_000


def check_title(title: str | None) -> str:
    return one_line(title, what="title", owner="a bead", limit=MAX_TITLE)


def check_description(text: str | None, what: str = "description") -> str:
    return text_block(text, what=what, limit=MAX_DESCRIPTION)


def check_priority(value: int | str | None) -> int:
    text = str(value).strip().upper().removeprefix("P")
    try:
        number = int(text)
    except ValueError:
        raise GtError(f"priority {value!r} is not a number", hint="use 0 (highest) to 4") from None
    if number not in range(5):
        raise GtError(f"priority {number} is out of range", hint="use 0 (highest) to 4")
    return number


def check_status(value: str) -> str:
    return one_of(value, BEAD_STATUSES, what="status")


def check_type(value: str, extra: Iterable[str] | Callable[[], Iterable[str]] = ()) -> str:
    """Built-in types, or ones town.toml adds under [beads] types (read only when needed)."""
    if value in BEAD_TYPES:
        return value
    return one_of(value, (*BEAD_TYPES, *(extra() if callable(extra) else extra)), what="bead type")


def check_dep_type(value: str) -> str:
    return one_of(value, DEP_TYPES, what="dependency type")


def check_label(value: str) -> str:
    label = value.strip()
    if not label or any(c.isspace() for c in label) or first_unsafe(label) or "," in label:
        raise GtError(f"invalid label {value!r}", hint="labels are single words without commas")
    return label


def _check_hook(tx: RigTxn, bead: Bead) -> None:
    """The invariants of a hook (town/polecats.py): an active bead (hooked, in progress)
    is on the hook of an existing polecat of its rig, and a polecat holds one at a time."""
    if bead.status not in ACTIVE_STATUSES:
        return
    if not bead.assignee:
        raise GtError(
            f"a {bead.status} bead needs an assignee",
            hint=f"pass --assignee {bead.rig}/POLECAT, or use `gt sling {bead.id}`",
        )
    rig, _, name = bead.assignee.partition("/")
    if rig != bead.rig or not name or tx.get_polecat(name) is None:
        names = ", ".join(sorted(p["name"] for p in tx.polecats())) or "none yet"
        raise GtError(
            f"{bead.assignee!r} is not a polecat of rig {bead.rig}, so it cannot hold {bead.id}",
            hint=f"polecats of {bead.rig}: {names}; or use `gt sling {bead.id}`",
        )
    for doc in tx.bead_docs():
        if (
            doc.get("id") != bead.id
            and doc.get("assignee") == bead.assignee
            and doc.get("status") in ACTIVE_STATUSES
        ):
            raise GtError(
                f"{bead.assignee} already holds {doc['id']} ({doc.get('status')})",
                hint="a polecat works on one bead at a time; finish or unassign that one first",
            )


class BeadStore:
    def __init__(self, town: Town) -> None:
        self.town = town

    def _extra_types(self) -> list[str]:
        return list(self.town.config.raw.get("beads", {}).get("types", ()))

    # storage (town/storage/) --------------------------------------------------------------
    @contextlib.contextmanager
    def rig_txn(self, rig: str) -> Iterator[RigTxn]:
        """One rig's beads, polecats and merge requests, committed together."""
        with self.town.storage.rig_txn(rig) as tx:
            yield tx

    def _rig_docs(self, rig: str) -> Iterable[dict[str, Any]]:
        return self.town.storage.beads.docs(rig)

    def _archived_docs(self) -> Iterator[dict[str, Any]]:
        """Archived bead docs, newest month first."""
        archive = self.town.storage.archive
        for month in archive.months():
            yield from archive.bead_docs(month)

    # lookups -----------------------------------------------------------------------------
    def rig_of(self, bead_id: str) -> str | None:
        rig = self.town.ids.rig_of(bead_id)
        if rig is not None:
            return rig
        # An id missing from the index (a hand-edited store): look in the rig files.
        for name in self.town.rigs.names():
            if any(d.get("id") == bead_id for d in self._rig_docs(name)):
                return name
        return None

    def canonical(self, bead_id: str) -> str:
        """Ids are lower case; `AL-K9P34` (or with stray spaces) names `al-k9p34`."""
        text = (bead_id or "").strip()
        if text != bead_id or text != text.lower():
            lower = text.lower()
            if self.town.ids.rig_of(text) is None and self.town.ids.rig_of(lower) is not None:
                return lower
        return text

    def did_you_mean(self, bead_id: str) -> str:
        """A hint for an unknown id: the closest known one, if any is close."""
        import difflib

        known = list(self.town.ids.all())
        close = difflib.get_close_matches((bead_id or "").strip().lower(), known, n=1, cutoff=0.75)
        return f"did you mean {close[0]}?" if close else "list beads with `gt bead list --all`"

    def find(self, bead_id: str) -> Bead | None:
        bead_id = self.canonical(bead_id)
        rig = self.rig_of(bead_id)
        if rig is not None and self.town.rigs.exists(rig):
            for doc in self._rig_docs(rig):
                if doc.get("id") == bead_id:
                    return Bead.from_dict(doc)
        for doc in self._archived_docs():
            if doc.get("id") == bead_id:
                return Bead.from_dict(doc)
        return None

    def get(self, bead_id: str) -> Bead:
        bead = self.find(bead_id)
        if bead is None:
            raise GtError(f"unknown bead {bead_id!r}", hint=self.did_you_mean(bead_id))
        return bead

    def get_many(self, bead_ids: Iterable[str]) -> dict[str, Bead]:
        """Look up many beads reading each file once (convoys, dependencies)."""
        wanted = set(bead_ids)
        found: dict[str, Bead] = {}
        by_rig: dict[str, set[str]] = {}
        for bead_id in wanted:
            rig = self.town.ids.rig_of(bead_id)
            if rig is not None:
                by_rig.setdefault(rig, set()).add(bead_id)
        for rig, ids in by_rig.items():
            if not self.town.rigs.exists(rig):
                continue
            for doc in self._rig_docs(rig):
                if doc.get("id") in ids:
                    found[doc["id"]] = Bead.from_dict(doc)
        missing = wanted - found.keys()
        if missing:
            archive = self.town.storage.archive
            for month in archive.months():
                for doc in archive.bead_docs(month):
                    if doc.get("id") in missing:
                        found[doc["id"]] = Bead.from_dict(doc)
                        missing.discard(doc["id"])
                if not missing:
                    break
        return found

    def list(
        self,
        *,
        rig: str | None = None,
        statuses: Iterable[str] | None = None,
        include_closed: bool = False,
        include_archive: bool = False,
        assignee: str | None = None,
    ) -> list[Bead]:
        docs = self.list_docs(
            rig=rig,
            statuses=statuses,
            include_closed=include_closed,
            include_archive=include_archive,
            assignee=assignee,
        )
        return [Bead.from_dict(doc) for doc in docs]

    def list_docs(
        self,
        *,
        rig: str | None = None,
        statuses: Iterable[str] | None = None,
        include_closed: bool = False,
        include_archive: bool = False,
        assignee: str | None = None,
    ) -> list[dict[str, Any]]:
        """Like `list`, as the stored documents (the `--json` shape); callers must not mutate.

        Listing thousands of beads is a hot path of the CLI and the app: skipping the Bead
        objects halves its cost.
        """
        rigs = [self.town.rigs.get(rig).name] if rig else self.town.rigs.names()
        wanted = set(statuses) if statuses else None

        def keep(doc: dict[str, Any]) -> bool:
            status = doc.get("status")
            if wanted is not None:
                if status not in wanted:
                    return False
            elif status == "closed" and not include_closed:
                return False
            return assignee is None or doc.get("assignee") == assignee

        docs: dict[str, dict[str, Any]] = {}
        for name in rigs:
            for doc in self._rig_docs(name):
                if keep(doc):
                    docs[doc["id"]] = doc
        if include_archive and (wanted is None or "closed" in wanted):
            rig_set = set(rigs)
            for doc in self._archived_docs():
                if doc["id"] not in docs and doc.get("rig") in rig_set and keep(doc):
                    docs[doc["id"]] = doc
        return sorted(
            docs.values(), key=lambda d: (d.get("priority", 2), d.get("created_at", ""), d["id"])
        )

    def ready(self, rig: str | None = None) -> list[Bead]:
        """Open, unassigned, and not blocked by a dependency that is still open."""
        rigs = [self.town.rigs.get(rig).name] if rig else self.town.rigs.names()
        all_rigs = self.town.rigs.names()
        live_status: dict[str, str] = {}
        for name in all_rigs:
            for doc in self._rig_docs(name):
                live_status[doc["id"]] = doc.get("status", "open")
        out = []
        for name in rigs:
            for doc in self._rig_docs(name):
                if doc.get("status") != "open" or doc.get("assignee"):
                    continue
                # A blocker not in any rig file is archived (so closed) or unknown: not blocking.
                if any(
                    live_status.get(dep["on"], "closed") != "closed"
                    for dep in doc.get("deps") or []
                    if dep.get("type") == "blocks"
                ):
                    continue
                out.append(Bead.from_dict(doc))
        return sorted(out, key=lambda b: (b.priority, b.created_at, b.id))

    # writes ------------------------------------------------------------------------------
    def create(
        self,
        title: str,
        *,
        rig: str,
        description: str = "",
        priority: int | str = 2,
        type: str = "task",
        labels: Iterable[str] = (),
        deps: Iterable[tuple[str, str]] = (),
        metadata: dict[str, Any] | None = None,
        actor: str | None = None,
    ) -> Bead:
        rig_record = self.town.rigs.get(rig)
        title = check_title(title)
        description = check_description(description)
        number = check_priority(priority)
        check_type(type, self._extra_types)
        label_list = sorted({check_label(label) for label in labels})
        dep_list = [Dependency(on, check_dep_type(kind)) for on, kind in deps]
        for dep in dep_list:
            if self.find(dep.on) is None:
                raise GtError(f"unknown bead {dep.on!r} in a dependency")
        actor = actor or self.town.actor
        now = iso(self.town.clock.now())
        with self.rig_txn(rig_record.name) as tx:
            bead_id = self.town.ids.reserve(rig_record.prefix, rig_record.name)
            bead = Bead(
                id=bead_id,
                title=title,
                rig=rig_record.name,
                description=description or "",
                priority=number,
                type=type,
                labels=label_list,
                deps=dep_list,
                created_at=now,
                updated_at=now,
                created_by=actor,
                metadata=dict(metadata or {}),
            )
            tx.add_new_bead(bead)
        # Every bead event carries the record as written: `gt doctor` rebuilds from them
        # what a file restored from an older backup is missing (town/storage/doctor.py).
        self.town.events.append(
            "bead.created",
            actor=actor,
            rig=bead.rig,
            bead=bead.id,
            msg=bead.title,
            record=bead.to_dict(),
        )
        return bead

    def mutate(
        self,
        bead_id: str,
        change: Callable[[Bead], str | None],
        *,
        event: str = "bead.updated",
        actor: str | None = None,
        check: Callable[[RigTxn, Bead], None] | None = None,
    ) -> Bead:
        """Apply `change` to a bead inside its rig's transaction and record one event.

        `change` edits the bead in place and returns the event message, or None if nothing
        changed (then nothing is written). It may raise GtError to refuse; nothing is written.
        `check` sees the changed bead and the transaction (the rig's other beads and its
        polecats) and may refuse the same way.
        """
        actor = actor or self.town.actor
        bead_id = self.canonical(bead_id)
        rig = self.rig_of(bead_id)
        if rig is None:
            raise GtError(f"unknown bead {bead_id!r}", hint=self.did_you_mean(bead_id))
        if not self.town.rigs.exists(rig):
            raise GtError(f"bead {bead_id} belongs to the removed rig {rig!r}")
        closed_now: Bead | None = None
        with self.rig_txn(rig) as tx:
            bead = tx.get_bead(bead_id)
            if bead is None:
                bead = self._unarchive(bead_id)
            was_closed = bead.is_closed
            msg = change(bead)
            if msg is None:
                return bead
            if check is not None:
                check(tx, bead)
            bead.updated_at = iso(self.town.clock.now())
            if bead.is_closed and not was_closed:
                bead.closed_at = bead.updated_at
                closed_now = bead
            elif not bead.is_closed:
                bead.closed_at = None
            tx.put_bead(bead)
            if closed_now is not None:
                self._maybe_archive(tx)  # only a close can push the count over
        self.town.events.append(
            event, actor=actor, rig=rig, bead=bead_id, msg=msg, record=bead.to_dict()
        )
        if closed_now is not None:
            self.town.beads_closed([closed_now])
        return bead

    def update(
        self,
        bead_id: str,
        *,
        title: str | None = None,
        description: str | None = None,
        priority: int | str | None = None,
        type: str | None = None,
        status: str | None = None,
        assignee: str | None = UNSET,
        add_labels: Iterable[str] = (),
        remove_labels: Iterable[str] = (),
        metadata: dict[str, Any] | None = None,
        actor: str | None = None,
    ) -> Bead:
        new_title = check_title(title) if title is not None else None
        if description is not None:
            description = check_description(description)
        if assignee not in (UNSET, None, ""):
            assignee = one_line(assignee, what="assignee", owner="a bead", limit=200)
        new_priority = check_priority(priority) if priority is not None else None
        if type is not None:
            check_type(type, self._extra_types)
        if status is not None:
            check_status(status)
            if status == "closed":
                raise GtError("close a bead with `gt bead close ID`", hint="it records a reason")
        adds = [check_label(label) for label in add_labels]
        removes = [check_label(label) for label in remove_labels]

        def change(bead: Bead) -> str | None:
            changed: list[str] = []
            if new_title is not None and new_title != bead.title:
                bead.title = new_title
                changed.append("title")
            if description is not None and description != bead.description:
                bead.description = description
                changed.append("description")
            if new_priority is not None and new_priority != bead.priority:
                bead.priority = new_priority
                changed.append(f"priority={new_priority}")
            if type is not None and type != bead.type:
                bead.type = type
                changed.append(f"type={type}")
            if status is not None and status != bead.status:
                if bead.is_closed:
                    raise GtError(f"{bead.id} is closed", hint="reopen it with `gt bead reopen`")
                bead.status = status
                changed.append(f"status={status}")
            if assignee is not UNSET and assignee != bead.assignee:
                bead.assignee = assignee or None
                changed.append(f"assignee={assignee or '-'}")
                if not bead.assignee and status is None and bead.status in ACTIVE_STATUSES:
                    # Off its hook, an active bead is open work again (no orphaned hook).
                    bead.status = "open"
                    changed.append("status=open")
            labels = set(bead.labels)
            new_labels = (labels | set(adds)) - set(removes)
            if new_labels != labels:
                bead.labels = sorted(new_labels)
                changed.append("labels")
            if metadata:
                bead.metadata.update(metadata)
                changed.append("metadata")
            return ", ".join(changed) if changed else None

        return self.mutate(bead_id, change, actor=actor, check=_check_hook)

    def close(self, bead_id: str, reason: str = "", actor: str | None = None) -> Bead:
        reason = check_description(reason, "close reason")

        def change(bead: Bead) -> str | None:
            if bead.is_closed:
                raise GtError(f"{bead.id} is already closed")
            bead.status = "closed"
            bead.close_reason = reason
            return reason or "closed"

        return self.mutate(bead_id, change, event="bead.closed", actor=actor)

    def reopen(self, bead_id: str, actor: str | None = None) -> Bead:
        def change(bead: Bead) -> str | None:
            if not bead.is_closed:
                raise GtError(f"{bead.id} is not closed (status {bead.status})")
            bead.status = "open"
            bead.assignee = None
            bead.close_reason = ""
            return "reopened"

        return self.mutate(bead_id, change, event="bead.reopened", actor=actor)

    def comment(self, bead_id: str, text: str, actor: str | None = None) -> Bead:
        body = check_description(text, "comment").strip()
        if not body:
            raise GtError("a comment needs text")
        author = actor or self.town.actor
        now = iso(self.town.clock.now())

        def change(bead: Bead) -> str | None:
            bead.comments.append(Comment(author, now, body))
            return body.splitlines()[0][:80]

        return self.mutate(bead_id, change, event="bead.commented", actor=author)

    def add_dep(
        self, bead_id: str, on: str, kind: str = "blocks", actor: str | None = None
    ) -> Bead:
        check_dep_type(kind)
        if on == bead_id:
            raise GtError("a bead cannot depend on itself")
        if self.find(on) is None:
            raise GtError(f"unknown bead {on!r}")
        if kind == "blocks":
            path = self._blocking_path(on, bead_id)
            if path is not None:
                raise GtError(
                    f"{bead_id} blocked by {on} would make a cycle: "
                    + " -> ".join([bead_id, *path]),
                    hint="neither bead could ever become ready; nothing was changed",
                )

        def change(bead: Bead) -> str | None:
            if any(d.on == on and d.type == kind for d in bead.deps):
                return None
            bead.deps.append(Dependency(on, kind))
            return f"{kind} {on}"

        return self.mutate(bead_id, change, event="bead.dep_added", actor=actor)

    def _blocking_path(self, start: str, target: str) -> list[str] | None:
        """The chain of `blocks` dependencies from `start` to `target`, if there is one
        (`start` waits on ... which waits on `target`)."""
        parents: dict[str, str | None] = {start: None}
        frontier = [start]
        while frontier:
            beads = self.get_many(frontier)
            nxt: list[str] = []
            for bead_id in frontier:
                bead = beads.get(bead_id)
                for on in bead.blockers if bead else []:
                    if on in parents:
                        continue
                    parents[on] = bead_id
                    if on == target:
                        chain = [on]
                        node: str | None = bead_id
                        while node is not None:
                            chain.append(node)
                            node = parents[node]
                        return list(reversed(chain))
                    nxt.append(on)
            frontier = nxt
        return None

    # archive -----------------------------------------------------------------------------
    def _maybe_archive(self, tx: RigTxn) -> None:
        store_cfg = self.town.config.store
        limit = store_cfg.archive_closed_over
        keep = store_cfg.keep_closed_in_rig
        closed = [doc for doc in tx.bead_docs() if doc.get("status") == "closed"]
        if len(closed) <= limit:
            return
        closed.sort(key=lambda d: d.get("closed_at") or "")
        self.archive_docs(closed[: len(closed) - keep])
        tx.remove_beads(d["id"] for d in closed[: len(closed) - keep])

    def archive_docs(self, docs: Iterable[dict[str, Any]]) -> int:
        """Upsert closed bead docs into the monthly archive files (by closed month)."""
        by_month: dict[str, list[dict[str, Any]]] = {}
        for doc in docs:
            month = (doc.get("closed_at") or doc.get("updated_at") or "0000-00")[:7]
            by_month.setdefault(month, []).append(doc)
        count = 0
        for month, month_docs in by_month.items():
            with self.town.storage.archive.txn(month) as tx:
                tx.put_beads(month_docs)
            count += len(month_docs)
        return count

    def _unarchive(self, bead_id: str) -> Bead:
        """Find a bead in the archive so it can be written back to its rig (e.g. reopen).

        The archive copy is removed only after the rig file holds it again (by the caller's
        commit); a leftover archive copy is shadowed by the rig file and cleaned up later.
        """
        for doc in self._archived_docs():
            if doc.get("id") == bead_id:
                return Bead.from_dict(doc)
        raise GtError(f"unknown bead {bead_id!r}")

    def prune_archive_shadows(self) -> int:
        """Remove archive copies of beads that are back in a rig file (after a reopen)."""
        live: set[str] = set()
        for rig in self.town.rigs.names():
            live.update(d["id"] for d in self._rig_docs(rig))
        removed = 0
        archive = self.town.storage.archive
        for month in archive.months():
            if not any(d.get("id") in live for d in archive.bead_docs(month)):
                continue
            with archive.txn(month) as tx:
                stale = [d["id"] for d in tx.bead_docs() if d.get("id") in live]
                tx.remove_beads(stale)
                removed += len(stale)
        return removed
