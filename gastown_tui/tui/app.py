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

import gc
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual import events
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Container
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widgets import Static
from textual.worker import Worker, WorkerState

from gastown_tui.compose import wire
from gastown_tui.town.display import safe, safe_lines
from gastown_tui.town.errors import GtError
from gastown_tui.tui import keymap, panes
from gastown_tui.tui.actions import AppActions
from gastown_tui.tui.commands import (
    ActionsProvider,
    AgentsProvider,
    BeadsProvider,
    ConvoysProvider,
    FormulasProvider,
    RigsProvider,
)
from gastown_tui.tui.keys import FlushKeys, HeldKeys
from gastown_tui.tui.layouts import DEFAULT_LAYOUT, fitted_layout, layout_folders, load_layouts
from gastown_tui.tui.messages import (
    BeadChosen,
    ConvoyOpened,
    EventsAppended,
    FeedLoaded,
    MailLoaded,
    MessageOpened,
    MessageSelected,
    PaneActivated,
    PaneLoaded,
    PolecatChosen,
    PolecatSelected,
    PolecatsObserved,
    RigsLoaded,
)
from gastown_tui.tui.panes import build_panes, loading_panes, pane_labels, pane_names
from gastown_tui.tui.refresh import Refreshing
from gastown_tui.tui.review_actions import ReviewActions
from gastown_tui.tui.supervision import Supervising
from gastown_tui.tui.themes import (
    DEFAULT_THEME,
    load_themes,
    theme_folders,
    theme_variable_defaults,
)
from gastown_tui.tui.widgets.feed import FeedPane
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
    from gastown_tui.supervise.loop import SupervisorLoop
    from gastown_tui.tmux import TownTmux
    from gastown_tui.town.clock import Clock
    from gastown_tui.town.town import Town

AGE_REFRESH = 20.0  # seconds between re-renders of ages shown without new data
MIN_WIDTH, MIN_HEIGHT = 80, 24
# Threads for thread workers. They run in the event loop's default executor, which asyncio
# sizes at cores + 4 (6 here), and the watcher, the observer, the supervisor loop and a shown
# preview hold one each for the app's life: patrols and a review waiting at once would leave
# the loaders none. Threads start only when that many workers run at once.
WORKER_THREADS = 32


def layout_class_of(layouts: dict[str, Any], name: str) -> str:
    return layouts[name].css_class if name in layouts else ""


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
        self.gt_app.fit_layout()  # 80x24: the compact layout (tui/layouts.py)
        if small:
            self.query_one("#too-small", Static).update(
                f"Gas Town needs at least {MIN_WIDTH}x{MIN_HEIGHT}, now {width}x{height}.\n"
                "Make the terminal larger (q quits)."
            )


class GasTownApp(AppActions, ReviewActions, Supervising, Refreshing, App[None]):
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
        self._supervisor: SupervisorLoop | None = None  # while this app holds the lease
        self._patrols_running: set[str] = set()
        self._loaded: set[str] = set()
        self._gc_frozen = False  # _freeze_startup_objects ran
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
        self.layout_shown = ""  # the chosen one, or compact at 80x24 (fit_layout)

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
        # Knowing every id imports every dialog (~0.5 MB held all day): only for a [keymap].
        known = self.binding_ids() if keymap_ids else set()
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

    def on_load(self) -> None:
        """Before any worker runs: the thread workers' own pool (WORKER_THREADS)."""
        import asyncio
        from concurrent.futures import ThreadPoolExecutor

        pool = ThreadPoolExecutor(WORKER_THREADS, thread_name_prefix="gt-worker")
        asyncio.get_running_loop().set_default_executor(pool)

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

    # -- layouts and panes ---------------------------------------------------------------
    def set_layout(self, name: str, *, announce: bool = True) -> None:
        """Choose a layout; what shows is `fitted_layout` of it at the screen's size."""
        self.layout_name = name
        shown = self.fit_layout()
        if announce:
            extra = f" ({shown} at this size)" if shown != name else ""
            self.notify(f"layout: {name}{extra}", timeout=2)

    def fit_layout(self) -> str:
        layouts = self.layout_set.layouts
        width, height = self.size
        shown = fitted_layout(self.layout_name, width, height, layouts)
        screen = self.town_screen
        if shown != self.layout_shown or not screen.has_class(layout_class_of(layouts, shown)):
            for other in layouts.values():
                screen.remove_class(other.css_class)
            if shown in layouts:
                screen.add_class(layouts[shown].css_class)
            self.layout_shown = shown
        return shown

    def action_cycle_layout(self) -> None:
        names = self.layout_set.names()
        if not names:
            self.notify("No layouts are available.", severity="warning")
            return
        shown = self.layout_shown or self.layout_name
        index = names.index(shown) if shown in names else -1
        # Skip a layout that would look the same at this size (the default, fitted compact).
        for step in range(1, len(names) + 1):
            name = names[(index + step) % len(names)]
            if fitted_layout(name, *self.size, self.layout_set.layouts) != shown:
                break
        self.set_layout(name)
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
                        self.pane(name).refresh_ages(snapshot, self.now)
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
        if not self._gc_frozen and self.loaded:
            self._gc_frozen = True
            self.call_after_refresh(self._freeze_startup_objects)
            self._warm_review()

    def _freeze_startup_objects(self) -> None:
        """Everything is loaded and painted: keep what start-up built out of the collector's
        full passes (gc.freeze). With 200 agents a full pass walked it all and stopped the UI
        for 100-165 ms, a key that arrived then waited that long. Not in tests (headless):
        one process runs many apps there, and frozen objects are never collected."""
        if self.is_headless:
            return
        gc.collect()
        gc.freeze()

    def _warm_review(self) -> None:
        """Pygments' import and its Python lexer's patterns cost ~70 ms the first time a review
        is drawn: pay it in a thread while the person reads the town, not in the first paint of
        their first review (issue 15: first paint <= 300 ms; tui/widgets/diff_view.py)."""
        from gastown_tui.tui.widgets.diff_view import warm_highlighting

        dark = self.current_theme.dark  # read here: the worker's thread must not touch the app
        self.run_worker(
            lambda: warm_highlighting(dark), thread=True, group="warm", exit_on_error=False
        )

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
        self.selection_moved(message.address)

    def selection_moved(self, address: str | None) -> None:
        """The Rigs tree's cursor is on this polecat (None: on no polecat). Called by the
        tree in the key's own handling (tui/widgets/rigs.py: RigsTree.on_select): the
        Preview's title changes now and its capture follows from a worker."""
        if not self.showing:
            return
        had_selection = self.selected_polecat() is not None
        self.selected_address = address
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
    preview loop (snapshot tests); `data` replaces the town adapter (tests). The town is
    wired as every entry point's is (gastown_tui/compose.py)."""
    preload(town, supervise=supervise)
    wire(town)
    if data is None:
        data = TownData(town, tmux if tmux is not None else default_tmux(town))
    return GasTownApp(
        town,
        data,
        clock=clock,
        watch=watch,
        supervise=supervise,
        layout=layout,
        theme=theme,
    )
