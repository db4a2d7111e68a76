"""Convoys: batches of beads, across rigs, tracked until every one of them is closed.

Convoys live in `store/town.json`, table `convoys`. A convoy stores only what cannot be derived:
its tracked bead ids, owner, notify list and the landing bookkeeping. Its progress (`n/m` done)
*is* its beads' statuses, computed on every read, so it can never disagree with the beads.

States (derived from the timestamps):
    open     tracking; lands when every tracked bead is closed (an empty convoy never lands)
    landed   every bead closed; `landed_at` set. Adding a bead that is not closed reopens it
             (`landed_at` cleared; `landings` keeps counting, so a second landing is landing 2).
             A bead reopened after the landing does not un-land it: landing is a moment.
    closed   the owner stopped tracking it (`gt convoy close`): it never lands, sends no mail,
             and cannot take new beads. A landing that already happened is still announced.

Landing exactly once, whichever process closed the last bead: every bead close calls
`check_landings([ids])` after its own write, so the process whose close came last always sees
every bead closed. The landing itself is a town.json transaction that re-reads the convoy and
re-checks its beads, so of two racing processes only one sets `landed_at` (and `landings += 1`).
The winner logs a `convoy.landed` event and mails the owner and notify list with message id
`<convoy>-landed-<n>`; mail with a given id is idempotent per inbox. `notified` records the
last landing whose mail was delivered, so a crash between landing and mailing is repaired by the
next `check_landings()` (the deacon runs one each patrol) and never sends a second copy.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import dataclass, field

from gastown_tui.town.addresses import OVERSEER, AddressBook, normalize
from gastown_tui.town.clock import iso, parse_iso
from gastown_tui.town.errors import GtError, GtFailure
from gastown_tui.town.ids import random_suffix
from gastown_tui.town.validate import one_line, text_block

TYPE_CHECKING = False  # typing's import is ~2 ms of every gt call (tests/test_cli_cheap.py)
if TYPE_CHECKING:
    from typing import Any

    from gastown_tui.town.models import Bead
    from gastown_tui.town.storage.base import TownTxn
    from gastown_tui.town.town import Town

ID_PREFIX = "cv"
ID_LENGTH = 5
MAX_TITLE = 300
# Landing mail comes from the deacon: it is the town's convoy watcher (supervise/deacon.py),
# and a reply should reach an agent of the town, not whoever happened to close the last bead.
LANDING_SENDER = "deacon"
RECENT_LANDED_SECONDS = 24 * 3600
RECENT_LANDED_MAX = 10


def landing_message_id(convoy_id: str, landing: int) -> str:
    return f"{convoy_id}-landed-{landing}"


def _check_title(title: str | None) -> str:
    return one_line(title, what="title", owner="a convoy", limit=MAX_TITLE)


def _unique(values: Iterable[str]) -> list[str]:
    """De-duplicated, stripped. A blank entry is a mistake (`"$BEAD"` unset), never skipped."""
    items = list(values)
    if any(not (v or "").strip() for v in items):
        raise GtError("an id or address is empty", hint="name each bead or address")
    return list(dict.fromkeys(v.strip() for v in items))


@dataclass
class Convoy:
    id: str
    title: str
    beads: list[str] = field(default_factory=list)
    owner: str = OVERSEER
    notify: list[str] = field(default_factory=list)
    auto: bool = False
    # A one-bead convoy a sling made so nothing is untracked: it lands with an event (and a
    # note in the app) but mails only its notify list, or every sling would mail the owner.
    quiet: bool = False
    created: str = ""
    landed_at: str | None = None
    closed_at: str | None = None
    landings: int = 0
    notified: int = 0
    updated: str = ""

    @property
    def state(self) -> str:
        if self.closed_at:
            return "closed"
        if self.landed_at:
            return "landed"
        return "open"

    @property
    def is_open(self) -> bool:
        return self.state == "open"

    def to_dict(self) -> dict[str, Any]:
        """Documented keys: id, title, beads (ids), owner, notify, auto, quiet, created,
        landed_at, closed_at, landings (count), notified (landings whose mail went out),
        updated, state."""
        return {
            "id": self.id,
            "title": self.title,
            "beads": list(self.beads),
            "owner": self.owner,
            "notify": list(self.notify),
            "auto": self.auto,
            "quiet": self.quiet,
            "created": self.created,
            "landed_at": self.landed_at,
            "closed_at": self.closed_at,
            "landings": self.landings,
            "notified": self.notified,
            "updated": self.updated,
            "state": self.state,
        }

    def to_doc(self) -> dict[str, Any]:
        doc = self.to_dict()
        del doc["state"]  # derived
        return doc

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Convoy:
        return cls(
            id=doc["id"],
            title=doc.get("title", ""),
            beads=list(doc.get("beads") or []),
            owner=doc.get("owner") or OVERSEER,
            notify=list(doc.get("notify") or []),
            auto=bool(doc.get("auto", False)),
            quiet=bool(doc.get("quiet", False)),
            created=doc.get("created", ""),
            landed_at=doc.get("landed_at"),
            closed_at=doc.get("closed_at"),
            landings=int(doc.get("landings", 0)),
            notified=int(doc.get("notified", 0)),
            updated=doc.get("updated", ""),
        )


def _locate(tx: TownTxn, convoy_id: str) -> dict[str, Any]:
    """A copy of the convoy's doc to change and `put_convoy` back."""
    doc = tx.get_convoy(convoy_id)
    if doc is not None:
        return doc
    raise GtError(f"unknown convoy {convoy_id!r}", hint="list convoys with `gt convoy list --all`")


class ConvoyStore:
    def __init__(self, town: Town) -> None:
        self.town = town
        # Landing mail that could not be sent (kept for the caller to report; retried by the
        # next check_landings).
        self.errors: list[str] = []

    # reading -----------------------------------------------------------------------------
    def _all(self) -> list[Convoy]:
        docs = self.town.storage.convoys.docs()
        return sorted((Convoy.from_doc(d) for d in docs), key=lambda c: (c.created, c.id))

    def get(self, convoy_id: str) -> Convoy:
        wanted = (convoy_id or "").strip()
        for doc in self.town.storage.convoys.docs():
            if doc.get("id") == wanted:
                return Convoy.from_doc(doc)
        raise GtError(
            f"unknown convoy {convoy_id!r}", hint="list convoys with `gt convoy list --all`"
        )

    def list(self, include_landed: bool = False) -> list[Convoy]:
        """Open convoys, oldest first; with `include_landed`, landed and closed ones too."""
        return [c for c in self._all() if include_landed or c.is_open]

    def convoys_of(self, bead_id: str) -> list[Convoy]:
        """Every convoy tracking `bead_id` (any state; filter on `.state`)."""
        return [c for c in self._all() if bead_id in c.beads]

    def _beads(self, bead_ids: Iterable[str]) -> dict[str, Bead]:
        ids = set(bead_ids)
        return self.town.beads.get_many(ids) if ids else {}

    def _live_statuses(self, bead_ids: Iterable[str]) -> dict[str, str]:
        """{bead id: status} for the beads still in their rig file (not the archive, which
        holds only closed beads and can be large)."""
        by_rig: dict[str, set[str]] = {}
        for bead_id in set(bead_ids):
            rig = self.town.ids.rig_of(bead_id)
            if rig is not None:
                by_rig.setdefault(rig, set()).add(bead_id)
        out: dict[str, str] = {}
        for rig, ids in by_rig.items():
            if not self.town.storage.beads.has_rig(rig):
                continue
            for doc in self.town.storage.beads.docs(rig):
                if doc.get("id") in ids:
                    out[doc["id"]] = doc.get("status", "open")
        return out

    def progress(self, convoys: Iterable[Convoy]) -> dict[str, tuple[int, int]]:
        """{convoy id: (closed beads, tracked beads)}, reading every bead once."""
        convoys = list(convoys)
        beads = self._beads(b for c in convoys for b in c.beads)
        return {
            c.id: (sum(1 for b in c.beads if b in beads and beads[b].is_closed), len(c.beads))
            for c in convoys
        }

    def status(self, convoy_id: str) -> dict[str, Any]:
        """The convoy (to_dict keys) with `done`, `total`, `blocked` (count) and `beads`
        replaced by one row per tracked bead: id, title, status, assignee, rig, priority,
        closed_at, blocked (flag) and blocked_by (open blockers)."""
        convoy = self.get(convoy_id)
        beads = self._beads(convoy.beads)
        blockers = {d for b in beads.values() for d in b.blockers} - beads.keys()
        known = {**beads, **self._beads(blockers)}
        rows: list[dict[str, Any]] = []
        for bead_id in convoy.beads:
            bead = beads.get(bead_id)
            if bead is None:
                rows.append(
                    {
                        "id": bead_id,
                        "title": "",
                        "status": "missing",
                        "assignee": None,
                        "rig": self.town.ids.rig_of(bead_id),
                        "priority": None,
                        "closed_at": None,
                        "blocked": False,
                        "blocked_by": [],
                    }
                )
                continue
            # A blocker that no longer exists anywhere does not block (as `gt ready` reads it).
            open_blockers = [d for d in bead.blockers if d in known and not known[d].is_closed]
            blocked = not bead.is_closed and (bead.status == "blocked" or bool(open_blockers))
            rows.append(
                {
                    "id": bead.id,
                    "title": bead.title,
                    "status": bead.status,
                    "assignee": bead.assignee,
                    "rig": bead.rig,
                    "priority": bead.priority,
                    "closed_at": bead.closed_at,
                    "blocked": blocked,
                    "blocked_by": open_blockers,
                }
            )
        out = convoy.to_dict()
        out["beads"] = rows
        out["done"] = sum(1 for r in rows if r["status"] == "closed")
        out["total"] = len(rows)
        out["blocked"] = sum(1 for r in rows if r["blocked"])
        return out

    def stranded(self) -> dict[str, list[str]]:
        """Open convoys with beads that are open and unassigned: {convoy id: [bead ids]}.
        The deacon feeds these to idle polecats when the town allows it."""
        convoys = self.list()
        beads = self._beads(b for c in convoys for b in c.beads)
        out: dict[str, list[str]] = {}
        for convoy in convoys:
            ready = [
                b
                for b in convoy.beads
                if b in beads and beads[b].status == "open" and not beads[b].assignee
            ]
            if ready:
                out[convoy.id] = ready
        return out

    def status_summary(self) -> dict[str, Any]:
        """For `gt status` and the app: convoys in flight and the ones landed in the last day."""
        now = self.town.clock.now()
        convoys = self._all()
        flying = [c for c in convoys if c.is_open]
        recent = [
            c
            for c in convoys
            if c.state == "landed" and now - (parse_iso(c.landed_at) or 0) <= RECENT_LANDED_SECONDS
        ]
        recent.sort(key=lambda c: c.landed_at or "", reverse=True)
        recent = recent[:RECENT_LANDED_MAX]
        counts = self.progress(flying + recent)
        return {
            "in_flight": [
                {
                    "id": c.id,
                    "title": c.title,
                    "done": counts[c.id][0],
                    "total": counts[c.id][1],
                    "auto": c.auto,
                }
                for c in flying
            ],
            "recently_landed": [
                {"id": c.id, "title": c.title, "total": len(c.beads), "landed_at": c.landed_at}
                for c in recent
            ],
        }

    # writing -----------------------------------------------------------------------------
    def _require_beads(self, bead_ids: list[str]) -> dict[str, Bead]:
        found = self._beads(bead_ids)
        missing = [b for b in bead_ids if b not in found]
        if missing:
            word = "bead" if len(missing) == 1 else "beads"
            raise GtError(
                f"unknown {word} " + ", ".join(repr(b) for b in missing),
                hint="list beads with `gt bead list --all`",
            )
        return found

    def _new_id(self, tx: TownTxn) -> str:
        taken = {d.get("id") for d in tx.convoys()}
        for _ in range(1000):
            candidate = f"{ID_PREFIX}-{random_suffix(ID_LENGTH)}"
            # A rig may have the prefix "cv": never mint an id a bead already has.
            if candidate not in taken and candidate not in self.town.ids:
                return candidate
        raise GtFailure("could not find a free convoy id")

    def create(
        self,
        title: str,
        bead_ids: Iterable[str] = (),
        *,
        owner: str | None = None,
        notify: Iterable[str] = (),
        auto: bool = False,
        quiet: bool = False,
    ) -> Convoy:
        """Track `bead_ids` (possibly of several rigs). Every bead and address must exist, or
        nothing is stored. A convoy whose beads are all closed already lands at once."""
        title = _check_title(title)
        ids = _unique(bead_ids)
        self._require_beads(ids)
        book = AddressBook(self.town)
        # An explicit owner must be a real address; the default (the caller) is taken as is:
        # an agent whose record went away can still own a convoy (landing mail then goes to
        # the overseer instead, see _notify).
        owner_address = book.check_single(owner, "owner") if owner else normalize(self.town.actor)
        notify_list = _unique(normalize(a) for a in notify)
        book.resolve_all(notify_list)
        now = iso(self.town.clock.now())
        with self.town.storage.town_txn() as tx:
            convoy = Convoy(
                id=self._new_id(tx),
                title=title,
                beads=ids,
                owner=owner_address,
                notify=notify_list,
                auto=auto,
                quiet=quiet,
                created=now,
                updated=now,
            )
            tx.put_convoy(convoy.to_doc())
        self.town.events.append(
            "convoy.created",
            actor=self.town.actor,
            msg=title,
            convoy=convoy.id,
            beads=len(ids),
            auto=auto,
            record=convoy.to_doc(),  # for `gt doctor` (town/storage/doctor.py)
        )
        if ids:
            self._land_after_commit(ids)
            return self.get(convoy.id)
        return convoy

    def add(self, convoy_id: str, bead_ids: Iterable[str]) -> Convoy:
        """Track more beads. A landed convoy reopens if any added bead is not closed yet
        (adding only closed beads leaves it landed: nothing is in flight)."""
        ids = _unique(bead_ids)
        if not ids:
            raise GtError("name at least one bead to add")
        beads = self._require_beads(ids)
        now = iso(self.town.clock.now())
        with self.town.storage.town_txn() as tx:
            doc = _locate(tx, convoy_id)
            if doc.get("closed_at"):
                raise GtError(
                    f"convoy {convoy_id} is closed", hint="create a new one with `gt convoy create`"
                )
            fresh = [b for b in ids if b not in doc.get("beads", [])]
            reopened = False
            if fresh:
                doc["beads"] = [*doc.get("beads", []), *fresh]
                if doc.get("landed_at") and any(not beads[b].is_closed for b in fresh):
                    doc["landed_at"] = None
                    reopened = True
                doc["updated"] = now
                tx.put_convoy(doc)
            convoy = Convoy.from_doc(doc)
        if not fresh:
            return convoy
        actor = self.town.actor
        self.town.events.append(
            "convoy.added",
            actor=actor,
            msg=" ".join(fresh),
            convoy=convoy.id,
            beads=fresh,
            record=convoy.to_doc(),
        )
        if reopened:
            self.town.events.append(
                "convoy.reopened", actor=actor, msg=convoy.title, convoy=convoy.id
            )
        if convoy.is_open:
            self._land_after_commit(fresh)
            return self.get(convoy.id)
        return convoy

    def close(self, convoy_id: str, reason: str = "") -> Convoy:
        """Stop tracking: the convoy will not land or mail. Closing twice is an error."""
        reason = text_block(reason, what="reason", limit=MAX_TITLE * 10)
        now = iso(self.town.clock.now())
        with self.town.storage.town_txn() as tx:
            doc = _locate(tx, convoy_id)
            if doc.get("closed_at"):
                raise GtError(f"convoy {convoy_id} is already closed")
            doc["closed_at"] = now
            doc["updated"] = now
            tx.put_convoy(doc)
            convoy = Convoy.from_doc(doc)
        self.town.events.append(
            "convoy.closed",
            actor=self.town.actor,
            msg=reason or convoy.title,
            convoy=convoy.id,
            record=convoy.to_doc(),
        )
        return convoy

    def _land_after_commit(self, bead_ids: list[str]) -> None:
        """A landing check after this process's own committed change: its failure (a full
        disk) is a warning, never a failure of the change; the deacon lands it later."""
        try:
            self.check_landings(bead_ids)
        except (OSError, GtError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            self.town.events.warn(
                f"gt: warning: the landing check failed ({reason}); the deacon retries it"
            )

    # landing -----------------------------------------------------------------------------
    def check_landings(self, bead_ids: Iterable[str] | None = None) -> list[Convoy]:
        """Land the open convoys tracking any of `bead_ids` (all open convoys when None) whose
        beads are all closed; re-send landing mail a crash left unsent. Returns the convoys
        this call landed. Safe to call from any process at any time, as often as wanted."""
        wanted = set(bead_ids) if bead_ids is not None else None
        if wanted is not None and not wanted:
            return []
        candidates = [c for c in self._all() if wanted is None or not wanted.isdisjoint(c.beads)]
        unsent = [c for c in candidates if c.landings > c.notified]
        ready = [c for c in candidates if c.is_open and c.beads]
        # Every bead close runs this, so first rule convoys out from the rig files alone (a
        # bead still open there settles it) and read the archive only for the plausible ones.
        live = self._live_statuses(b for c in ready for b in c.beads)
        ready = [c for c in ready if all(live.get(b, "closed") == "closed" for b in c.beads)]
        beads = self._beads(b for c in ready for b in c.beads)
        landed: list[Convoy] = []
        for convoy in ready:
            if all(b in beads and beads[b].is_closed for b in convoy.beads):
                done = self._land(convoy.id)
                if done is not None:
                    landed.append(done)
        to_mail = {c.id: c for c in unsent}
        to_mail.update((c.id, c) for c in landed)
        for convoy in to_mail.values():
            self._notify(convoy)
        return landed

    def _land(self, convoy_id: str) -> Convoy | None:
        now = iso(self.town.clock.now())
        with self.town.storage.town_txn() as tx:
            doc = _locate(tx, convoy_id)
            if doc.get("closed_at") or doc.get("landed_at") or not doc.get("beads"):
                return None  # another process landed it (or it changed) since we looked
            # Re-check under the lock with the bead list as it is now: a concurrent `add`
            # may have put an open bead in since the caller's read.
            beads = self._beads(doc["beads"])
            if not all(b in beads and beads[b].is_closed for b in doc["beads"]):
                return None
            doc["landed_at"] = now
            doc["landings"] = int(doc.get("landings", 0)) + 1
            doc["updated"] = now
            tx.put_convoy(doc)
            convoy = Convoy.from_doc(doc)
        self.town.events.append(
            "convoy.landed",
            actor=self.town.actor,
            msg=convoy.title,
            convoy=convoy.id,
            landing=convoy.landings,
            beads=len(convoy.beads),
            record=convoy.to_doc(),
        )
        return convoy

    def _mark_notified(self, convoy_id: str, landing: int) -> None:
        with self.town.storage.town_txn() as tx:
            doc = _locate(tx, convoy_id)
            if int(doc.get("notified", 0)) < landing:
                doc["notified"] = landing
                tx.put_convoy(doc)

    def _notify(self, convoy: Convoy) -> None:
        """Mail landing `convoy.landings` to the owner and notify list, exactly once."""
        landing = convoy.landings
        try:
            book = AddressBook(self.town)
            recipients: list[str] = []
            dropped: list[str] = []
            owners = [] if convoy.quiet else [convoy.owner]
            if not owners and not convoy.notify:
                self._mark_notified(convoy.id, landing)
                return
            for address in [*owners, *convoy.notify]:
                try:
                    recipients.extend(book.resolve(address))
                except GtError:
                    dropped.append(address)  # a removed agent: tell the others, not nobody
            recipients = list(dict.fromkeys(recipients)) or [OVERSEER]
            beads = self._beads(convoy.beads)
            lines = [
                f"Convoy {convoy.id} landed: all {len(convoy.beads)} beads are closed.",
                "",
            ]
            for bead_id in convoy.beads:
                bead = beads.get(bead_id)
                if bead is None:
                    lines.append(f"  {bead_id}  (missing)")
                    continue
                reason = f" — {bead.close_reason}" if bead.close_reason else ""
                lines.append(f"  {bead.id}  [{bead.rig}]  {bead.title}{reason}")
            lines += ["", f"Owner {convoy.owner}; landed at {convoy.landed_at}."]
            if landing > 1:
                lines.append(f"This is landing {landing}: beads were added after it landed.")
            if dropped:
                lines.append("Not delivered to unknown addresses: " + ", ".join(dropped))
            self.town.mail.send(
                recipients,
                f"Convoy landed: {convoy.title} ({convoy.id})",
                "\n".join(lines) + "\n",
                sender=LANDING_SENDER,
                type="notification",
                message_id=landing_message_id(convoy.id, landing),
                meta={"convoy": convoy.id, "landing": landing},
            )
            self._mark_notified(convoy.id, landing)
        except Exception as exc:
            # The bead close that got us here already succeeded; never fail it. The mail is
            # retried by the next check_landings() (the deacon's patrol runs one).
            text = f"landing mail for {convoy.id} not sent: {type(exc).__name__}: {exc}"
            self.errors.append(text)
            with contextlib.suppress(Exception):
                self.town.events.append(
                    "convoy.notify_failed", actor=self.town.actor, msg=text, convoy=convoy.id
                )
