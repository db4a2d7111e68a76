"""The merge queue: every merge request in the order the refinery takes them (open ones by bead
priority then age, then the finished, newest first), with its state (review, queued,
verifying, conflict, failed, changes, rejected, pushed, merged), its tries, and the verify log
of the highlighted one. Enter opens its review (screens/review.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from gastown_tui.town.display import safe, safe_lines
from gastown_tui.town.errors import GtError
from gastown_tui.tui.widgets.pane import Pane

if TYPE_CHECKING:
    from gastown_tui.town.town import Town
    from gastown_tui.tui.app import GasTownApp
    from gastown_tui.views.actions import TownData

REFRESH = 1.0  # seconds between reads while the queue is on screen (the states move)
OPEN_STATES = ("review", "queued", "verifying", "conflict", "failed", "changes")
STATE_STYLE = {
    "review": "$warning bold",
    "queued": "$text",
    "verifying": "$accent bold",
    "conflict": "$error bold",
    "failed": "$error bold",
    "changes": "$warning",
    "rejected": "$text-muted",
    "pushed": "$success",
    "merged": "$success",
}


def queue_rows(town: Town) -> list[dict[str, Any]]:
    from gastown_tui.views.queries import merge_queue

    return merge_queue(town)


class MergeQueue(Vertical):
    """The list and the log. Posts `MergeQueue.Open(mr_id)` on Enter."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j", "cursor(1)", "Down", show=False, id="mq-down"),
        Binding("k", "cursor(-1)", "Up", show=False, id="mq-up"),
    ]

    class Open(Message):
        def __init__(self, mr_id: str) -> None:
            super().__init__()
            self.mr_id = mr_id

    def __init__(
        self, town: Town, *, id: str | None = None, take_focus: bool = True, poll: bool = True
    ) -> None:
        super().__init__(id=id, classes="merge-queue")
        self.town = town
        self.take_focus = take_focus  # on its own screen; not as a pane of the main screen
        # Read the queue every REFRESH seconds. The pane does not: the app reloads it when a
        # rig file changes (tui/panes.py), and it polls only while a verify runs (its output
        # is not in the store until the end).
        self.poll = poll
        self.rows: list[dict[str, Any]] = []
        self._shown = False  # the first show draws even an empty queue

    def compose(self) -> ComposeResult:
        yield OptionList(id="mq-list", compact=True)
        with VerticalScroll(id="mq-log-box"):
            yield Static("", id="mq-log", markup=False)

    def on_mount(self) -> None:
        if self.take_focus:
            self.query_one(OptionList).focus()
        if self.poll:
            self.reload()
        self.set_interval(REFRESH, self.tick)

    def on_show(self) -> None:
        # Coming into view (6 in the compact layout, back from a review): read it fresh.
        if self._shown:
            self.reload()

    def tick(self) -> None:
        # Only while it is on screen: a pane hidden by the layout, or a screen under another,
        # costs nothing.
        verifying = any(row.get("state") == "verifying" for row in self.rows)
        if (self.poll or verifying) and self.screen.is_current and self.region.area:
            self.reload()

    @work(thread=True, group="mq-load", exclusive=True, exit_on_error=False)
    def reload(self) -> None:
        try:
            rows = queue_rows(self.town)
        except GtError as exc:
            self.app.call_from_thread(self.notify, str(exc), severity="error")
            return
        self.app.call_from_thread(self.show, rows)

    def show(self, rows: list[dict[str, Any]]) -> None:
        if rows == self.rows and self._shown:
            return
        self.rows, self._shown = rows, True
        listing = self.query_one(OptionList)
        highlighted = listing.highlighted
        listing.clear_options()
        if not rows:
            # A disabled option, not a disabled list: the list keeps the focus (6 gave it),
            # so Enter works on the first request the moment it arrives.
            hint = "no merge requests yet: a polecat's gt done records one"
            listing.add_option(Option(hint, disabled=True))
            self._show_log(None)
            return
        listing.add_options(Option(self._line(r), id=str(r["id"])) for r in rows)
        listing.highlighted = min(highlighted or 0, len(rows) - 1)
        self._show_log(self.selected())

    @staticmethod
    def _line(row: dict[str, Any]) -> Content:
        state = str(row.get("state"))
        tries = int(row.get("attempts") or 0)
        return Content.assemble(
            (f"{state:<10}", STATE_STYLE.get(state, "")),
            (f"{row['id']:<9} ", "$text-muted"),
            (f"{row.get('bead')} ", "bold"),
            safe(str(row.get("title") or row.get("branch") or "")),
            (f"  ×{tries}" if tries else "", "$text-muted"),
        )

    def selected(self) -> dict[str, Any] | None:
        listing = self.query_one(OptionList)
        index = listing.highlighted
        if index is None or not self.rows or index >= len(self.rows):
            return None
        return self.rows[index]

    def _show_log(self, row: dict[str, Any] | None) -> None:
        text = ""
        if row is not None:
            text = f"{row['id']} · {row.get('branch')} · from {row.get('polecat')}\n"
            log = row.get("live_log") or row.get("verify_log") or row.get("detail")
            log = log or row.get("blocked_by") or ""
            if row.get("live_log"):
                text += "verifying…\n"
            text += str(log) if log else "no verify output yet"
            for key in ("pr_url", "pr_note", "comment"):
                if row.get(key):
                    text += f"\n{key.replace('_', ' ')}: {row[key]}"
        self.query_one("#mq-log", Static).update(safe_lines(text))

    @on(OptionList.OptionHighlighted, "#mq-list")
    def highlighted(self, _event: OptionList.OptionHighlighted) -> None:
        self._show_log(self.selected())

    @on(OptionList.OptionSelected, "#mq-list")
    def opened(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id:
            self.post_message(self.Open(event.option.id))

    def action_cursor(self, step: int) -> None:
        listing = self.query_one(OptionList)
        if step > 0:
            listing.action_cursor_down()
        else:
            listing.action_cursor_up()


class MergeQueuePane(Pane):
    """The merge queue as a pane of the main screen: the requests in order with their state
    and tries, and the verify log of the highlighted one (live while it runs). Enter opens
    its review."""

    PANE = "queue"
    TITLE = "Merges"
    SCOPES = ("rig:*",)  # merge requests live in the rig files
    BEFORE = "mail"  # the default layout's grid puts it between the convoys and the mail

    def __init__(self, town: Town) -> None:
        super().__init__()
        self.town = town

    @classmethod
    def build(cls, app: GasTownApp) -> MergeQueuePane:
        return cls(app.town)

    @staticmethod
    def load(data: TownData) -> list[dict[str, Any]]:
        from gastown_tui.views.queries import merge_queue

        return merge_queue(data.town)

    def show_loaded(self, snapshot: list[dict[str, Any]], now: float) -> None:
        queue = self.query_one(MergeQueue)
        queue.show(snapshot)
        waiting = sum(1 for row in snapshot if row.get("state") == "review")
        active = sum(1 for row in snapshot if row.get("state") in OPEN_STATES)
        parts = [f"{active} open"] if active else []
        if waiting:
            parts.append(f"{waiting} to review")
        self.set_border(subtitle=" · ".join(parts))

    def compose(self) -> ComposeResult:
        yield MergeQueue(self.town, id="merge-queue-pane", take_focus=False, poll=False)

    def on_merge_queue_open(self, message: MergeQueue.Open) -> None:
        from gastown_tui.tui.screens.review import ReviewScreen

        message.stop()
        self.app.push_screen(ReviewScreen(self.town, mr_id=message.mr_id))
