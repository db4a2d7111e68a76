"""The Preview pane: the live tail of the selected polecat's tmux pane, with its colours.

The capture runs in a thread worker about twice a second, and only while this pane is on
screen and the app is not suspended (attached to an agent): a hidden preview costs nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual import events, work
from textual.app import ComposeResult
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

    @classmethod
    def build(cls, app: GasTownApp) -> PreviewPane:
        return cls(app.data, live=app.watching)

    def compose(self) -> ComposeResult:
        yield Static(id="preview-text", markup=False)

    def on_mount(self) -> None:
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
        self.text_widget.update(Content.styled(message, "$text-muted"))

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
            self._placeholder()
            self.restart()

    def restart(self) -> None:
        self.workers.cancel_group(self, "preview")
        suspended = getattr(self.app, "suspended", False)
        if self.polecat is not None and self._on_screen and not suspended:
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
                    lines = max(self.size.height, 5)
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
        if self.polecat is None or message.address != self.polecat.address:
            return
        if (message.text, message.error) == self._shown:
            # An agent that is thinking shows the same screen for a while: an update would
            # parse it and lay the whole screen out again, twice a second.
            return
        self._shown = (message.text, message.error)
        if message.text is None:
            self.text_widget.update(Content.styled(message.error, "$text-muted"))
            return
        text = Text.from_ansi(message.text, no_wrap=True, end="")
        text.no_wrap = True
        text.overflow = "crop"
        self.text_widget.update(text)
