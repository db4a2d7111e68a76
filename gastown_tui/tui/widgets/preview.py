"""The Preview pane: the live tail of the selected polecat's tmux pane, with its colours.

The capture runs in a thread worker about twice a second, and only while this pane is on
screen and the app is not suspended (attached to an agent): a hidden preview costs nothing.

It scrolls: k/up, b/pageup or g/home in the focused preview take one capture of the window's
scrollback (HISTORY lines) and hold it still to be read, as `less` would; j/space move down,
G/end goes back to the live tail.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.content import Content
from textual.widgets import Static
from textual.worker import get_current_worker

from gastown_tui.tui.messages import PreviewCaptured
from gastown_tui.tui.widgets.pane import Pane

if TYPE_CHECKING:
    from gastown_tui.tui.app import GasTownApp
    from gastown_tui.views.actions import TownData
    from gastown_tui.views.rows import PolecatRow

INTERVAL = 0.5
HISTORY = 2000  # lines of scrollback taken when a person scrolls back


class PreviewScroll(VerticalScroll, can_focus=True):
    """The scrolling part. Scrolling back holds the preview still (the pane's `held`)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("k,up", "back(1)", "Up", show=False, id="preview-up"),
        Binding("b,pageup", "back(0)", "Page up", show=False, id="preview-page-up"),
        Binding("g,home", "back(-1)", "Top", show=False, id="preview-top"),
        Binding("j,down", "scroll_down", "Down", show=False, id="preview-down"),
        Binding("space,pagedown", "page_down", "Page down", show=False, id="preview-page-down"),
        Binding("G,end", "live", "Live", show=False, id="preview-live"),
    ]

    def action_back(self, how: int) -> None:
        pane = self.parent
        if isinstance(pane, PreviewPane) and not pane.held:
            pane.hold(how)
            return
        self._move(how)

    def _move(self, how: int) -> None:
        if how == 1:
            self.scroll_up(animate=False)
        elif how == 0:
            self.scroll_page_up(animate=False)
        else:
            self.scroll_home(animate=False)

    def action_live(self) -> None:
        pane = self.parent
        if isinstance(pane, PreviewPane):
            pane.release()


class PreviewPane(Pane):
    PANE = "preview"
    TITLE = "Preview"
    BEFORE = "feed"  # the default layout's grid puts it above the feed

    def __init__(self, data: TownData, *, live: bool = True) -> None:
        super().__init__()
        self.data = data
        self.live = live  # off in snapshot tests: one capture, no loop
        self.polecat: PolecatRow | None = None
        self._on_screen = False
        self._shown: tuple[str | None, str] | None = None  # the capture on screen
        self._lines_shown = -1  # lines in the text widget now (-1: not known)
        self.held = False  # scrolled back: the live tail waits until G/end

    @classmethod
    def build(cls, app: GasTownApp) -> PreviewPane:
        return cls(app.data, live=app.watching)

    def compose(self) -> ComposeResult:
        with PreviewScroll(id="preview-scroll"):
            yield Static(id="preview-text", markup=False)

    @property
    def scroller(self) -> PreviewScroll:
        return self.query_one(PreviewScroll)

    def hold(self, how: int) -> None:
        """Take the scrollback once and hold it still; `how` is the move that asked for it."""
        if self.polecat is None:
            return
        self.held = True
        self.workers.cancel_group(self, "preview")
        self.set_border(subtitle="scrollback · G live")
        self.capture_history(self.polecat, how)

    def release(self) -> None:
        if self.held:
            self.held = False
            self.set_border(subtitle="")
            self._shown = None
            self.restart()
        self.scroller.scroll_end(animate=False)

    @work(thread=True, group="preview", exclusive=True, exit_on_error=False, name="history")
    def capture_history(self, polecat: PolecatRow, how: int) -> None:
        try:
            pane_id = polecat.pane_id or self.data.find_pane(polecat)
            text = self.data.capture(pane_id, HISTORY) if pane_id else None
        except Exception:  # a vanished pane: keep what is on screen
            text = None
        self.app.call_from_thread(self._show_history, polecat.address, text, how)

    def _show_history(self, address: str, text: str | None, how: int) -> None:
        if not self.held or self.polecat is None or self.polecat.address != address:
            return
        if text is not None:
            self._show_text(text)
            self._shown = None
        scroller = self.scroller

        def move() -> None:
            scroller.scroll_end(animate=False)
            scroller._move(how)

        self.call_after_refresh(move)

    def on_mount(self) -> None:
        self._placeholder()

    def on_resize(self, _event: events.Resize) -> None:
        if self._shown is None and not self.held:
            # Fill the view again, so the first capture has its height (_padded).
            self._placeholder()

    @property
    def text_widget(self) -> Static:
        return self.query_one("#preview-text", Static)

    def _placeholder(self) -> None:
        if self.polecat is None:
            message = "Select a polecat in Rigs (1) to watch its window here."
        elif self.data.tmux is None:
            message = "tmux is not installed: there are no agent windows to show."
        else:
            message = f"{self.polecat.address}: waiting for its window…"
        self._shown = None
        self._set_text(Content.styled(self._padded(message), "$text-muted"))

    def _rows(self) -> int:
        """Lines the preview shows without scrolling (0 before it is laid out)."""
        try:
            return self.scroller.scrollable_content_region.height
        except Exception:  # not composed yet
            return 0

    def _padded(self, text: str) -> str:
        """`text` with blank lines to fill the view: every capture, placeholder and error then
        has the same height, so showing one repaints the pane without laying out the whole
        screen again (a layout of every widget on screen cost 5-40 ms a key)."""
        missing = self._rows() - (text.count("\n") + 1)
        return text + "\n" * missing if missing > 0 else text

    def _set_text(self, content: Content | Text) -> None:
        lines = (content.plain if isinstance(content, Text) else str(content)).count("\n") + 1
        self.text_widget.update(content, layout=lines != self._lines_shown)
        self._lines_shown = lines

    # -- what to show --------------------------------------------------------------------
    def follow(self, polecat: PolecatRow | None) -> None:
        """Preview `polecat` (None: nothing). Restarts the capture loop if the target changed."""
        changed = (polecat is None) != (self.polecat is None) or (
            polecat is not None
            and self.polecat is not None
            and (polecat.address, polecat.pane_id) != (self.polecat.address, self.polecat.pane_id)
        )
        self.polecat = polecat
        self.set_border(title=self.label + (f" · {polecat.address}" if polecat else ""))
        if changed:
            self.held = False
            self.set_border(subtitle="")
            self._placeholder()
            self.restart()

    def restart(self) -> None:
        self.workers.cancel_group(self, "preview")
        suspended = getattr(self.app, "suspended", False)
        if self.polecat is not None and self._on_screen and not suspended and not self.held:
            self.capture_loop(self.polecat)

    def on_show(self, _event: events.Show) -> None:
        self._on_screen = True
        self.restart()

    def on_hide(self, _event: events.Hide) -> None:
        self._on_screen = False
        self.workers.cancel_group(self, "preview")

    @work(thread=True, group="preview", exclusive=True, exit_on_error=False, name="preview")
    def capture_loop(self, polecat: PolecatRow) -> None:
        worker = get_current_worker()
        pane_id: str | None = polecat.pane_id
        while not worker.is_cancelled:
            error = ""
            text: str | None = None
            try:
                if pane_id is None:
                    pane_id = self.data.find_pane(polecat)
                if pane_id is None:
                    error = f"{polecat.address} has no window (it is not running)"
                else:
                    # What the view shows (_padded fills the rest): no lines hidden above.
                    lines = self._rows() or max(self.size.height, 5)
                    text = self.data.capture(pane_id, lines)
            except Exception as exc:  # a vanished pane or a hung server: say so, keep going
                error = f"{polecat.address}: {exc}"
                pane_id = None
            if worker.is_cancelled:
                return
            self.post_message(PreviewCaptured(polecat.address, text, error))
            if not self.live:
                return
            worker.cancelled_event.wait(INTERVAL)

    def on_preview_captured(self, message: PreviewCaptured) -> None:
        message.stop()
        if self.polecat is None or message.address != self.polecat.address or self.held:
            return
        if (message.text, message.error) == self._shown:
            # An agent that is thinking shows the same screen for a while: an update would
            # parse it and lay the whole screen out again, twice a second.
            return
        self._shown = (message.text, message.error)
        if message.text is None:
            self._set_text(Content.styled(self._padded(message.error), "$text-muted"))
            return
        self._show_text(self._padded(message.text))
        self.scroller.scroll_end(animate=False)

    def _show_text(self, raw: str) -> None:
        text = Text.from_ansi(raw, no_wrap=True, end="")
        text.no_wrap = True
        text.overflow = "crop"
        self._set_text(text)
