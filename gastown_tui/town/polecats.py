"""Polecats: the persistent worker identities of each rig.

A polecat's record lives in its rig's file (table `polecats`) beside the rig's beads, so a
sling writes one file: the bead's hook and the polecat's identity change together.

Record keys (plain dict, stable; new keys may be added, none renamed):
    name, rig, address (`<rig>/<name>`), state ("idle" | "working"), runtime, worktree, branch,
    session, window, created_at, updated_at, started_at, pid (the agent's, if known),
    history [{bead, result, at, commit}], restarts [timestamps, for the supervisor],
    starting {pid, at, bead} while a sling is in progress.

What a polecat works on is never stored here: its hooked work *is* the bead of its rig whose
assignee is its address and whose status is hooked or in_progress.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Iterable

from gastown_tui.town.clock import iso, parse_iso
from gastown_tui.town.errors import GtError
from gastown_tui.town.models import ACTIVE_STATUSES, Bead, Record
from gastown_tui.town.paths import NAME_RE, check_name, session_for
from gastown_tui.town.procs import pid_alive

TYPE_CHECKING = False  # typing's import is ~2 ms of every gt call (tests/test_cli_cheap.py)
if TYPE_CHECKING:
    from typing import Any

    from gastown_tui.town.beads import RigTxn
    from gastown_tui.town.town import Town


# The themed pool (Mad Max: Fury Road and Furiosa). town.toml `[names] extra` extends it.
NAME_POOL = (
    "furiosa",
    "nux",
    "slit",
    "capable",
    "toast",
    "dag",
    "cheedo",
    "ace",
    "angharad",
    "rictus",
    "keeper",
    "valkyrie",
    "morsov",
    "dementus",
    "scrotus",
    "immortan",
    "max",
    "praetorian",
    "jack",
    "organic",
    "corpus",
    "splendid",
    "miss-giddy",
    "bullet",
    "gastown",
    "mechanic",
    "vuvalini",
    "doof",
    "joe",
    "rio",
)
# Reserved rig addresses: a polecat may not shadow the rig's own roles.
RESERVED_NAMES = frozenset({"witness", "refinery", "mayor", "deacon", "overseer", "crew"})

# A sling takes seconds (a minute at most, waiting for a slow agent to show it is ready):
# a `starting` mark older than this is an interrupted sling whatever its pid says.
STARTING_STALE = 600.0

STATE_IDLE = "idle"
STATE_WORKING = "working"
STATE_STARTING = "starting"
# Every state a polecat is shown in (dispatch/observe.py classify decides which), and the
# ones a person must notice, most urgent first: a waiting agent must never look idle.
POLECAT_STATES = ("working", "idle", "waiting", "stalled", "gupp", "zombie", "starting")
ATTENTION_STATES = ("waiting", "zombie", "gupp", "stalled")


def check_polecat_name(name: str) -> str:
    check_name("polecat", name)
    if name in RESERVED_NAMES:
        raise GtError(f"{name!r} is reserved for a rig role; pick another polecat name")
    return name


class Polecat(Record):
    """A typed view of a polecat record. `extra` keeps keys this version does not know.
    A Record, not a dataclass: `gt hook` and `gt prime` load it (town/models.py says why)."""

    __slots__ = (
        "branch",
        "created_at",
        "extra",
        "history",
        "name",
        "pid",
        "restarts",
        "rig",
        "runtime",
        "session",
        "started_at",
        "starting",
        "state",
        "updated_at",
        "window",
        "worktree",
    )

    def __init__(
        self,
        name: str,
        rig: str,
        state: str = STATE_IDLE,
        runtime: str = "",
        worktree: str = "",
        branch: str | None = None,
        session: str = "",
        window: str | None = None,
        created_at: str = "",
        updated_at: str = "",
        started_at: str | None = None,
        pid: int | None = None,
        history: list[dict[str, Any]] | None = None,
        restarts: list[Any] | None = None,
        starting: dict[str, Any] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.name = name
        self.rig = rig
        self.state = state
        self.runtime = runtime
        self.worktree = worktree
        self.branch = branch
        self.session = session
        self.window = window
        self.created_at = created_at
        self.updated_at = updated_at
        self.started_at = started_at
        self.pid = pid
        self.history: list[dict[str, Any]] = [] if history is None else history
        self.restarts: list[Any] = [] if restarts is None else restarts
        self.starting = starting
        self.extra: dict[str, Any] = {} if extra is None else extra

    @property
    def address(self) -> str:
        return f"{self.rig}/{self.name}"

    def release(
        self, bead_id: str, result: str, now: str, commit: str | None = None
    ) -> dict[str, Any]:
        """The polecat lets go of `bead_id` (done, escalated, released, moved away by a
        re-sling): idle, with a history entry, which is returned. The caller's rig
        transaction writes the record."""
        entry = {"bead": bead_id, "result": result, "at": now, "commit": commit}
        self.state = STATE_IDLE
        self.updated_at = now
        self.starting = None
        self.history.append(entry)
        return entry

    @property
    def interrupted(self) -> bool:
        """A sling began for this polecat and its process died before finishing."""
        return bool(self.starting) and not self.is_starting

    @property
    def is_starting(self) -> bool:
        """A sling is starting this polecat right now: its process lives, and it began
        recently (a pid reused by some other program must not pin it as starting)."""
        if not self.starting:
            return False
        began = parse_iso(self.starting.get("at"))
        if began is not None and time.time() - began > STARTING_STALE:
            return False
        return pid_alive(self.starting.get("pid"))

    _KNOWN = (
        "name",
        "rig",
        "address",
        "state",
        "runtime",
        "worktree",
        "branch",
        "session",
        "window",
        "created_at",
        "updated_at",
        "started_at",
        "pid",
        "history",
        "restarts",
        "starting",
    )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = dict(self.extra)
        out.update(
            {
                "name": self.name,
                "rig": self.rig,
                "address": self.address,
                "state": self.state,
                "runtime": self.runtime,
                "worktree": self.worktree,
                "branch": self.branch,
                "session": self.session,
                "window": self.window,
                "created_at": self.created_at,
                "updated_at": self.updated_at,
                "started_at": self.started_at,
                "pid": self.pid,
                "history": [dict(h) for h in self.history],
                "restarts": list(self.restarts),
            }
        )
        if self.starting:
            out["starting"] = dict(self.starting)
        else:
            out.pop("starting", None)
        return out

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> Polecat:
        return cls(
            name=doc["name"],
            rig=doc.get("rig", ""),
            state=doc.get("state", STATE_IDLE),
            runtime=doc.get("runtime", ""),
            worktree=doc.get("worktree", ""),
            branch=doc.get("branch"),
            session=doc.get("session", ""),
            window=doc.get("window"),
            created_at=doc.get("created_at", ""),
            updated_at=doc.get("updated_at", ""),
            started_at=doc.get("started_at"),
            pid=doc.get("pid"),
            history=[dict(h) for h in doc.get("history") or []],
            restarts=list(doc.get("restarts") or []),
            starting=dict(doc["starting"]) if doc.get("starting") else None,
            extra={k: v for k, v in doc.items() if k not in cls._KNOWN},
        )


def split_address(address: str) -> tuple[str, str]:
    rig, sep, name = (address or "").strip().partition("/")
    if not sep or not rig or not name:
        raise GtError(f"invalid agent address {address!r}", hint="use <rig>/<polecat>")
    return rig, name


def hooked_docs(bead_docs: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """{assignee address: the bead doc on its hook}. The oldest hook wins if there are two."""
    out: dict[str, dict[str, Any]] = {}
    for doc in bead_docs:
        assignee = doc.get("assignee")
        if not assignee or doc.get("status") not in ACTIVE_STATUSES:
            continue
        current = out.get(assignee)
        if current is None or (doc.get("updated_at") or "") < (current.get("updated_at") or ""):
            out[assignee] = doc
    return out


def no_window_hint(bead_id: str | None, interrupted: bool = False) -> str:
    if interrupted:
        return "sling interrupted: `gt polecat resume` finishes it" + (
            f" (or `gt sling --force {bead_id}`)" if bead_id else ""
        )
    if bead_id:
        return f"no window: restart with `gt sling --force {bead_id}`"
    return "no window"


class PolecatRegistry:
    """Read side of the polecat records, plus the allocation used inside a sling's txn."""

    def __init__(self, town: Town) -> None:
        self.town = town

    # reading -----------------------------------------------------------------------------
    def _rig_tables(self, rig: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        return self.town.storage.polecats.with_beads(rig)

    def _rig_names(self, rig: str | None) -> list[str]:
        if rig is not None:
            return [self.town.rigs.get(rig).name]
        return self.town.rigs.names()

    def list(self, rig: str | None = None) -> list[Polecat]:
        out: list[Polecat] = []
        for name in self._rig_names(rig):
            docs, _ = self._rig_tables(name)
            out.extend(Polecat.from_dict(d) for d in docs)
        return sorted(out, key=lambda p: (p.rig, p.created_at, p.name))

    def list_with_hooks(self, rig: str | None = None) -> list[tuple[Polecat, Bead | None]]:
        """Every polecat with the bead on its hook (derived), reading each rig file once."""
        out: list[tuple[Polecat, Bead | None]] = []
        for name in self._rig_names(rig):
            docs, beads = self._rig_tables(name)
            hooks = hooked_docs(beads)
            for doc in sorted(docs, key=lambda d: (d.get("created_at", ""), d["name"])):
                polecat = Polecat.from_dict(doc)
                hooked = hooks.get(polecat.address)
                out.append((polecat, Bead.from_dict(hooked) if hooked else None))
        return out

    def find(self, address: str) -> Polecat | None:
        rig, name = split_address(address)
        if not self.town.rigs.exists(rig):
            return None
        docs, _ = self._rig_tables(rig)
        for doc in docs:
            if doc.get("name") == name:
                return Polecat.from_dict(doc)
        return None

    def get(self, address: str) -> Polecat:
        found = self.find(self.resolve(address))
        if found is None:  # removed between resolve and read
            raise GtError(f"unknown agent {address!r}")
        return found

    def resolve(self, agent: str) -> str:
        """`alpha/furiosa`, or `furiosa` when only one rig has a polecat of that name."""
        value = (agent or "").strip().lower()
        if not value:
            raise GtError("name an agent: <rig>/<polecat> or <polecat>")
        if "/" in value:
            rig, name = split_address(value)
            if not self.town.rigs.exists(rig):
                known = ", ".join(self.town.rigs.names()) or "none yet"
                raise GtError(f"unknown agent {agent!r}: no rig {rig!r}", hint=f"rigs: {known}")
            docs, _ = self._rig_tables(rig)
            if not any(d.get("name") == name for d in docs):
                names = ", ".join(sorted(d["name"] for d in docs)) or "none yet"
                raise GtError(
                    f"unknown agent {agent!r}: rig {rig!r} has no polecat {name!r}",
                    hint=f"polecats of {rig}: {names}",
                )
            return f"{rig}/{name}"
        matches = [
            f"{rig}/{value}"
            for rig in self.town.rigs.names()
            if any(d.get("name") == value for d in self._rig_tables(rig)[0])
        ]
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise GtError(f"unknown agent {agent!r}", hint="list polecats with `gt polecat list`")
        raise GtError(f"agent name {agent!r} is ambiguous", hint="say which: " + ", ".join(matches))

    def hooked(self, address: str) -> Bead | None:
        rig, _ = split_address(address)
        if not self.town.rigs.exists(rig):
            return None
        _, beads = self._rig_tables(rig)
        doc = hooked_docs(beads).get(address)
        return Bead.from_dict(doc) if doc else None

    # names and allocation (inside a rig transaction) --------------------------------------
    def name_pool(self) -> list[str]:
        pool = list(NAME_POOL)
        for extra in self.town.config.extra_names:
            name = extra.strip().lower()
            if NAME_RE.match(name) and name not in RESERVED_NAMES and name not in pool:
                pool.append(name)
        return pool

    def next_name(self, taken: Iterable[str]) -> str:
        """The first free pool name; when all are taken, `<name>2`, then `<name>3`, …"""
        taken_set = set(taken)
        pool = self.name_pool()
        for name in pool:
            if name not in taken_set:
                return name
        for round_no in range(2, 10_000):
            for name in pool:
                candidate = f"{name}{round_no}"
                if candidate not in taken_set and NAME_RE.match(candidate):
                    return candidate
        raise GtError("no free polecat name left")  # pragma: no cover

    def allocate(
        self,
        tx: RigTxn,
        *,
        runtime: str,
        bead_id: str,
        to: str | None = None,
        prefer: str | None = None,
        exclude: Iterable[str] = (),
        avoid: Iterable[str] = (),
        pid: int | None = None,
    ) -> tuple[Polecat, bool]:
        """Pick (or create) the polecat for a sling and mark it `starting`, inside `tx`.

        `to` names the polecat (created if new; refused if busy). `prefer` is tried first when
        free (a re-sling goes back to the same polecat). Otherwise an idle polecat is reused
        before a new one is created, those named in `avoid` (a live window) last. Returns
        (polecat, created). The caller writes it.
        """
        now = iso(self.town.clock.now())
        rig = tx.rig
        docs = {d["name"]: d for d in tx.polecats()}
        hooks = hooked_docs(tx.bead_docs())
        excluded = set(exclude)

        def busy_with(name: str) -> str | None:
            """Why `name` cannot take new work, or None when it is free."""
            doc = docs.get(name)
            if doc is None:
                return None
            hooked = hooks.get(f"{rig}/{name}")
            if hooked is not None and hooked["id"] != bead_id:
                return f"it is working on {hooked['id']}"
            record = Polecat.from_dict(doc)
            if record.is_starting and (record.starting or {}).get("bead") != bead_id:
                return f"a sling of {(record.starting or {}).get('bead')} to it is in progress"
            return None

        chosen: str | None = None
        if to is not None:
            check_polecat_name(to)
            reason = busy_with(to)
            if reason is not None:
                raise GtError(
                    f"polecat {rig}/{to} is busy: {reason}", hint="pick another with --to"
                )
            chosen = to
        elif prefer is not None and prefer in docs and busy_with(prefer) is None:
            chosen = prefer
        else:
            idle = [
                d
                for name, d in docs.items()
                if name not in excluded
                and busy_with(name) is None
                and not hooks.get(f"{rig}/{name}")
                and not d.get("starting")
                and not d.get("long_lived")  # a long-lived role's agent is only named
            ]
            if idle:
                # The longest idle first: spreads work and leaves fresh windows to finish.
                avoided = set(avoid)
                idle.sort(
                    key=lambda d: (d["name"] in avoided, d.get("updated_at") or "", d["name"])
                )
                chosen = idle[0]["name"]
        created = chosen is None or chosen not in docs
        if chosen is None:
            chosen = self.next_name([*docs, *excluded])
        if created:
            polecat = Polecat(
                name=chosen,
                rig=rig,
                runtime=runtime,
                worktree=str(self.town.paths.polecat_dir(rig, chosen)),
                session=session_for(rig),
                created_at=now,
                updated_at=now,
            )
        else:
            polecat = Polecat.from_dict(docs[chosen])
        polecat.runtime = runtime
        polecat.updated_at = now
        polecat.session = session_for(rig)
        polecat.worktree = polecat.worktree or str(self.town.paths.polecat_dir(rig, chosen))
        polecat.starting = {"pid": pid or os.getpid(), "at": now, "bead": bead_id}
        return polecat, created

    # overview ----------------------------------------------------------------------------
    def stored_state(self, polecat: Polecat, hooked: Bead | None) -> str:
        """The state the store alone can tell (no tmux): starting, working, idle or
        no_window (hooked but no window was ever confirmed, e.g. a killed sling)."""
        if polecat.is_starting:
            return "starting"
        if hooked is None:
            return STATE_IDLE
        if polecat.starting or not polecat.window:
            return "no_window"
        return STATE_WORKING

    def status_summary(self) -> dict[str, Any]:
        """For `gt status`: stored information only, so it works without tmux.

        {"by_state": {state: n}, "polecats": [{address, state, bead, window}],
         "no_window": [{address, bead, hint}]}
        """
        rows: list[dict[str, Any]] = []
        no_window: list[dict[str, Any]] = []
        for polecat, hooked in self.list_with_hooks():
            state = self.stored_state(polecat, hooked)
            bead_id = hooked.id if hooked else None
            rows.append(
                {
                    "address": polecat.address,
                    "state": state,
                    "bead": bead_id,
                    "window": polecat.window if state != "no_window" else None,
                }
            )
            if state == "no_window":
                hint = no_window_hint(bead_id, polecat.interrupted)
                no_window.append({"address": polecat.address, "bead": bead_id, "hint": hint})
        return {
            "by_state": dict(Counter(r["state"] for r in rows)),
            "polecats": rows,
            "no_window": no_window,
        }


def summary_lines(summary: dict[str, Any]) -> list[str]:
    """Plain text lines of `status_summary()` for `gt status` (for the text output)."""
    if not summary.get("polecats"):
        return ["  polecats: none yet"]
    counts = ", ".join(f"{n} {s}" for s, n in sorted(summary["by_state"].items()))
    lines = [f"  polecats: {counts}"]
    for row in summary["polecats"]:
        if row.get("waiting_for"):
            lines.append(f"    {row['address']} {row['hint']}")
    for row in summary["no_window"]:
        lines.append(f"    {row['address']} holds {row['bead']} but has {row['hint']}")
    return lines
