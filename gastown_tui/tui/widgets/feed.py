"""The Feed pane: the town's events, newest first, with search (`/`) and filters (`f`) by rig,
agent and type that really narrow the list.

Built on the line API rather than a widget per row: a burst of hundreds of events is a few
list operations and one refresh, and only the visible lines are ever rendered. At most
MAX_KEPT events are kept; older ones drop off the end.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, replace

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.cache import LRUCache
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widgets import Input

from gastown_tui.town.display import safe
from gastown_tui.town.models import Event
from gastown_tui.tui.format import clock_time
from gastown_tui.tui.keys import focus_now
from gastown_tui.tui.widgets.pane import Pane

MAX_KEPT = 5000
# Drawn lines kept for repaints: a few screens. With what the compositor derives from each
# (crops, cuts) a line held ~6 KB; 2,048 of them were ~12 MB of the app after a long day.
STRIPS_KEPT = 256
# (type, actor, where) column widths by the feed's own width: the longest event type
# (dogs.events_keep_rotated, 24) whole from 110 columns (a 200-column terminal's feed is ~125),
# roomy from 90, tight at 80 (where a cut shows as …).
FULL_COLUMNS = (24, 22, 14)
WIDE_COLUMNS = (20, 18, 12)
NARROW_COLUMNS = (14, 15, 9)


def columns(width: int) -> tuple[int, int, int]:
    if width >= 110:
        return FULL_COLUMNS
    return WIDE_COLUMNS if width >= 90 else NARROW_COLUMNS


def cell(text: str, width: int) -> str:
    """`text` in exactly `width` cells; a cut one ends in … so it does not read as whole."""
    if len(text) > width:
        return text[: width - 1] + "…"
    return f"{text:<{width}}"


@dataclass(frozen=True)
class FeedFilter:
    rig: str | None = None
    actor: str | None = None
    type: str | None = None  # `bead` matches `bead.created`; `bead.closed` only itself
    text: str = ""

    @property
    def active(self) -> bool:
        return bool(self.rig or self.actor or self.type or self.text)

    def matches(self, event: Event) -> bool:
        if self.rig and event.rig != self.rig:
            return False
        if self.actor and event.actor != self.actor:
            return False
        if self.type and not (event.type == self.type or event.type.startswith(self.type + ".")):
            return False
        if self.text:
            needle = self.text.lower()
            haystack = " ".join(
                (event.type, event.actor, event.rig or "", event.bead or "", event.msg)
            ).lower()
            if needle not in haystack:
                return False
        return True

    def describe(self) -> str:
        parts = []
        if self.rig:
            parts.append(f"rig={self.rig}")
        if self.actor:
            parts.append(f"agent={self.actor}")
        if self.type:
            parts.append(f"type={self.type}")
        if self.text:
            parts.append(f"/{self.text}")
        return " ".join(parts)


def event_class(event_type: str) -> str:
    """The component class colouring an event's type."""
    if any(w in event_type for w in ("fail", "zombie", "escalat", "crash", "gupp")):
        return "feed--problem"
    if event_type.startswith("convoy.landed") or event_type.endswith((".closed", ".merged")):
        return "feed--good"
    if event_type.startswith(("polecat.stalled", "polecat.waiting", "nudge")):
        return "feed--warn"
    if event_type.startswith("mail."):
        return "feed--mail"
    return "feed--type"


class FeedView(ScrollView, can_focus=True):
    BINDINGS = [
        Binding("j", "scroll_down", "Down", show=False, id="feed-down"),
        Binding("k", "scroll_up", "Up", show=False, id="feed-up"),
    ]
    COMPONENT_CLASSES = {
        "feed--time",
        "feed--type",
        "feed--actor",
        "feed--where",
        "feed--msg",
        "feed--problem",
        "feed--good",
        "feed--warn",
        "feed--mail",
        "feed--empty",
    }

    def __init__(self) -> None:
        super().__init__(id="feed-view")
        self._seq = itertools.count()
        # (seq, event), newest first. The seq tells kept events from dropped ones.
        self._kept: deque[tuple[int, Event]] = deque(maxlen=MAX_KEPT)
        self._visible: list[tuple[int, Event]] = []
        self.filter = FeedFilter()
        self._strips: LRUCache[tuple[int, int], Strip] = LRUCache(STRIPS_KEPT)

    # -- data ----------------------------------------------------------------------------
    @property
    def kept(self) -> int:
        return len(self._kept)

    @property
    def shown(self) -> int:
        return len(self._visible)

    def visible_events(self) -> list[Event]:
        return [e for _, e in self._visible]

    def all_events(self) -> list[Event]:
        return [e for _, e in self._kept]

    def add(self, new_events: Iterable[Event]) -> int:
        """Add events (oldest first). Returns how many of them pass the filter."""
        fresh: list[tuple[int, Event]] = []
        for event in new_events:
            item = (next(self._seq), event)
            self._kept.appendleft(item)
            if self.filter.matches(event):
                fresh.append(item)
        if not fresh and len(self._kept) < MAX_KEPT:
            return 0
        fresh.reverse()
        self._visible[:0] = fresh
        if len(self._kept) == MAX_KEPT:
            oldest = self._kept[-1][0]
            while self._visible and self._visible[-1][0] < oldest:
                self._visible.pop()
        # Someone reading further down keeps their place; at the top, the newest shows.
        if self.scroll_offset.y > 0 and fresh:
            self._update_size()
            self.scroll_to(y=self.scroll_offset.y + len(fresh), animate=False, immediate=True)
        else:
            self._update_size()
        self.refresh()
        return len(fresh)

    def set_filter(self, feed_filter: FeedFilter) -> None:
        self.filter = feed_filter
        self._visible = [item for item in self._kept if feed_filter.matches(item[1])]
        self._update_size()
        self.scroll_home(animate=False, immediate=True)
        self.refresh()

    def _update_size(self) -> None:
        size = Size(self.scrollable_content_region.width, len(self._visible))
        if size == self.virtual_size:
            return
        if not self.is_mounted or not self.virtual_size.height:
            self.virtual_size = size
            return
        # Only this view's scrollable height changed: update its scrollbar, not the whole
        # screen's layout (assigning virtual_size lays every widget out again, which on every
        # new event cost more than everything else a store write makes the app do).
        self.set_reactive(FeedView.virtual_size, size)
        self._scroll_update(size)

    # -- rendering -----------------------------------------------------------------------
    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._strips.clear()

    def on_resize(self, _event: events.Resize) -> None:
        self._strips.clear()
        self._update_size()

    def _style(self, name: str) -> Style:
        return self.get_component_rich_style(name, partial=True)

    def _render_event(self, seq: int, event: Event, width: int) -> Strip:
        cached = self._strips.get((seq, width))
        if cached is not None:
            return cached
        where = event.bead or event.rig or ""
        kind, who, at = columns(width)
        segments = [
            Segment(clock_time(event.ts), self._style("feed--time")),
            Segment("  "),
            # Segments go to the terminal as they are: stored text is escaped first.
            Segment(cell(safe(event.type), kind), self._style(event_class(event.type))),
            Segment(" "),
            Segment(cell(safe(event.actor), who), self._style("feed--actor")),
            Segment(" "),
            Segment(cell(safe(where), at), self._style("feed--where")),
            Segment(" "),
            Segment(safe(" ".join(event.msg.split())), self._style("feed--msg")),
        ]
        strip = Strip(segments).apply_style(self.rich_style)
        strip = strip.adjust_cell_length(max(width, 0), self.rich_style)
        self._strips[(seq, width)] = strip
        return strip

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        index = self.scroll_offset.y + y
        if index >= len(self._visible):
            if index == 0:
                note = "No events match the filter." if self.filter.active else "No events yet."
                return Strip([Segment(note, self._style("feed--empty"))]).adjust_cell_length(
                    width, self.rich_style
                )
            return Strip.blank(width, self.rich_style)
        seq, event = self._visible[index]
        return self._render_event(seq, event, width)


class FeedPane(Pane):
    PANE = "feed"
    TITLE = "Feed"

    BINDINGS = [
        Binding("escape", "clear_filters", "Clear filter", id="feed-clear"),
    ]

    def compose(self) -> ComposeResult:
        yield Input(
            placeholder="search the feed (enter: done, esc: clear)", id="feed-search", compact=True
        )
        yield FeedView()

    def on_mount(self) -> None:
        self.query_one("#feed-search").display = False
        self._caption()

    @property
    def view(self) -> FeedView:
        return self.query_one(FeedView)

    def main_widget(self) -> FeedView:
        return self.view

    def add(self, new_events: list[Event]) -> None:
        self.view.add(new_events)
        self._caption()

    def _caption(self) -> None:
        view = self.view
        if view.filter.active:
            self.border_subtitle = f"{view.shown} of {view.kept} · {view.filter.describe()}"
        else:
            self.border_subtitle = f"{view.kept} events" if view.kept else ""

    def apply_filter(self, feed_filter: FeedFilter) -> None:
        self.view.set_filter(feed_filter)
        self._caption()
        self.refresh_bindings()

    def start_search(self) -> None:
        search = self.query_one("#feed-search", Input)
        search.display = True
        search.value = self.view.filter.text
        focus_now(search)

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.apply_filter(replace(self.view.filter, text=event.value.strip()))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        search = self.query_one("#feed-search", Input)
        if not search.value.strip():
            search.display = False
        focus_now(self.view)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "clear_filters":
            return self.view.filter.active or self.query_one("#feed-search").display
        return True

    def action_clear_filters(self) -> None:
        search = self.query_one("#feed-search", Input)
        with search.prevent(Input.Changed):
            search.value = ""
        search.display = False
        self.apply_filter(FeedFilter())
        focus_now(self.view)

    def values(self) -> tuple[list[str], list[str], list[str]]:
        """Rigs, agents and types seen in the kept events (for the filter dialog)."""
        rigs: set[str] = set()
        actors: set[str] = set()
        types: set[str] = set()
        for event in self.view.all_events():
            if event.rig:
                rigs.add(event.rig)
            if event.actor:
                actors.add(event.actor)
            types.add(event.type)
            types.add(event.type.split(".", 1)[0])
        return sorted(rigs), sorted(actors), sorted(types)
