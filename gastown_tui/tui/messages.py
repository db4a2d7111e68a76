"""Messages between the app's workers and its widgets.

Workers (the file watcher, the tmux poller, loaders in threads) post these; widgets react.
High-rate ones implement `can_replace`: Textual calls `queued.can_replace(newer)` while the
older one still waits, and drops the older one when it returns True. Ours merge the older
payload into the newer one first, so nothing is lost when a burst collapses into one update.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from textual.message import Message

if TYPE_CHECKING:
    from gastown_tui.tmux import AttachPlan
    from gastown_tui.town.models import Event
    from gastown_tui.views.rows import MailSnapshot, PolecatRow, RigsSnapshot


@dataclass
class StoreChanged(Message):
    """Files of the town changed; `scopes` says what (see views/changes.py)."""

    scopes: set[str] = field(default_factory=set)

    def can_replace(self, message: Message) -> bool:
        if isinstance(message, StoreChanged):
            message.scopes |= self.scopes
            return True
        return False


@dataclass
class EventsAppended(Message):
    """New lines of events.jsonl, oldest first."""

    events: list[Event] = field(default_factory=list)

    def can_replace(self, message: Message) -> bool:
        if isinstance(message, EventsAppended):
            message.events[:0] = self.events
            return True
        return False


@dataclass
class FeedLoaded(Message):
    """The tail of the log at start (oldest first)."""

    events: list[Event] = field(default_factory=list)


@dataclass
class RigsLoaded(Message):
    snapshot: RigsSnapshot

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, RigsLoaded)


@dataclass
class PolecatsObserved(Message):
    polecats: list[PolecatRow]

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, PolecatsObserved)


@dataclass
class PaneLoaded(Message):
    """What a pane's `load` returned (tui/panes.py), for its `show_loaded`."""

    pane: str
    snapshot: Any

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, PaneLoaded) and message.pane == self.pane


@dataclass
class MailLoaded(Message):
    snapshot: MailSnapshot

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, MailLoaded) and message.snapshot.address == self.snapshot.address


@dataclass
class PreviewCaptured(Message):
    """A fresh capture of the previewed pane (or why there is none)."""

    address: str
    text: str | None
    error: str = ""

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, PreviewCaptured)


@dataclass
class PaneActivated(Message):
    """A pane got the focus (by key, click or tab): it becomes the active one."""

    pane: str


@dataclass
class PolecatSelected(Message):
    """The Rigs tree's cursor moved onto (or off) a polecat."""

    address: str | None


@dataclass
class PolecatChosen(Message):
    """Enter on a polecat: attach to it."""

    address: str


@dataclass
class BeadChosen(Message):
    """Enter on a ready bead: sling it."""

    bead_id: str


@dataclass
class MessageSelected(Message):
    """The Mail pane's cursor moved onto a message (None: the inbox is empty)."""

    message_id: str | None


@dataclass
class MessageOpened(Message):
    """Enter on a message: read it."""

    message_id: str


@dataclass
class ConvoyOpened(Message):
    convoy_id: str


@dataclass
class SupervisorStatus(Message):
    """Who supervises the town, for the status line ("supervised by this app (pid N)")."""

    text: str
    warn: bool = False

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, SupervisorStatus)


@dataclass
class PatrolsDue(Message):
    """Patrols the supervisor's schedule says are due (supervise.host.Patrol objects)."""

    patrols: list[Any]


@dataclass
class AttachPlanned(Message):
    """How to put the terminal on a polecat's window (worked out off the UI thread)."""

    address: str
    plan: AttachPlan


@dataclass
class FormDone(Message):
    """A modal's background submit finished: `result`, or a GtError to show inline."""

    result: Any = None
    error: str | None = None
