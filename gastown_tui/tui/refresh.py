"""The app's refresh engine: what to re-read when the town changes, and the workers that read.

The model:

- one async worker runs `watchfiles.awatch` over the town folder; each changed file becomes
  a scope (views/changes.py) and the scopes are posted as one `StoreChanged` (and the new
  lines of events.jsonl as `EventsAppended`); any process's write shows up here;
- `REFRESH` below maps scopes to loaders; each loader re-reads in a thread worker of its own
  group (`exclusive`, so a burst of changes costs one read, not a queue of them). Panes that
  load data of their own add their rows from their SCOPES (tui/panes.py);
- the polecats' states come from the town's one observer (dispatch/live.py, run by whichever
  supervisor holds the lease: this app or `gt daemon`): when it writes `.runtime/live.json`
  the watcher says `live` and the polecats are read again, with no tmux call; a look every
  LIVE_INTERVAL seconds only ages the times. Without an observer (no supervisor, or one
  starting) a thread worker looks at tmux itself every OBSERVE_INTERVAL seconds while the app
  is not suspended, and sooner when the store changed (`request_observe`).

`Refreshing` is mixed into GasTownApp (tui/app.py), which applies what the loaders post.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from textual import work
from textual.message import Message
from textual.worker import Worker, get_current_worker

from gastown_tui.town.errors import GtError
from gastown_tui.tui.messages import (
    EventsAppended,
    FeedLoaded,
    MailLoaded,
    PaneLoaded,
    PolecatsObserved,
    RigsLoaded,
    StoreChanged,
)
from gastown_tui.tui.panes import loading_panes
from gastown_tui.views.changes import scopes_of, watch_filter
from gastown_tui.views.ledger import RigsLedger
from gastown_tui.views.rows import OVERSEER

if TYPE_CHECKING:
    from gastown_tui.town.events import EventFollower
    from gastown_tui.town.town import Town
    from gastown_tui.tui.widgets.pane import Pane
    from gastown_tui.views.actions import TownData

OBSERVE_INTERVAL = 1.5  # seconds between looks at the polecats (tmux) when nothing changes
LIVE_INTERVAL = 10.0  # with an observer: states change by events; this only ages the times
OBSERVE_BUDGET = 60  # wait at least 60x what a look cost: observing stays under 2% of a core
OBSERVE_MIN_GAP = 0.25  # a store change brings a look forward, but not closer than this
OBSERVE_TICK = 0.1
DEBOUNCE_MS = 120
WATCH_STEP_MS = 40
RUST_TIMEOUT_MS = 500  # how long a cancelled watcher may take to notice (app exit)
FEED_TAIL = 500


class _StopWhen:
    """The watcher's stop event (watchfiles asks `is_set()` every step): set by
    `stop_watching`, or when the worker is cancelled (the app's message loop ending cancels
    every worker, and a thread worker left running would hold up the exit)."""

    def __init__(self, stop: threading.Event, worker: Worker[Any]) -> None:
        self.stop = stop
        self.worker = worker

    def is_set(self) -> bool:
        return self.stop.is_set() or self.worker.is_cancelled


@dataclass(frozen=True)
class Refresh:
    """Re-run `loader` when a change has one of `scopes` ("rig:*" matches every rig)."""

    loader: str
    scopes: tuple[str, ...]

    def matched(self, changed: Iterable[str]) -> set[str]:
        out = set()
        for scope in changed:
            for wanted in self.scopes:
                if scope == wanted or (wanted.endswith("*") and scope.startswith(wanted[:-1])):
                    out.add(scope)
        return out


# In order: config first (a new keymap), then what the panes show. `pane:<id>` rows come from
# the pane registry.
REFRESH: tuple[Refresh, ...] = (
    Refresh("config", ("config",)),
    Refresh("rigs", ("town", "rig:*")),
    Refresh("polecats", ("town", "rig:*", "heartbeats", "live")),
)
MAIL_REFRESH = Refresh("mail", ("mail:*",))


def refresh_table(panes: tuple[type[Pane], ...]) -> tuple[Refresh, ...]:
    """The whole table: the fixed rows, one row per pane that loads, then mail."""
    rows = tuple(Refresh(f"pane:{pane.PANE}", pane.SCOPES) for pane in loading_panes(panes))
    return (*REFRESH, *rows, MAIL_REFRESH)


def plan(table: Iterable[Refresh], scopes: Iterable[str]) -> list[tuple[str, set[str]]]:
    """(loader, the scopes that woke it) for every loader a change needs, in table order."""
    scopes = set(scopes)
    out = []
    for row in table:
        matched = row.matched(scopes)
        if matched:
            out.append((row.loader, matched))
    return out


class Refreshing:
    """Loaders, the file watcher and the polecat observer (mixed into GasTownApp)."""

    PANES: tuple[type[Pane], ...]
    town: Town
    data: TownData
    watching: bool
    suspended: bool
    showing: bool
    run_worker: Any
    post_message: Any
    notify: Any
    pane: Callable[[str], Pane]
    reload_config: Callable[[], None]
    mail_pane: Any

    def _init_refresh(self) -> None:
        self.refresh_rows = refresh_table(self.PANES)
        self._follower: EventFollower | None = None
        self._watch_stop = threading.Event()
        self._observe_requested = threading.Event()
        self.ledger = RigsLedger(self.data.town)
        self._rigs_posted = False
        self._pane_posted: dict[str, Any] = {}  # pane -> the snapshot last posted to it

    # -- loaders -------------------------------------------------------------------------
    def _thread(self, group: str, fn: Any, *args: Any) -> Worker[Any]:
        return self.run_worker(
            lambda: fn(*args),
            thread=True,
            group=group,
            exclusive=True,
            exit_on_error=False,
            name=group,
        )

    def _post_unless_cancelled(self, message: Message) -> None:
        if not get_current_worker().is_cancelled:
            self.post_message(message)

    def load_all(self) -> None:
        """Everything the main screen shows, once (at start)."""
        self.load_rigs()
        self.load_polecats()
        for pane in loading_panes(self.PANES):
            self.load_pane(pane.PANE)
        self.load_mail(OVERSEER)
        self.start_feed()

    def load_rigs(self, scopes: Iterable[str] | None = None) -> None:
        """Re-read the rigs whose files changed (`rig:<name>` scopes; None: every rig). The
        ledger keeps every other row as it was (views/ledger.py): a write costs the app its
        own rig file, not the whole town."""
        rigs = None if scopes is None else {s[4:] for s in scopes if s.startswith("rig:")}
        self.ledger.mark(rigs)

        def load() -> None:
            change = self.ledger.apply_marked()
            if self.watching and self.ledger.take_polecats_changed():
                self._observe_requested.set()  # a hook or a polecat record changed
            if not change.empty or not self._rigs_posted:
                self._rigs_posted = True
                self._post_unless_cancelled(RigsLoaded(change.snapshot))

        self._thread("load-rigs", load)

    def load_polecats(self) -> None:
        self._thread(
            "load-polecats",
            lambda: self._post_unless_cancelled(PolecatsObserved(self.data.load_polecats())),
        )

    def load_pane(self, name: str) -> None:
        """Re-read what pane `name` shows (its `load`), posting PaneLoaded."""
        kind = type(self.pane(name))

        def load() -> None:
            snapshot = kind.load(self.data)
            # The same rows again (a rig write that did not touch what this pane shows): no
            # repaint. Ages still tick: the app's age timer redraws them (tui/app.py).
            if name in self._pane_posted and self._pane_posted[name] == snapshot:
                return
            if not get_current_worker().is_cancelled:
                self._pane_posted[name] = snapshot
                self.post_message(PaneLoaded(name, snapshot))

        self._thread(f"load-{name}", load)

    def load_convoys(self) -> None:
        self.load_pane("convoys")

    def load_mail(self, address: str) -> None:
        group = "load-mail-overseer" if address == OVERSEER else "load-mail-other"
        self._thread(
            group, lambda: self._post_unless_cancelled(MailLoaded(self.data.load_mail(address)))
        )

    def refresh_mail(self, scopes: set[str]) -> None:
        if f"mail:{OVERSEER}" in scopes:
            self.load_mail(OVERSEER)
        shown = self.mail_pane.address
        if shown != OVERSEER and f"mail:{shown}" in scopes:
            self.load_mail(shown)

    def start_feed(self) -> None:
        def tail() -> None:
            events, follower = self.data.feed_start(FEED_TAIL)
            self._follower = follower
            self._post_unless_cancelled(FeedLoaded(events))

        self._thread("load-feed", tail)

    def run_refresh(self, loader: str, scopes: set[str]) -> None:
        """Run one loader of the table."""
        if loader == "config":
            self.reload_config()
        elif loader == "rigs":
            self.load_rigs(scopes)
        elif loader == "polecats":
            # A rig write changes the polecats' rows only through a polecat record or a
            # hooked bead: the rigs loader, which reads the rig anyway, asks for a look then.
            if any(not s.startswith("rig:") for s in scopes):
                self.request_observe()
        elif loader == "mail":
            self.refresh_mail(scopes)
        elif loader.startswith("pane:"):
            self.load_pane(loader.removeprefix("pane:"))
        else:  # pragma: no cover - a row of the table with no loader is a bug
            raise ValueError(f"no loader {loader!r}")

    def on_store_changed(self, message: StoreChanged) -> None:
        if not self.showing:
            return
        for loader, scopes in plan(self.refresh_rows, message.scopes):
            self.run_refresh(loader, scopes)

    # -- watching ------------------------------------------------------------------------
    @work(thread=True, group="observe", exit_on_error=False, name="observe polecats")
    def observe_loop(self) -> None:
        """Polecat states come from tmux as much as from the store: poll them, and look again
        soon after the store changes (request_observe). One thread does all of it, so a storm
        of heartbeats never piles up observers; the pauses grow with the cost of a look, which
        keeps observing to a few percent of a core however many polecats there are."""
        worker = get_current_worker()
        last_error = ""
        first = True
        while not worker.is_cancelled:
            started = time.monotonic()
            self._observe_requested.clear()
            if not self.suspended:
                try:
                    polecats = self.data.load_polecats()
                except GtError as exc:
                    if str(exc) != last_error:
                        last_error = str(exc)
                        self.notify(f"observing polecats: {exc}", severity="error")
                else:
                    last_error = ""
                    if not worker.is_cancelled:
                        self.post_message(PolecatsObserved(polecats))
            # The first look competes with the app's start-up (it measured ~0.5 s where later
            # ones take ~75 ms): pacing by it would leave the states stale for half a minute.
            cost = 0.0 if first else time.monotonic() - started
            first = False
            # The observer's state, when one runs, changes by itself: no polling of tmux here.
            interval = LIVE_INTERVAL if self.data.observed_live() else OBSERVE_INTERVAL
            next_look = started + max(interval, cost * OBSERVE_BUDGET)
            earliest = started + max(OBSERVE_MIN_GAP, cost * OBSERVE_BUDGET / 3)
            while not worker.is_cancelled:
                now = time.monotonic()
                if now >= next_look or (self._observe_requested.is_set() and now >= earliest):
                    break
                worker.cancelled_event.wait(OBSERVE_TICK)

    def request_observe(self) -> None:
        """Look at the polecats again soon (the store changed)."""
        if self.watching:
            self._observe_requested.set()
        else:
            self.load_polecats()

    @work(group="watch", thread=True, exit_on_error=False, name="watch town")
    def watch_town(self) -> None:
        """Post what each batch of store changes touched, and the feed's new events, from a
        thread of its own. (watchfiles' `awatch` would run the same Rust watcher in a thread
        through anyio, whose asyncio backend loads ssl: ~6 MB resident, tui/__init__.py.)"""
        from watchfiles import watch

        # The storage backend's change feed says what a changed path means (town/storage/).
        feed = self.town.storage.changes
        for changes in watch(
            feed.watch_root,
            watch_filter=watch_filter(feed),
            debounce=DEBOUNCE_MS,
            step=WATCH_STEP_MS,
            rust_timeout=RUST_TIMEOUT_MS,
            stop_event=_StopWhen(self._watch_stop, get_current_worker()),
            raise_interrupt=False,
        ):
            scopes = scopes_of(feed, changes)
            if scopes:
                # First: the loaders' threads read while the new event lines are read below,
                # so what one write changed tends to reach the screen in one frame.
                self.post_message(StoreChanged(scopes))
            if "events" in scopes and self._follower is not None:
                new_events = self.data.feed_poll(self._follower)  # in order, off the UI thread
                if new_events:
                    self.post_message(EventsAppended(new_events))

    def stop_watching(self) -> None:
        self._watch_stop.set()
