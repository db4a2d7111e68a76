"""The Gas Town app: one screen of panes (rigs, convoys, mail, feed, preview) over a town.

Built by `make_app(town, tmux, clock)`. Its parts:

- the panes and their order: tui/panes.py (which says how to add one);
- the keys and actions: tui/keymap.py;
- what is re-read when the town changes, and the watcher and observer workers: tui/refresh.py;
- the supervisor worker: tui/supervision.py; the review and control actions:
  tui/review_actions.py; what the app reads and writes: views/ (no Textual there).

Workers never take the app down (`exit_on_error=False`); `on_worker_state_changed` turns a
failure into one notification. Agents live in tmux and outlive the app: quitting never stops
them.
"""

from __future__ import annotations

import os
import shlex
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual import events, work
from textual.app import App, ComposeResult, SuspendNotSupported
from textual.binding import Binding, BindingType
from textual.containers import Container
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widgets import Static
from textual.worker import Worker, WorkerState, get_current_worker

from gastown_tui.town.display import safe, safe_lines
from gastown_tui.town.errors import GtError
from gastown_tui.tui import keymap, panes
from gastown_tui.tui.commands import (
    ActionsProvider,
    AgentsProvider,
    BeadsProvider,
    ConvoysProvider,
    FormulasProvider,
    RigsProvider,
)
from gastown_tui.tui.keys import FlushKeys, HeldKeys
from gastown_tui.tui.layouts import DEFAULT_LAYOUT, layout_folders, load_layouts
from gastown_tui.tui.messages import (
    AttachPlanned,
    BeadChosen,
    ConvoyOpened,
    EventsAppended,
    FeedLoaded,
    MailLoaded,
    MessageOpened,
    MessageSelected,
    PaneActivated,
    PaneLoaded,
    PatrolsDue,
    PolecatChosen,
    PolecatSelected,
    PolecatsObserved,
    RigsLoaded,
    SupervisorStatus,
)
from gastown_tui.tui.panes import build_panes, loading_panes, pane_labels, pane_names
from gastown_tui.tui.refresh import Refreshing
from gastown_tui.tui.review_actions import ReviewActions
from gastown_tui.tui.screens.base import ConfirmScreen
from gastown_tui.tui.screens.help import HelpScreen, KeyHelp
from gastown_tui.tui.supervision import Supervision
from gastown_tui.tui.themes import (
    DEFAULT_THEME,
    load_themes,
    theme_folders,
    theme_variable_defaults,
)
from gastown_tui.tui.widgets.feed import FeedFilter, FeedPane
from gastown_tui.tui.widgets.footer import TownFooter
from gastown_tui.tui.widgets.mail import MailPane
from gastown_tui.tui.widgets.pane import Pane
from gastown_tui.tui.widgets.preview import PreviewPane
from gastown_tui.tui.widgets.rigs import RigsPane
from gastown_tui.tui.widgets.status import PaneTabs, StatusBar
from gastown_tui.views.actions import TownData
from gastown_tui.views.problems import Problem, find_problems
from gastown_tui.views.queries import default_tmux, preload
from gastown_tui.views.rows import OVERSEER, ConvoysSnapshot, MailSnapshot, PolecatRow, RigsSnapshot

if TYPE_CHECKING:
    from gastown_tui.tmux import AttachPlan, TownTmux
    from gastown_tui.town.clock import Clock
    from gastown_tui.town.town import Town

AGE_REFRESH = 20.0  # seconds between re-renders of ages shown without new data
SUPERVISE_TICK = 1.0  # how often the supervisor worker checks the schedule and the lease
MIN_WIDTH, MIN_HEIGHT = 80, 24


class TownScreen(Screen[None]):
    """The main screen. Its class `layout-<name>` selects the active layout's rules."""

    def __init__(self, gt_app: GasTownApp) -> None:
        super().__init__(id="town-screen")
        self.gt_app = gt_app

    def compose(self) -> ComposeResult:
        app = self.gt_app
        yield StatusBar(app.data.name, demo=app.data.is_demo)
        with Container(id="town"):
            yield PaneTabs(pane_labels(app.PANES))
            yield from build_panes(app, app.PANES)
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


class GasTownApp(ReviewActions, Refreshing, App[None]):
    CSS_PATH = Path(__file__).with_name("app.tcss")  # also for subclasses made elsewhere
    TITLE = "Gas Town"
    COMMANDS = App.COMMANDS | {
        AgentsProvider,
        BeadsProvider,
        ConvoysProvider,
        RigsProvider,
        ActionsProvider,
        FormulasProvider,
    }
    # The panes, in key order (tui/panes.py says how to add one).
    PANES: ClassVar[tuple[type[Pane], ...]] = panes.PANES
    BINDINGS: ClassVar[list[BindingType]] = keymap.app_bindings()
    # What each action is for, in the help screen and the palette (tui/keymap.py).
    ACTION_HELP: ClassVar[dict[str, str]] = keymap.ACTION_HELP

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # A subclass with panes of its own gets their number keys (Textual merges BINDINGS
        # when the class is made).
        if cls.PANES is not GasTownApp.PANES and "BINDINGS" not in cls.__dict__:
            cls.BINDINGS = keymap.app_bindings(cls.PANES)
        super().__init_subclass__(**kwargs)

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
        self.warnings: list[str] = []
        # State the panes, palette and problems view share; replaced whole by loaders.
        self.rigs_snapshot = RigsSnapshot()
        self.polecats: list[PolecatRow] = []
        self.pane_data: dict[str, Any] = {}  # what each loading pane last loaded
        self.overseer_mail = MailSnapshot(OVERSEER)
        self.problems: list[Problem] = []
        self.selected_address: str | None = None
        self.selected_message_id: str | None = None
        self.active_pane = "rigs"
        self.applied_keymap: dict[str, str] = {}
        self._init_refresh()
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
        """Our `$gt-*` variables, for themes that do not set them (tui/themes.py)."""
        try:
            theme = self.current_theme
        except Exception:
            theme = None
        return theme_variable_defaults(theme)

    def binding_ids(self) -> set[str]:
        """Every remappable binding id: the app's, its panes' and its dialogs'."""
        return keymap.binding_ids(type(self))

    def _apply_keymap(self) -> str | None:
        """Take town.toml's [keymap]; returns a warning for ids that name no action."""
        keymap_ids = self.town.config.keymap
        known = self.binding_ids()
        self.applied_keymap = {k: v for k, v in keymap_ids.items() if k in known}
        self.set_keymap(self.applied_keymap)
        return keymap.unknown_keymap_ids(keymap_ids, known)

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
        self.load_all()
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
        if self.data.tmux is None:
            self.post_message(SupervisorStatus("not supervising: no tmux", warn=True))
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
        if name not in pane_names(self.PANES):
            return
        self.active_pane = name
        for pane_name in pane_names(self.PANES):
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

    def exit(self, *args: Any, **kwargs: Any) -> None:
        self.stop_watching()
        super().exit(*args, **kwargs)

    # -- applying what was loaded ----------------------------------------------------------
    @property
    def now(self) -> float:
        return self.clock.now()

    @property
    def convoys(self) -> ConvoysSnapshot:
        """The convoys pane's data (the palette, sling dialog and status line use it too)."""
        return self.pane_data.get("convoys", ConvoysSnapshot())

    @convoys.setter
    def convoys(self, snapshot: ConvoysSnapshot) -> None:
        self.pane_data["convoys"] = snapshot

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
            if self.showing:
                for name, snapshot in self.pane_data.items():
                    if name in self._loaded:
                        self.pane(name).show_loaded(snapshot, self.now)
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

    def on_pane_loaded(self, message: PaneLoaded) -> None:
        if not self.showing:
            return
        self.pane_data[message.pane] = message.snapshot
        self._loaded.add(message.pane)
        self.pane(message.pane).show_loaded(message.snapshot, self.now)
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
        wanted = {"rigs", "polecats", "mail", *(p.PANE for p in loading_panes(self.PANES))}
        return wanted <= self._loaded

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
        self.selected_address = message.address
        self.preview_pane.follow(self.selected_polecat())
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
        needs = keymap.NEEDS.get(action)
        if needs == "polecat":
            return self.selected_polecat() is not None
        if needs == "message":
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

        self.push_screen(NudgeScreen(self.data, polecat), done)

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
        return keymap.key_help_rows(self)

    def action_help(self) -> None:
        self.push_screen(HelpScreen(self.key_help(), self.layout_name, self.theme))

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
    preload()
    if data is None:
        data = TownData(town, tmux if tmux is not None else default_tmux(town))
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
