"""The scheduler's store side: limits, who holds a slot, and queued slings.

A slot is held by every bead that is hooked or in progress with an assignee (a polecat that
is starting has its bead hooked already, so it counts too). Limits: town.toml
`[scheduler] max_polecats` (0: none) for the whole town and each role's `capacity`.

A sling past a limit is *queued*: the bead stays open and unassigned with
`metadata.queued = {at, runtime, to, convoy, by, why}`; the deacon (and `gt done`, through
`gt schedule`) dispatches queued beads by priority, then age, as slots free.

Racing slings never exceed a limit: `admission` holds a town-wide lock (the count spans every
rig file) from the count until the sling's hook transaction has committed (dispatch/sling/hook.py).
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gastown_tui.town.clock import iso
from gastown_tui.town.errors import GtError
from gastown_tui.town.models import ACTIVE_STATUSES
from gastown_tui.town.storage.files import flocked

if TYPE_CHECKING:
    from gastown_tui.town.roles import Role
    from gastown_tui.town.town import Town

META_QUEUED = "queued"
LOCK_NAME = "scheduler"
LOCK_TIMEOUT = 120.0


def max_polecats(town: Town) -> int:
    section = town.config.raw.get("scheduler") or {}
    value = section.get("max_polecats", 0) if isinstance(section, dict) else 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise GtError(
            f"{town.paths.town_toml}: scheduler.max_polecats must be a whole number >= 0"
            f" (0: no limit), not {value!r}"
        )
    return value


@dataclass
class Holdings:
    """Who holds slots now, read from every rig file."""

    total: int = 0
    by_role: Counter[str] = field(default_factory=Counter)
    holders: set[str] = field(default_factory=set)  # addresses holding work
    active_beads: set[str] = field(default_factory=set)


def holdings(town: Town) -> Holdings:
    out = Holdings()
    for rig in town.rigs.names():
        for doc in town.storage.beads.docs(rig):
            if doc.get("status") in ACTIVE_STATUSES and doc.get("assignee"):
                out.total += 1
                out.holders.add(doc["assignee"])
                out.active_beads.add(doc["id"])
                role = (doc.get("metadata") or {}).get("role")
                if role:
                    out.by_role[str(role)] += 1
    return out


def lock_path(town: Town) -> Any:
    return town.paths.lock(LOCK_NAME)


@dataclass
class Decision:
    """One sling target: admitted (with the polecat name a long-lived role picks) or queued."""

    index: int
    bead_id: str | None
    role: str | None
    admit: bool
    to: str | None = None
    why: str = ""


def _long_lived_slot(town: Town, role: Role, rig: str, h: Holdings, taken: set[str]) -> str | None:
    """A free polecat name of a long-lived role in `rig`: not holding work, not starting."""
    starting: set[str] = set()
    for doc in town.storage.polecats.docs(rig):
        from gastown_tui.town.polecats import Polecat

        if Polecat.from_dict(doc).is_starting:
            starting.add(doc["name"])
    for name in role.slot_names():
        address = f"{rig}/{name}"
        if address in h.holders or name in starting or name in taken:
            continue
        return name
    return None


def decide(
    town: Town,
    rig: str,
    targets: list[tuple[str | None, str | None]],
    *,
    to: str | None,
    roles: dict[str, Role] | None,
) -> list[Decision]:
    """Admit or queue each (bead id or None for a new bead, role) in order. Call it under
    `admission`'s lock, and hook the admitted ones before the lock is released."""
    limit = max_polecats(town)
    h = holdings(town)
    free = limit - h.total if limit else None
    used_by_role: Counter[str] = Counter(h.by_role)
    taken: set[str] = set()
    out: list[Decision] = []
    for index, (bead_id, role_name) in enumerate(targets):
        if bead_id is not None and bead_id in h.active_beads:
            # A re-sling (a restart) of work that already holds its slot.
            out.append(Decision(index, bead_id, role_name, True, None))
            continue
        role = (roles or {}).get(role_name) if role_name else None
        if free is not None and free <= 0:
            why = f"max_polecats {limit} reached ({h.total} holding work)"
            out.append(Decision(index, bead_id, role_name, False, why=why))
            continue
        if role is not None and used_by_role[role.name] >= role.capacity:
            why = f"role {role.name} at its capacity {role.capacity}"
            out.append(Decision(index, bead_id, role_name, False, why=why))
            continue
        slot = to
        if role is not None and role.long_lived and to is None:
            slot = _long_lived_slot(town, role, rig, h, taken)
            if slot is None:
                why = f"every {role.name} agent in {rig} is busy"
                out.append(Decision(index, bead_id, role_name, False, why=why))
                continue
            taken.add(slot)
        if free is not None:
            free -= 1
        if role is not None:
            used_by_role[role.name] += 1
        out.append(Decision(index, bead_id, role_name, True, slot))
    return out


@contextlib.contextmanager
def admission(town: Town, needed: bool) -> Iterator[None]:
    """The town-wide scheduler lock, when a limit applies (else nothing to hold)."""
    if not needed:
        yield
        return
    with flocked(lock_path(town), timeout=LOCK_TIMEOUT):
        yield


def mark_queued(
    town: Town,
    bead_id: str,
    *,
    why: str,
    runtime: str | None,
    to: str | None,
    convoy: str | None,
) -> None:
    """Record a queued sling on the bead (kept open and unassigned)."""
    now = iso(town.clock.now())

    def change(bead: Any) -> str | None:
        previous = bead.metadata.get(META_QUEUED) or {}
        bead.metadata[META_QUEUED] = {
            "at": previous.get("at") or now,
            "runtime": runtime,
            "to": to,
            "convoy": convoy,
            "by": previous.get("by") or town.actor,
            "why": why,
        }
        return None if previous.get("why") == why else f"queued: {why}"

    town.beads.mutate(bead_id, change, event="bead.queued")


def queued(town: Town, rig: str | None = None) -> list[dict[str, Any]]:
    """Queued beads, in dispatch order (priority, then age)."""
    out = []
    for doc in town.beads.list_docs(rig=rig, statuses=["open"]):
        mark = (doc.get("metadata") or {}).get(META_QUEUED)
        if mark and not doc.get("assignee"):
            out.append(doc)
    out.sort(
        key=lambda d: (d.get("priority", 2), d["metadata"][META_QUEUED].get("at") or "", d["id"])
    )
    return out


def pending(town: Town) -> list[Any]:
    """Ready beads that dispatch on their own: with a role, or queued. Priority, then age."""
    out = []
    from gastown_tui.town.roles import role_of_bead

    for bead in town.beads.ready():
        if bead.comments and bead.comments[-1].text.startswith("crash loop:"):
            continue  # the witness gave up on it (supervise/witness.py): a person re-slings
        mark = bead.metadata.get(META_QUEUED)
        if role_of_bead(bead) or mark:
            since = (mark or {}).get("at") or bead.created_at
            out.append((bead.priority, since, bead.id, bead))
    out.sort(key=lambda item: item[:3])
    return [item[3] for item in out]


def queued_rows(town: Town, rig: str | None = None) -> list[dict[str, Any]]:
    """`gt polecat list` / `gt status` rows for queued slings (no polecat yet)."""
    rows = []
    for doc in queued(town, rig):
        mark = doc["metadata"][META_QUEUED]
        rows.append(
            {
                "address": None,
                "name": mark.get("to"),
                "rig": doc.get("rig"),
                "state": "queued",
                "role": (doc.get("metadata") or {}).get("role"),
                "bead": {"id": doc["id"], "title": doc.get("title"), "status": doc.get("status")},
                "queued": dict(mark),
                "hint": f"waiting for a slot: {mark.get('why')}",
            }
        )
    return rows


def summary(town: Town) -> dict[str, Any]:
    """For `gt status`: limits, slots held, queued count."""
    h = holdings(town)
    try:
        limit = max_polecats(town)
    except GtError:
        limit = -1
    return {
        "max_polecats": limit,
        "holding": h.total,
        "by_role": dict(h.by_role),
        "queued": [r["bead"]["id"] for r in queued_rows(town)],
    }
