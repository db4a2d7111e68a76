"""The records every front end shows: small frozen dataclasses, built off the UI thread by
views/queries.py and safe to hand to any thread. Text from the store is already escaped
(town/display.py) when it lands here."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from gastown_tui.town.display import safe
from gastown_tui.town.polecats import ATTENTION_STATES

if TYPE_CHECKING:
    from gastown_tui.runtimes.screens import Prompt

OVERSEER = "overseer"
NEEDS_HUMAN_LABEL = "needs-human"
MAIL_LIMIT = 300


@dataclass(frozen=True)
class HookedBead:
    id: str
    title: str
    status: str = "hooked"


@dataclass(frozen=True)
class PolecatRow:
    address: str
    rig: str
    name: str
    state: str
    runtime: str = ""
    hook: HookedBead | None = None
    window_exists: bool | None = None  # None: unknown (no tmux to ask)
    alive: bool | None = None
    pane_id: str | None = None
    last_activity: float | None = None
    detail: str = ""
    prompt: Prompt | None = None  # what it waits at (state "waiting")
    role: str = ""  # the role it works as (town/roles.py); "" for a plain polecat

    @property
    def needs_attention(self) -> bool:
        return self.state in ATTENTION_STATES


@dataclass(frozen=True)
class BeadRow:
    id: str
    title: str
    rig: str
    status: str = "open"
    priority: int = 2
    type: str = "task"
    labels: tuple[str, ...] = ()
    assignee: str | None = None
    created_at: str = ""
    queued: bool = False  # a sling waits for a slot (town/scheduler.py)

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> BeadRow:
        return cls(
            id=safe(doc["id"]),
            title=safe(doc.get("title", "")),
            rig=str(doc.get("rig", "")),
            status=str(doc.get("status", "open")),
            priority=int(doc.get("priority", 2) or 0),
            type=safe(doc.get("type", "task")),
            labels=tuple(safe(label) for label in doc.get("labels") or ()),
            assignee=safe(doc["assignee"]) if doc.get("assignee") else None,
            created_at=str(doc.get("created_at", "")),
            queued=bool((doc.get("metadata") or {}).get("queued")),
        )


@dataclass(frozen=True)
class RigRow:
    name: str
    prefix: str
    open_count: int
    ready: tuple[BeadRow, ...] = ()
    status_counts: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class RigsSnapshot:
    rigs: tuple[RigRow, ...] = ()
    open_beads: tuple[BeadRow, ...] = ()

    # Worked out once per snapshot: the app asks on every message it counts after (the
    # polecats' looks included), and a big ledger holds thousands of open beads. Callers must
    # not change the lists.
    @cached_property
    def ready(self) -> list[BeadRow]:
        return [b for r in self.rigs for b in r.ready]

    @cached_property
    def needs_human(self) -> list[BeadRow]:
        return [b for b in self.open_beads if NEEDS_HUMAN_LABEL in b.labels]


@dataclass(frozen=True)
class ConvoyRow:
    id: str
    title: str
    done: int
    total: int
    state: str = "open"
    landed_at: str | None = None
    auto: bool = False


@dataclass(frozen=True)
class ConvoysSnapshot:
    in_flight: tuple[ConvoyRow, ...] = ()
    landed: tuple[ConvoyRow, ...] = ()


@dataclass(frozen=True)
class MailRow:
    id: str
    sender: str
    subject: str
    body: str = ""
    to: tuple[str, ...] = ()
    type: str = "notification"
    priority: str = "normal"
    created: str = ""
    read: bool = False
    inbox: str = OVERSEER
    thread: str = ""

    @property
    def head(self) -> str:
        """The protocol word of the subject (ESCALATION, MERGE_FAILED, HELP, ...)."""
        return self.subject.split(" ", 1)[0].rstrip(":").upper()


@dataclass(frozen=True)
class MailSnapshot:
    address: str
    messages: tuple[MailRow, ...] = ()
    unread: int = 0


@dataclass(frozen=True)
class NudgeReport:
    status: str  # delivered | queued | failed | answered
    detail: str = ""
