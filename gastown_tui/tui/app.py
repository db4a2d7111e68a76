"""The Gas Town app: one screen of panes (rigs, convoys, mail, feed, preview) over a town.

Built by `make_app(town, tmux, clock)`. The refresh model (DESIGN.md section 11):

- one async worker runs `watchfiles.awatch` over the town folder and posts `StoreChanged`
  (and `EventsAppended` for new lines of events.jsonl); any process's write shows up here;
- each kind of data is re-read only when its files changed, in a thread worker of its own
  group (`exclusive`, so a burst of changes costs one read, not a queue of them);
- a thread worker observes the polecats (tmux-derived state) every OBSERVE_INTERVAL seconds
  while the app is not suspended; the preview captures only while it is on screen.

Workers never take the app down (`exit_on_error=False`); `on_worker_state_changed` turns a
failure into one notification. Agents live in tmux and outlive the app: quitting never stops
them.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import threading
import time
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar

from textual import events, work
from textual.app import App, ComposeResult, SuspendNotSupported
from textual.binding import Binding, BindingType
from textual.color import Color, ColorParseError
from textual.containers import Container
from textual.css.query import NoMatches
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Static
from textual.worker import Worker, WorkerState, get_current_worker

from gastown_tui.town.display import safe, safe_lines
from gastown_tui.town.errors import GtError
from gastown_tui.tui import data as data_mod
from gastown_tui.tui.commands import (
    ActionsProvider,
    AgentsProvider,
    BeadsProvider,
    ConvoysProvider,
    FormulasProvider,
    RigsProvider,
)
from gastown_tui.tui.data import (
    OVERSEER,
    ConvoysSnapshot,
    MailSnapshot,
    PolecatRow,
    Problem,
    RigsSnapshot,
    Supervision,
    TownData,
    change_scope,
    find_problems,
)
from gastown_tui.tui.keys import FlushKeys, HeldKeys
from gastown_tui.tui.layouts import DEFAULT_LAYOUT, layout_folders, load_layouts
from gastown_tui.tui.messages import (
    AttachPlanned,
    BeadChosen,
    ConvoyOpened,
    ConvoysLoaded,
    EventsAppended,
    FeedLoaded,
    MailLoaded,
    MessageOpened,
    MessageSelected,
    PaneActivated,
    PatrolsDue,
    PolecatChosen,
    PolecatSelected,
    PolecatsObserved,
    RigsLoaded,
    StoreChanged,
    SupervisorStatus,
)
from gastown_tui.tui.review_actions import ReviewActions, review_binding_owners
from gastown_tui.tui.screens.base import ConfirmScreen
from gastown_tui.tui.screens.help import HelpScreen, KeyHelp
from gastown_tui.tui.themes import DEFAULT_THEME, load_themes, theme_folders
from gastown_tui.tui.widgets.convoys import ConvoysPane
from gastown_tui.tui.widgets.feed import FeedFilter, FeedPane
from gastown_tui.tui.widgets.footer import TownFooter
from gastown_tui.tui.widgets.mail import MailPane
from gastown_tui.tui.widgets.pane import PANES, Pane
from gastown_tui.tui.widgets.preview import PreviewPane
from gastown_tui.tui.widgets.rigs import RigsPane
from gastown_tui.tui.widgets.status import PaneTabs, StatusBar

if TYPE_CHECKING:
    from gastown_tui.tmux import AttachPlan, TownTmux
    from gastown_tui.town.clock import Clock
    from gastown_tui.town.events import EventFollower
    from gastown_tui.town.town import Town

OBSERVE_INTERVAL = 1.5  # seconds between looks at the polecats (tmux) when nothing changes
OBSERVE_BUDGET = 60  # wait at least 60x what a look cost: observing stays under 2% of a core
OBSERVE_MIN_GAP = 0.25  # a store change brings a look forward, but not closer than this
OBSERVE_TICK = 0.1
AGE_REFRESH = 20.0  # seconds between re-renders of ages shown without new data
SUPERVISE_TICK = 1.0  # how often the supervisor worker checks the schedule and the lease
DEBOUNCE_MS = 120
WATCH_STEP_MS = 40
RUST_TIMEOUT_MS = 500  # how long a cancelled watcher may take to notice (app exit)
FEED_TAIL = 500
MIN_WIDTH, MIN_HEIGHT = 80, 24
PANE_GROUP = Binding.Group("panes", compact=True)


class TownScreen(Screen[None]):
    """The main screen. Its class `layout-<name>` selects the active layout's rules."""

    def __init__(self, gt_app: GasTownApp) -> None:
        super().__init__(id="town-screen")
        self.gt_app = gt_app

    def compose(self) -> ComposeResult:
        app = self.gt_app
        yield StatusBar(app.data.name, demo=app.data.is_demo)
        with Container(id="town"):
            yield PaneTabs()
            yield RigsPane()
            yield ConvoysPane()
            yield MailPane()
            yield PreviewPane(app.data, live=app.watching)
            yield FeedPane()
        yield Static("", id="too-small")
        yield TownFooter()

    def on_mount(self) -> None:
        self.gt_app.start()

    def on_resize(self, event: events.Resize) -> None:
        width, height = event.size
        small = width < MIN_WIDTH or height < MIN_HEIGHT
        self.set_class(small, "-too-small")
        if small:
            self.query_one("#too-small", Static).update(
                f"Gas Town needs at least {MIN_WIDTH}x{MIN_HEIGHT}, now {width}x{height}.\n"
                "Make the terminal larger (q quits)."
            )


class GasTownApp(ReviewActions, App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "Gas Town"
    COMMANDS = App.COMMANDS | {
        AgentsProvider,
        BeadsProvider,
        ConvoysProvider,
        RigsProvider,
        ActionsProvider,
        FormulasProvider,
    }
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("s", "sling", "Sling", id="sling"),
        Binding("n", "nudge", "Nudge", id="nudge"),
        Binding("a", "attach", "Attach", id="attach"),
        Binding("m", "compose", "Mail", id="compose"),
        Binding("r", "reply", "Reply", id="reply"),
        Binding("c", "new_convoy", "Convoy", id="convoy"),
        Binding("slash", "search", "Search", id="search"),
        Binding("f", "filter", "Filter", id="filter"),
        Binding("p", "problems", "Problems", id="problems"),
        Binding("i", "switch_inbox", "Inbox", id="inbox"),
        Binding("question_mark", "help", "Help", id="help"),
        Binding("t", "pick_theme", "Theme", id="theme"),
        Binding("L", "cycle_layout", "Layout", id="layout"),
        Binding("q", "request_quit", "Quit", id="quit"),
        # Review and control (tui/screens/review.py, control.py); in help and the palette.
        Binding("M", "merge_queue", "Merges", show=False, id="merge-queue"),
        Binding("v", "review", "Review", show=False, id="review"),
        Binding("z", "control", "Control", show=False, id="control"),
        Binding("b", "new_bead", "New bead", show=False, id="new-bead"),
        Binding("u", "undo", "Undo", show=False, id="undo"),
        *(
            Binding(
                str(n), f"focus_pane('{pane}')", pane.title(), id=f"pane-{pane}", group=PANE_GROUP
            )
            for n, pane in enumerate(PANES, 1)
        ),
    ]
    # What each action is for, in the help screen and the palette.
    ACTION_HELP: ClassVar[dict[str, str]] = {
        "sling": "Sling a bead (or new work) onto a polecat",
        "nudge": "Nudge the selected polecat",
        "attach": "Attach to the selected polecat's window",
        "compose": "Compose mail",
        "reply": "Reply to the selected message",
        "new_convoy": "New convoy from the marked beads",
        "search": "Search the feed",
        "filter": "Filter the feed by rig, agent, type",
        "problems": "Problems: what needs you",
        "switch_inbox": "Read another agent's inbox",
        "help": "Help: the keys",
        "pick_theme": "Pick a theme",
        "cycle_layout": "Next layout",
        "request_quit": "Quit (agents keep running)",
        "merge_queue": "Merge queue: requests, states, verify logs (Enter reviews)",
        "review": "Review the selected polecat's branch or merge request",
        "control": "Control the selected polecat: stop, pause, thaw, restart, kill, release",
        "new_bead": "New bead: title, text, priority, type, labels, rig, dependencies",
        "undo": "Undo the last close or edit of a bead",
    }

    def __init__(
        self,
        town: Town,
        data: TownData,
        *,
        clock: Clock | None = None,
        watch: bool = True,
        supervise: bool = False,
        layout: str | None = None,
        theme: str | None = None,
    ) -> None:
        super().__init__()
        self.held_keys = HeldKeys(self)  # a burst of keys lands in order (tui/keys.py)
        self.town = town
        self.data = data
        self.clock = clock or town.clock
        self.watching = watch
        self.supervise = supervise
        self.suspended = False
        self.capabilities = data.capabilities()
        self.warnings: list[str] = []
        # State the panes, palette and problems view share; replaced whole by loaders.
        self.rigs_snapshot = RigsSnapshot()
        self.polecats: list[PolecatRow] = []
        self.convoys = ConvoysSnapshot()
        self.overseer_mail = MailSnapshot(OVERSEER)
        self.problems: list[Problem] = []
        self.selected_address: str | None = None
        self.selected_message_id: str | None = None
        self.active_pane = "rigs"
        self.applied_keymap: dict[str, str] = {}
        self._follower: EventFollower | None = None
        self._watch_stop = asyncio.Event()
        self._observe_requested = threading.Event()
        self._feed_backlog: list[Any] = []
        self._supervisor: Supervision | None = None  # while this app holds the lease
        self._patrols_running: set[str] = set()
        self._loaded: set[str] = set()
        self._setup_themes(theme)
        self._setup_layouts(layout)

    # -- themes, layouts, keymap ---------------------------------------------------------
    def _setup_themes(self, wanted: str | None) -> None:
        loaded = load_themes(theme_folders(self.town.root))
        for theme in loaded.themes.values():
            self.register_theme(theme)
        self.our_themes = sorted(loaded.themes, key=lambda n: (n != DEFAULT_THEME, n))
        if loaded.errors:
            self.warnings.append("Some themes could not be loaded:\n" + "\n".join(loaded.errors))
        name = wanted or self.town.config.theme
        if name not in self.available_themes:
            fallback = DEFAULT_THEME if DEFAULT_THEME in self.available_themes else "textual-dark"
            self.warnings.append(f"Unknown theme {name!r}: using {fallback}.")
            name = fallback
        self.theme = name

    def _setup_layouts(self, wanted: str | None) -> None:
        loaded = load_layouts(layout_folders(self.town.root), self.get_css_variables())
        for layout in loaded.layouts.values():
            self.stylesheet.add_source(layout.css, read_from=(str(layout.path), ""))
        self.layout_set = loaded
        if loaded.errors:
            self.warnings.append("Some layouts could not be loaded:\n" + "\n".join(loaded.errors))
        name = wanted or self.town.config.layout
        if name not in loaded.layouts:
            fallback = DEFAULT_LAYOUT if DEFAULT_LAYOUT in loaded.layouts else None
            if loaded.layouts:
                self.warnings.append(f"Unknown layout {name!r}: using {fallback or 'none'}.")
            name = fallback or ""
        self.layout_name = name

    def get_theme_variable_defaults(self) -> dict[str, str]:
        """Our `$gt-*` variables, for themes that do not set them: derived from the theme's own
        colours so that any Textual theme still shows states sensibly."""
        try:
            theme = self.current_theme
        except Exception:
            return dict(_FALLBACK_VARIABLES)
        dark = theme.dark
        fg = theme.foreground or ("#e0e0e0" if dark else "#1e1e1e")
        bg = theme.background or ("#121212" if dark else "#efefef")
        try:
            muted = Color.parse(fg).blend(Color.parse(bg), 0.45).hex
        except ColorParseError:
            muted = _FALLBACK_VARIABLES["gt-muted"]
        success = theme.success or _FALLBACK_VARIABLES["gt-working"]
        warning = theme.warning or _FALLBACK_VARIABLES["gt-stalled"]
        error = theme.error or _FALLBACK_VARIABLES["gt-zombie"]
        accent = theme.accent or theme.primary
        return {
            "gt-working": success,
            "gt-idle": muted,
            "gt-starting": theme.secondary or theme.primary,
            "gt-waiting": warning,
            "gt-stalled": warning,
            "gt-gupp": accent,
            "gt-zombie": error,
            "gt-landed": accent,
            "gt-unread": fg,
            "gt-problem": error,
            "gt-muted": muted,
        }

    def binding_ids(self) -> set[str]:
        """Every remappable binding id: the app's, its panes' and its dialogs'."""
        from gastown_tui.tui.screens.base import ConfirmScreen, Dialog
        from gastown_tui.tui.screens.bead import BeadScreen
        from gastown_tui.tui.screens.convoy import ConvoyCreateScreen
        from gastown_tui.tui.screens.mail import ComposeScreen, InboxScreen, ReadScreen, ReplyScreen
        from gastown_tui.tui.screens.problems import ProblemsScreen
        from gastown_tui.tui.screens.sling import SlingScreen
        from gastown_tui.tui.widgets.rigs import RigsTree

        owners: list[Any] = [type(self), FeedPane, RigsTree, Dialog, ConfirmScreen, BeadScreen]
        owners += [ConvoyCreateScreen, ComposeScreen, InboxScreen, ReadScreen, ReplyScreen]
        owners += [ProblemsScreen, SlingScreen, *review_binding_owners()]
        return {
            binding.id
            for owner in owners
            for binding in owner.BINDINGS
            if isinstance(binding, Binding) and binding.id
        }

    def _apply_keymap(self) -> str | None:
        """Take town.toml's [keymap]; returns a warning for ids that name no action."""
        keymap = self.town.config.keymap
        known = self.binding_ids()
        unknown = sorted(k for k in keymap if k not in known)
        self.applied_keymap = {k: v for k, v in keymap.items() if k in known}
        self.set_keymap(self.applied_keymap)
        if unknown:
            names = ", ".join(repr(u) for u in unknown)
            return f"town.toml [keymap]: no action {names} (? lists the ids)"
        return None

    def key_for(self, binding: Binding) -> str:
        """The key a binding is on now (after the keymap), for help and palette."""
        key = self.applied_keymap.get(binding.id or "", binding.key)
        return self.get_key_display(binding.with_key(key))

    # -- screen --------------------------------------------------------------------------
    def get_default_screen(self) -> Screen[Any]:
        return TownScreen(self)

    @property
    def showing(self) -> bool:
        """The main screen is up (workers may still post while the app shuts down)."""
        return bool(self.screen_stack) and isinstance(self.screen_stack[0], TownScreen)

    @property
    def town_screen(self) -> TownScreen:
        screen = self.screen_stack[0]
        assert isinstance(screen, TownScreen)
        return screen

    def pane(self, name: str) -> Pane:
        return self.town_screen.query_one(f"#{name}", Pane)

    @property
    def rigs_pane(self) -> RigsPane:
        return self.town_screen.query_one(RigsPane)

    @property
    def mail_pane(self) -> MailPane:
        return self.town_screen.query_one(MailPane)

    @property
    def feed_pane(self) -> FeedPane:
        return self.town_screen.query_one(FeedPane)

    @property
    def preview_pane(self) -> PreviewPane:
        return self.town_screen.query_one(PreviewPane)

    def start(self) -> None:
        """The main screen is composed: show it, then start loading and watching."""
        trouble = self._apply_keymap()
        if trouble:
            self.warnings.append(trouble)
        self.set_layout(self.layout_name, announce=False)
        self.activate_pane("rigs", focus=True)
        if self.warnings:
            # Everything that went wrong while starting, in one notification.
            self.notify(
                "\n\n".join(self.warnings), title="Gas Town", severity="warning", timeout=12
            )
        self.set_supervisor_status(self._initial_supervisor_text())
        self.load_rigs()
        self.load_polecats()
        self.load_convoys()
        self.load_mail(OVERSEER)
        self.start_feed()
        if self.watching:
            self.watch_town()
            self.observe_loop()
            # "landed 3m ago" and friends age without any file changing.
            self.set_interval(AGE_REFRESH, self._refresh_ages)
        if self.supervise:
            self.supervise_loop()

    def _initial_supervisor_text(self) -> str:
        if not self.supervise:
            return "viewer"
        return "supervisor: starting…"

    def set_supervisor_status(self, text: str, *, warn: bool = False) -> None:
        """What the status line says about supervision ("supervised by app pid 4242")."""
        self.town_screen.query_one(StatusBar).set_supervisor(text, warn=warn)

    def on_supervisor_status(self, message: SupervisorStatus) -> None:
        if self.showing:
            self.set_supervisor_status(message.text, warn=message.warn)

    # -- supervision ---------------------------------------------------------------------
    @work(thread=True, group="supervisor", exit_on_error=False, name="supervisor")
    def supervise_loop(self) -> None:
        """Hold the town's supervisor lease while it is free and keep the patrols on their
        schedule; each due patrol runs in a thread worker of its own group (witness,
        refinery, deacon, dogs), so a slow merge never holds up a witness. While another
        process holds the lease this app is a viewer and says who supervises; when that
        process dies, this one takes over at its next tick (DESIGN.md section 2)."""
        worker = get_current_worker()
        reason = Supervision.unavailable(self.data.tmux)
        if reason is not None or self.data.tmux is None:
            self.post_message(SupervisorStatus(reason or "not supervising", warn=True))
            return
        supervision = Supervision(self.town, self.data.tmux, self._supervisor_says)
        shown = ""
        try:
            while not worker.is_cancelled:
                if supervision.try_acquire():
                    if self._supervisor is None:
                        self._supervisor = supervision
                        self.post_message(
                            SupervisorStatus(f"supervised by this app (pid {os.getpid()})")
                        )
                        supervision.recover()  # what a reboot or a crash left behind
                    now = self.town.clock.now()
                    due = supervision.due(now)
                    if due:
                        self.post_message(PatrolsDue(due))
                    supervision.publish()
                    wait = min(SUPERVISE_TICK, supervision.next_due_in(now))
                else:
                    self._supervisor = None  # never held, or taken over while stopped
                    text = supervision.holder()
                    if text != shown:
                        shown = text
                        self.post_message(SupervisorStatus(f"viewer: {text}"))
                    wait = SUPERVISE_TICK
                worker.cancelled_event.wait(max(0.05, wait))
        finally:
            supervision.release()
            self._supervisor = None

    def _supervisor_says(self, text: str, severity: str) -> None:
        # Called from patrol threads; App.notify posts a message, which is thread-safe.
        self.notify(text, title="supervisor", severity=severity)  # type: ignore[arg-type]

    def on_patrols_due(self, message: PatrolsDue) -> None:
        supervisor = self._supervisor
        if supervisor is None or not self.showing:
            return
        for patrol in message.patrols:
            if patrol.name in self._patrols_running:
                continue  # still running from last time: never two of one patrol
            self._patrols_running.add(patrol.name)
            self.run_worker(
                partial(supervisor.run, patrol),
                thread=True,
                group=patrol.group,
                name=f"patrol {patrol.name}",
                exit_on_error=False,
            )

    def _patrol_finished(self, worker: Worker[Any]) -> None:
        name = (worker.name or "").removeprefix("patrol ")
        self._patrols_running.discard(name)
        result = worker.result if worker.state == WorkerState.SUCCESS else None
        error = getattr(result, "error", None)
        if error:
            self.notify(f"{name}: {error}", title="patrol failed", severity="warning")

    # -- layouts and panes ---------------------------------------------------------------
    def set_layout(self, name: str, *, announce: bool = True) -> None:
        screen = self.town_screen
        for other in self.layout_set.layouts.values():
            screen.remove_class(other.css_class)
        if name in self.layout_set.layouts:
            screen.add_class(self.layout_set.layouts[name].css_class)
        self.layout_name = name
        if announce:
            self.notify(f"layout: {name}", timeout=2)

    def action_cycle_layout(self) -> None:
        names = self.layout_set.names()
        if not names:
            self.notify("No layouts are available.", severity="warning")
            return
        index = names.index(self.layout_name) if self.layout_name in names else -1
        self.set_layout(names[(index + 1) % len(names)])
        self.call_after_refresh(self.pane(self.active_pane).focus_main)

    def activate_pane(self, name: str, *, focus: bool = False) -> None:
        if name not in PANES:
            return
        self.active_pane = name
        for pane_name in PANES:
            self.pane(pane_name).set_class(pane_name == name, "-active")
        self.town_screen.query_one(PaneTabs).set_active(name)
        if focus:
            # At once (focus_now): keys typed right behind the pane's key go to it. A pane a
            # layout is only now showing can take the focus (Widget.focusable ignores display).
            self.pane(name).focus_main()

    def action_focus_pane(self, name: str) -> None:
        self.activate_pane(name, focus=True)

    def on_pane_activated(self, message: PaneActivated) -> None:
        if not self.showing:
            return
        if message.pane != self.active_pane:
            self.activate_pane(message.pane)

    # -- loading -------------------------------------------------------------------------
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

    def load_rigs(self) -> None:
        self._thread(
            "load-rigs", lambda: self._post_unless_cancelled(RigsLoaded(self.data.load_rigs()))
        )

    def load_polecats(self) -> None:
        self._thread(
            "load-polecats",
            lambda: self._post_unless_cancelled(PolecatsObserved(self.data.load_polecats())),
        )

    def load_convoys(self) -> None:
        self._thread(
            "load-convoys",
            lambda: self._post_unless_cancelled(ConvoysLoaded(self.data.load_convoys())),
        )

    def load_mail(self, address: str) -> None:
        group = "load-mail-overseer" if address == OVERSEER else "load-mail-other"
        self._thread(
            group, lambda: self._post_unless_cancelled(MailLoaded(self.data.load_mail(address)))
        )

    def start_feed(self) -> None:
        def tail() -> None:
            events, follower = self.data.feed_start(FEED_TAIL)
            self._follower = follower
            self._post_unless_cancelled(FeedLoaded(events))

        self._thread("load-feed", tail)

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
            next_look = started + max(OBSERVE_INTERVAL, cost * OBSERVE_BUDGET)
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

    @work(group="watch", exit_on_error=False, name="watch town")
    async def watch_town(self) -> None:
        from watchfiles import awatch

        root = self.town.root.resolve()
        prefix = str(root)
        async for changes in awatch(
            root,
            watch_filter=data_mod.watch_filter(root),
            debounce=DEBOUNCE_MS,
            step=WATCH_STEP_MS,
            rust_timeout=RUST_TIMEOUT_MS,
            stop_event=self._watch_stop,
        ):
            scopes = {s for _, path in changes if (s := change_scope(prefix, path)) is not None}
            if "events" in scopes and self._follower is not None:
                # Read the new lines here, in order, off the UI thread.
                new_events = await asyncio.to_thread(self.data.feed_poll, self._follower)
                if new_events:
                    self.post_message(EventsAppended(new_events))
            if scopes:
                self.post_message(StoreChanged(scopes))

    def exit(self, *args: Any, **kwargs: Any) -> None:
        self._watch_stop.set()
        super().exit(*args, **kwargs)

    # -- applying what was loaded ----------------------------------------------------------
    @property
    def now(self) -> float:
        return self.clock.now()

    def on_store_changed(self, message: StoreChanged) -> None:
        if not self.showing:
            return
        scopes = message.scopes
        rigs = "town" in scopes or any(s.startswith("rig:") for s in scopes)
        if "config" in scopes:
            self.reload_config()
        if rigs:
            self.load_rigs()
        if rigs or "heartbeats" in scopes:
            self.request_observe()
        if rigs or "archive" in scopes:
            self.load_convoys()
        if f"mail:{OVERSEER}" in scopes:
            self.load_mail(OVERSEER)
        shown = self.mail_pane.address
        if shown != OVERSEER and f"mail:{shown}" in scopes:
            self.load_mail(shown)

    def reload_config(self) -> None:
        """town.toml changed: take the new keymap (themes and layouts stay as chosen)."""
        self.town.__dict__.pop("config", None)
        try:
            trouble = self._apply_keymap()
        except GtError as exc:
            self.notify(str(exc), title="town.toml", severity="error")
            return
        if trouble:
            self.notify(trouble, title="town.toml", severity="warning")

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: Any = "information",
        timeout: float | None = None,
        markup: bool = True,
    ) -> None:
        # Notices carry stored text (a convoy's title, an error naming a bead): shown as
        # written, escaped (town/display.py), never parsed as markup.
        super().notify(
            safe_lines(message), title=safe(title), severity=severity, timeout=timeout, markup=False
        )

    async def on_event(self, event: events.Event) -> None:
        # A burst of keys is handled one key at a time, in order (tui/keys.py).
        if isinstance(event, events.Key) and not event.is_forwarded:
            if self.held_keys.hold(event):
                return
            await self._handle_key(event)
            return
        await super().on_event(event)

    async def _handle_key(self, event: events.Key) -> None:
        target = self.focused or self.screen
        try:
            await super().on_event(event)
        finally:
            self.held_keys.follow(target, event)

    async def on_flush_keys(self, message: FlushKeys) -> None:
        key = self.held_keys.next_key()
        if key is not None:
            await self._handle_key(key)

    def _refresh_ages(self) -> None:
        # A timer's exception ends a Textual app, and supervision with it: a stale "3m ago"
        # is not worth that (tests/test_tui_faults.py).
        try:
            if self.showing and "convoys" in self._loaded:
                self.town_screen.query_one(ConvoysPane).show(self.convoys, self.now)
        except Exception as exc:
            self.log.error(f"age refresh failed: {exc!r}")

    def on_rigs_loaded(self, message: RigsLoaded) -> None:
        if not self.showing:
            return
        self.rigs_snapshot = message.snapshot
        self._loaded.add("rigs")
        self.rigs_pane.show(message.snapshot, None, self.now)
        self._recount()

    def on_polecats_observed(self, message: PolecatsObserved) -> None:
        if not self.showing:
            return
        had_selection = self.selected_polecat() is not None
        self.polecats = message.polecats
        self._loaded.add("polecats")
        self.rigs_pane.show(None, message.polecats, self.now)
        selected = self.selected_polecat()
        self.preview_pane.follow(selected)
        self._recount()
        if (selected is not None) != had_selection:
            # Only nudge and attach depend on the polecats (a selected one must exist).
            # Refreshing the bindings recomposes the footer and lays the whole screen out
            # again: doing it on every look at the polecats cost ~2% of a core when idle.
            self.refresh_bindings()

    def on_convoys_loaded(self, message: ConvoysLoaded) -> None:
        if not self.showing:
            return
        self.convoys = message.snapshot
        self._loaded.add("convoys")
        self.town_screen.query_one(ConvoysPane).show(message.snapshot, self.now)
        self._recount()

    def on_mail_loaded(self, message: MailLoaded) -> None:
        if not self.showing:
            return
        snapshot = message.snapshot
        if snapshot.address == OVERSEER:
            self.overseer_mail = snapshot
            self._loaded.add("mail")
        if snapshot.address == self.mail_pane.address or (
            snapshot.address == OVERSEER and self.mail_pane.address == OVERSEER
        ):
            self.mail_pane.show(snapshot, self.now)
        self._recount()
        self.refresh_bindings()

    def on_feed_loaded(self, message: FeedLoaded) -> None:
        if not self.showing:
            return
        self._feed_add(list(message.events))

    def _feed_add(self, new: list[Any]) -> None:
        """Events for the feed pane; kept until it is mounted (a watcher may post before the
        town screen's panes are composed, or while a layout change recomposes them)."""
        self._feed_backlog.extend(new)
        if not self._feed_backlog or not self.showing:
            return
        try:
            feed = self.town_screen.query_one(FeedPane)
        except NoMatches:
            self.set_timer(0.1, lambda: self._feed_add([]))
            return
        backlog, self._feed_backlog = self._feed_backlog, []
        feed.add(backlog)

    def on_events_appended(self, message: EventsAppended) -> None:
        if not self.showing:
            return
        self._feed_add(list(message.events))
        for event in message.events:
            if event.type == "convoy.landed":
                self.notify(f"Convoy landed: {event.msg}", title="🏁 convoy", timeout=8)

    def _recount(self) -> None:
        self.problems = find_problems(
            self.polecats, self.overseer_mail.messages, self.rigs_snapshot.needs_human
        )
        self.town_screen.query_one(StatusBar).show_counts(
            self.rigs_snapshot,
            self.polecats,
            self.convoys,
            self.overseer_mail.unread,
            len(self.problems),
        )
        from gastown_tui.tui.screens.problems import ProblemsScreen

        if isinstance(self.screen, ProblemsScreen):
            self.screen.update_problems(self.problems, self.now)

    @property
    def loaded(self) -> bool:
        """Every pane has had its first data (tests wait for this)."""
        return {"rigs", "polecats", "convoys", "mail"} <= self._loaded

    # -- worker failures -----------------------------------------------------------------
    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if (event.worker.name or "").startswith("patrol ") and event.worker.is_finished:
            self._patrol_finished(event.worker)
        if event.state != WorkerState.ERROR:
            return
        error = event.worker.error
        what = event.worker.name or event.worker.group
        if isinstance(error, GtError):
            self.notify(str(error), title=what, severity="error", timeout=10)
        else:
            self.notify(
                f"{type(error).__name__}: {error}",
                title=f"{what} failed",
                severity="error",
                timeout=10,
            )

    # -- selection -----------------------------------------------------------------------
    def selected_polecat(self) -> PolecatRow | None:
        if self.selected_address is None:
            return None
        return next((p for p in self.polecats if p.address == self.selected_address), None)

    def polecat(self, address: str) -> PolecatRow | None:
        return next((p for p in self.polecats if p.address == address), None)

    def on_polecat_selected(self, message: PolecatSelected) -> None:
        if not self.showing:
            return
        had_selection = self.selected_polecat() is not None
        self.selected_address = message.address
        selected = self.selected_polecat()
        self.preview_pane.follow(selected)
        if (selected is not None) != had_selection:
            self.refresh_bindings()

    def on_polecat_chosen(self, message: PolecatChosen) -> None:
        self.selected_address = message.address
        self.action_attach()

    def on_message_selected(self, message: MessageSelected) -> None:
        if not self.showing:
            return
        self.selected_message_id = message.message_id
        self.refresh_bindings()

    def on_bead_chosen(self, message: BeadChosen) -> None:
        self.action_show_bead(message.bead_id)  # sling stays on its own key (s)

    def on_message_opened(self, message: MessageOpened) -> None:
        self.action_read(message.message_id)

    def on_convoy_opened(self, message: ConvoyOpened) -> None:
        self.action_show_convoy(message.convoy_id)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("nudge", "attach", "review", "control"):
            return self.selected_polecat() is not None
        if action == "reply":
            return self.selected_message_id is not None and self.mail_pane.selected() is not None
        return True

    def addresses(self) -> list[str]:
        """Every mail address, from what is loaded (no disk read on the UI thread)."""
        out = [OVERSEER, "mayor", "deacon"]
        for rig in self.rigs_snapshot.rigs:
            out += [f"{rig.name}/witness", f"{rig.name}/refinery"]
            out += sorted(p.address for p in self.polecats if p.rig == rig.name)
        return out

    # -- actions: dispatch ---------------------------------------------------------------
    def action_sling(self, bead: str = "") -> None:
        from gastown_tui.tui.screens.sling import SlingScreen

        rigs_pane = self.rigs_pane
        if not bead:
            picked = rigs_pane.selected_beads()
            bead = picked[0].id if len(picked) == 1 else ""
        screen = SlingScreen(
            self.data,
            beads=self.rigs_snapshot.ready,
            rigs=[r.name for r in self.rigs_snapshot.rigs],
            runtimes=self.data.runtimes(),
            convoys=[(c.id, c.title) for c in self.convoys.in_flight],
            rig=rigs_pane.cursor_rig(),
            bead=bead or None,
            available=self.capabilities.has("sling"),
        )

        def done(summary: str | None) -> None:
            if summary:
                self.notify(summary, title="sling")
                self.load_rigs()
                self.request_observe()
                self.load_convoys()

        self.push_screen(screen, done)

    def action_nudge(self, address: str = "") -> None:
        from gastown_tui.tui.screens.nudge import NudgeScreen

        polecat = self.polecat(address) if address else self.selected_polecat()
        if polecat is None:
            self.notify("Select a polecat in Rigs first.", severity="warning")
            return

        def done(report: Any) -> None:
            if report is not None and report.status == "answered":
                self.notify(f"answered {polecat.address}: {report.detail}", title="answer")
            elif report is not None:
                word = "queued for" if report.status == "queued" else "delivered to"
                extra = f" ({report.detail})" if report.detail else ""
                self.notify(f"nudge {word} {polecat.address}{extra}", title="nudge")

        self.push_screen(
            NudgeScreen(self.data, polecat, available=self.capabilities.has("nudge")), done
        )

    def action_attach(self, address: str = "") -> None:
        polecat = self.polecat(address) if address else self.selected_polecat()
        if polecat is None:
            self.notify("Select a polecat in Rigs first.", severity="warning")
            return
        self.plan_attach(polecat)

    @work(thread=True, group="attach", exclusive=True, exit_on_error=False, name="attach")
    def plan_attach(self, polecat: PolecatRow) -> None:
        plan = self.data.attach_plan(polecat)
        self.post_message(AttachPlanned(polecat.address, plan))

    def on_attach_planned(self, message: AttachPlanned) -> None:
        if not self.showing:
            return
        plan = message.plan
        if plan.mode == "switch":
            # Inside the town's own tmux: switch this client, no need to suspend.
            self._thread("attach-switch", self.data.run_attach, plan)
            self.notify(plan.message, title="attach", timeout=4)
            return
        if plan.mode == "nested":

            def answer(yes: bool | None) -> None:
                if yes:
                    self._attach_suspended(plan)

            self.push_screen(
                ConfirmScreen("Nest tmux?", plan.message, yes="Attach anyway", no="Cancel"), answer
            )
            return
        self._attach_suspended(plan)

    def _attach_suspended(self, plan: AttachPlan) -> None:
        """Hand the terminal to tmux until the person detaches, then redraw."""
        self.suspended = True
        self.preview_pane.restart()
        try:
            with self.suspend():
                code = self.data.run_attach(plan)
        except SuspendNotSupported:
            self.notify(
                "This terminal cannot hand over to tmux (headless or web). "
                f"Attach from a shell: {shlex.join(plan.argv)}",
                title="attach",
                severity="warning",
                timeout=10,
            )
            return
        except GtError as exc:
            self.notify(str(exc), title="attach", severity="error")
            return
        finally:
            self.suspended = False
            self.preview_pane.restart()
        if code != 0:
            self.notify(f"tmux exited with status {code}", title="attach", severity="warning")
        self.refresh(layout=True)
        self.request_observe()

    def action_peek(self, address: str) -> None:
        """Show a polecat in the preview (palette)."""
        self.activate_pane("rigs")
        if self.rigs_pane.select_polecat(address):
            self.selected_address = address
            self.preview_pane.follow(self.polecat(address))
        self.activate_pane("preview", focus=True)

    # -- actions: mail -------------------------------------------------------------------
    def action_compose(self, to: str = "") -> None:
        from gastown_tui.tui.screens.mail import ComposeScreen

        def done(count: int | None) -> None:
            if count:
                word = "copy" if count == 1 else "copies"
                self.notify(f"mail sent ({count} {word})", title="mail")

        self.push_screen(ComposeScreen(self.data, self.addresses(), to=to), done)

    def _message(self, message_id: str) -> Any:
        found = self.mail_pane.message(message_id)
        if found is None:
            found = next((m for m in self.overseer_mail.messages if m.id == message_id), None)
        return found

    def action_read(self, message_id: str) -> None:
        from gastown_tui.tui.screens.mail import ReadScreen

        message = self._message(message_id)
        if message is None:
            return
        if not message.read:
            self._thread("mark-read", self.data.mark_read, message.id, message.inbox)

        def done(answer: str | None) -> None:
            if answer == "reply":
                self.action_reply(message.id)

        self.push_screen(ReadScreen(message), done)

    def action_reply(self, message_id: str = "") -> None:
        from gastown_tui.tui.screens.mail import ReplyScreen

        message = self._message(message_id) if message_id else self.mail_pane.selected()
        if message is None:
            self.notify("Select a message in Mail first.", severity="warning")
            return

        def done(count: int | None) -> None:
            if count:
                self.notify(f"reply sent to {message.sender}", title="mail")

        self.push_screen(ReplyScreen(self.data, message), done)

    def action_switch_inbox(self, address: str = "") -> None:
        from gastown_tui.tui.screens.mail import InboxScreen

        def done(choice: str | None) -> None:
            if choice:
                self.show_inbox(choice)

        if address:
            done(address)
            return
        current = self.mail_pane.address
        if current != OVERSEER:
            # `i` in someone else's inbox goes back to yours.
            done(OVERSEER)
            return
        self.push_screen(InboxScreen(self.addresses(), current), done)

    def show_inbox(self, address: str) -> None:
        pane = self.mail_pane
        pane.show(MailSnapshot(address), self.now)
        self.load_mail(address)
        self.activate_pane("mail", focus=True)

    # -- actions: convoys, beads, feed -----------------------------------------------------
    def action_new_convoy(self) -> None:
        from gastown_tui.tui.screens.convoy import ConvoyCreateScreen

        beads = self.rigs_pane.selected_beads()

        def done(convoy: Any) -> None:
            if convoy is not None:
                self.rigs_pane.clear_marks()
                self.notify(f"convoy {convoy.id} tracks {len(convoy.beads)} beads", title="convoy")
                self.load_convoys()

        self.push_screen(ConvoyCreateScreen(self.data, beads), done)

    def action_show_convoy(self, convoy_id: str) -> None:
        self.fetch_convoy(convoy_id)

    @work(thread=True, group="show-convoy", exclusive=True, exit_on_error=False, name="convoy")
    def fetch_convoy(self, convoy_id: str) -> None:
        from gastown_tui.tui.screens.convoy import ConvoyScreen

        status = self.data.convoy_status(convoy_id)
        self.call_from_thread(self.push_screen, ConvoyScreen(status))

    def action_show_bead(self, bead_id: str) -> None:
        self.fetch_bead(bead_id)

    @work(thread=True, group="show-bead", exclusive=True, exit_on_error=False, name="bead")
    def fetch_bead(self, bead_id: str) -> None:
        from gastown_tui.tui.screens.bead import BeadScreen

        bead = self.bead_view(bead_id)

        def done(answer: str | None) -> None:
            if answer == "sling":
                self.action_sling(bead_id)
            elif answer:
                self.bead_action(answer, bead)

        self.call_from_thread(self.push_screen, BeadScreen(bead), done)

    def action_show_rig(self, rig: str) -> None:
        self.activate_pane("rigs", focus=True)
        self.rigs_pane.select_rig(rig)

    def action_search(self) -> None:
        self.activate_pane("feed")
        # At once, not after a refresh: the keys typed right behind `/` are the search.
        self.feed_pane.start_search()

    def action_filter(self) -> None:
        from gastown_tui.tui.screens.feed_filter import FilterScreen

        feed = self.feed_pane
        rigs, actors, types = feed.values()
        rigs = sorted(set(rigs) | {r.name for r in self.rigs_snapshot.rigs})

        def done(feed_filter: FeedFilter | None) -> None:
            if feed_filter is not None:
                feed.apply_filter(feed_filter)
                self.activate_pane("feed", focus=True)

        self.push_screen(FilterScreen(rigs, actors, types, feed.view.filter), done)

    # -- actions: views ------------------------------------------------------------------
    def action_problems(self) -> None:
        from gastown_tui.tui.screens.problems import ProblemsScreen

        def done(choice: tuple[str, Problem] | None) -> None:
            if choice is None:
                return
            action, problem = choice
            if problem.polecat is not None:
                self.rigs_pane.select_polecat(problem.polecat.address)
                self.selected_address = problem.polecat.address
                if action == "nudge":
                    self.action_nudge(problem.polecat.address)
                else:
                    self.action_attach(problem.polecat.address)
            elif problem.message is not None:
                self.action_read(problem.message.id)
            elif problem.bead is not None:
                self.action_show_bead(problem.bead.id)

        self.push_screen(ProblemsScreen(self.problems, self.now), done)

    def key_help(self) -> list[KeyHelp]:
        rows: list[KeyHelp] = []
        for binding in self.BINDINGS:
            assert isinstance(binding, Binding)
            action = binding.action.split("(", 1)[0]
            description = self.ACTION_HELP.get(action) or f"Show the {binding.description} pane"
            available = self.check_action(action, ()) is not False
            why = ""
            if action in ("sling", "nudge") and not self.capabilities.has(action):
                why, available = "not available yet", False
            elif action in ("nudge", "attach", "review", "control") and not available:
                why = "select a polecat"
            elif action == "reply" and not available:
                why = "select a message"
            rows.append(
                KeyHelp(self.key_for(binding), description, binding.id or "", available, why)
            )
        rows.append(KeyHelp("space", "Mark a ready bead (Rigs)", "mark"))
        rows.append(KeyHelp("enter", "Attach (polecat), sling (bead), open (mail, convoy)", "-"))
        rows.append(KeyHelp("esc", "Clear the feed's search and filter", "feed-clear"))
        rows.append(KeyHelp("ctrl+p", "Command palette", "-"))
        return rows

    def action_help(self) -> None:
        self.push_screen(
            HelpScreen(self.key_help(), self.capabilities.missing(), self.layout_name, self.theme)
        )

    def action_pick_theme(self) -> None:
        from gastown_tui.tui.screens.theme import ThemeScreen

        others = sorted(n for n in self.available_themes if n not in self.our_themes)
        self.push_screen(ThemeScreen(self.our_themes, others, self.theme), self.save_theme)

    def action_request_quit(self) -> None:
        running = sum(1 for p in self.polecats if p.alive or p.state in ("working", "waiting"))
        if running:
            word = "polecat keeps" if running == 1 else "polecats keep"
            text = (
                f"{running} {word} running in tmux after you quit: agents never stop with "
                "the app. Run `gt` again to pick up where you left off."
            )
        else:
            text = (
                "Agents run in tmux and keep running after you quit; none is running now. "
                "Run `gt` again to pick up where you left off."
            )

        def answer(yes: bool | None) -> None:
            if yes:
                self.exit()

        self.push_screen(ConfirmScreen("Quit Gas Town?", text, yes="Quit", no="Stay"), answer)

    def _restyle_labels(self) -> None:
        # Rich labels (tree, feed) take their colours from the theme when built.
        self.rigs_pane.show(force=True)

    def watch_theme(self, _theme: str) -> None:
        if self.is_mounted and self.screen_stack:
            self.call_after_refresh(self._restyle_labels)


_FALLBACK_VARIABLES = {
    "gt-working": "#4EBF71",
    "gt-idle": "#8A8A8A",
    "gt-starting": "#5DADE2",
    "gt-waiting": "#FFB000",
    "gt-stalled": "#FFA62B",
    "gt-gupp": "#FF7A1A",
    "gt-zombie": "#BA3C5B",
    "gt-landed": "#E0C068",
    "gt-unread": "#FFFFFF",
    "gt-problem": "#BA3C5B",
    "gt-muted": "#8A8A8A",
}


def make_app(
    town: Town,
    tmux: TownTmux | None = None,
    clock: Clock | None = None,
    *,
    supervise: bool = False,
    watch: bool = True,
    layout: str | None = None,
    theme: str | None = None,
    data: TownData | None = None,
) -> GasTownApp:
    """Build the app over `town`. `tmux=None` uses the town's own tmux server when tmux is
    installed. `watch=False` turns off the file watcher, the polecat poller and the live
    preview loop (snapshot tests); `data` replaces the town adapter (tests)."""
    data_mod.preload()
    if data is None:
        data = TownData(town, tmux if tmux is not None else data_mod.default_tmux(town))
        data.install_hooks()
    return GasTownApp(
        town,
        data,
        clock=clock,
        watch=watch,
        supervise=supervise,
        layout=layout,
        theme=theme,
    )
