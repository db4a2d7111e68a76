"""Review a merge request (or any polecat's branch): its commits, files and highlighted diff,
then approve (the refinery merges it now and its verify output shows here), request changes
with a comment (REWORK_REQUEST mail and a nudge), or reject (the bead back to ready, the branch
kept). A decision the town refuses (the branch moved, already merged) shows its reason and
changes nothing (town/merge_requests.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Button, Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from gastown_tui.town.display import safe, safe_lines
from gastown_tui.town.errors import GtError
from gastown_tui.tui.screens.base import Dialog
from gastown_tui.tui.widgets.diff_view import DiffView
from gastown_tui.tui.widgets.footer import ScreenFooter

if TYPE_CHECKING:
    from textual.timer import Timer

    from gastown_tui.town.town import Town

LIVE_LOG_EVERY = 0.25  # seconds between reads of a running verify's output
WIDE = 120  # from here the commits and files sit beside the diff, below it they sit above


@dataclass
class ReviewData:
    """What the screen shows; loaded off the UI thread by `load_review`."""

    title: str
    mr: dict[str, Any] | None  # the merge request row with its "state", None for a branch
    commits: list[tuple[str, str]] = field(default_factory=list)
    files: list[tuple[str, int, int]] = field(default_factory=list)
    diff: str = ""
    error: str = ""


def load_review(town: Town, mr_id: str | None = None, polecat: str | None = None) -> ReviewData:
    from pathlib import Path

    from gastown_tui.town.merge_requests import MergeRequests, branch_diff

    requests = MergeRequests(town)
    if mr_id:
        mr = requests.get(mr_id)
        diff = requests.diff(mr)
        doc = mr.to_dict()
        title = f"{mr.id} · {doc.get('bead')} · {doc.get('branch')}"
        return ReviewData(title, doc, diff.commits, diff.files, diff.diff)
    address = town.polecats.resolve(polecat or "")
    record = town.polecats.get(address)
    found = [m for m in requests.list(record.rig) if m.doc.get("polecat") == address]
    pending = [m for m in found if m.doc.get("status") == "pending"]
    if pending:
        return load_review(town, pending[0].id)
    if not record.branch:
        raise GtError(f"{address} has no branch to review")
    rig = town.rigs.get(record.rig)
    if not rig.git:
        raise GtError(f"rig {rig.name} has no git repository")
    diff = branch_diff(Path(rig.path), rig.branch or "main", record.branch)
    return ReviewData(f"{address} · {record.branch}", None, diff.commits, diff.files, diff.diff)


class CommentScreen(Dialog[Any]):
    """Request changes: the comment goes to the polecat (an empty one is refused)."""

    TITLE_TEXT = "Request changes"

    def __init__(self, town: Town, mr_id: str) -> None:
        super().__init__(classes="review-comment")
        self.town = town
        self.mr_id = mr_id

    def compose_body(self) -> ComposeResult:
        yield Label(f"What should change in {self.mr_id}? The polecat gets it by mail.")
        yield Input(placeholder="e.g. add a test for the empty case", id="review-comment")

    def compose_buttons(self) -> ComposeResult:
        yield Button("Send back", variant="primary", id="send", compact=True)
        yield Button("Cancel", id="cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    @on(Input.Submitted)
    @on(Button.Pressed, "#send")
    def send(self, event: Any) -> None:
        event.stop()
        from gastown_tui.dispatch.review import request_changes
        from gastown_tui.dispatch.tmuxfor import tmux_for

        text = self.query_one(Input).value
        self.submit(lambda: request_changes(self.town, tmux_for(self.town), self.mr_id, text))


class RejectScreen(Dialog[Any]):
    TITLE_TEXT = "Reject"

    def __init__(self, town: Town, mr_id: str) -> None:
        super().__init__(classes="review-comment")
        self.town = town
        self.mr_id = mr_id

    def compose_body(self) -> ComposeResult:
        yield Label(f"{self.mr_id} will never be merged: its bead goes back to ready and the "
                    "branch is kept.")  # fmt: skip
        yield Input(placeholder="why (optional)", id="review-reason")

    def compose_buttons(self) -> ComposeResult:
        yield Button("Reject", variant="error", id="reject", compact=True)
        yield Button("Cancel", id="cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    @on(Input.Submitted)
    @on(Button.Pressed, "#reject")
    def reject(self, event: Any) -> None:
        event.stop()
        from gastown_tui.town.merge_requests import MergeRequests

        reason = self.query_one(Input).value
        self.submit(lambda: MergeRequests(self.town).reject(self.mr_id, self.town.actor, reason))


class ReviewScreen(Screen[None]):
    """Keys: n/N hunks, ]/[ files, tab between files and diff, a approve, c request changes,
    x reject, escape back."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "close", "Back", id="review-close"),
        Binding("a", "approve", "Approve", id="review-approve"),
        Binding("c", "changes", "Changes", id="review-changes"),
        Binding("x", "reject", "Reject", id="review-reject"),
        Binding("tab", "switch", "Files/diff", show=False, id="review-switch"),
    ]

    def __init__(self, town: Town, *, mr_id: str | None = None, polecat: str | None = None) -> None:
        super().__init__(classes="review")
        self.town = town
        self.mr_id = mr_id
        self.polecat = polecat
        self.data: ReviewData | None = None
        self.busy = False
        self._streaming: Timer | None = None  # reads the verify's live output while it runs
        self._live_text = ""

    def compose(self) -> ComposeResult:
        yield Static("loading…", id="review-head")
        with Horizontal(id="review-body"):
            with Vertical(id="review-side"):
                yield Static("", id="review-commits")
                yield OptionList(id="review-files", compact=True)
                with VerticalScroll(id="review-log-box"):
                    yield Static("", id="review-log", markup=False)
            yield DiffView(id="review-diff")
        yield ScreenFooter()

    def on_mount(self) -> None:
        self._apply_width(self.app.size.width)
        self.query_one(DiffView).focus()
        self.reload()

    def on_resize(self) -> None:
        self._apply_width(self.app.size.width)

    def _apply_width(self, width: int) -> None:
        self.set_class(width >= WIDE, "-wide")

    # -- loading ---------------------------------------------------------------------------
    @work(thread=True, group="review-load", exclusive=True, exit_on_error=False)
    def reload(self) -> None:
        try:
            data = load_review(self.town, self.mr_id, self.polecat)
        except GtError as exc:
            data = ReviewData("review", None, error=str(exc))
        self.app.call_from_thread(self.show, data)

    def show(self, data: ReviewData) -> None:
        self.data = data
        if data.mr is not None:
            self.mr_id = str(data.mr["id"])
        self.query_one("#review-head", Static).update(self._head(data))
        plural = "s" if len(data.commits) != 1 else ""
        commits = Content.assemble((f"{len(data.commits)} commit{plural}", "bold"))
        for sha, subject in data.commits[-20:]:
            commits += Content.assemble("\n", (sha[:8], "$text-muted"), " ", safe(subject))
        self.query_one("#review-commits", Static).update(commits)
        files = self.query_one("#review-files", OptionList)
        files.clear_options()
        files.add_options(
            Option(
                Content.assemble((f"+{a:<4}", "$success"), (f"-{d:<4}", "$error"), safe(path)),
                id=str(i),
            )
            for i, (path, a, d) in enumerate(data.files)
        )
        log = ""
        if data.mr is not None:
            log = str(data.mr.get("verify_log") or data.mr.get("detail") or "")
            for key in ("pr_url", "pr_note", "comment"):
                if data.mr.get(key):
                    log += f"\n{key.replace('_', ' ')}: {data.mr[key]}"
        self.query_one("#review-log", Static).update(
            safe_lines(log.strip()) or "no verify output yet"
        )
        diff = self.query_one(DiffView)
        diff.set_diff(data.diff)
        self.refresh_bindings()

    def _head(self, data: ReviewData) -> Content:
        if data.error:
            return Content.styled(data.error, "$error")
        head = Content.assemble(("Review ", "bold"), safe(data.title))
        if data.mr is not None:
            state = str(data.mr.get("state"))
            head += Content.assemble(
                "  ", (state, "bold $accent"), ("  from ", "$text-muted"),
                str(data.mr.get("polecat") or "-"),
                ("  at ", "$text-muted"), str(data.mr.get("commit") or "")[:10],
            )  # fmt: skip
            tries = data.mr.get("attempts")
            if tries:
                head += Content.assemble(("  tries ", "$text-muted"), str(tries))
        else:
            head += Content.styled("  (no merge request: gt done records one)", "$text-muted")
        head += Content.styled("  n/N hunk · ]/[ file · tab files", "$text-muted")
        return head

    # -- decisions -------------------------------------------------------------------------
    def _open_request(self) -> bool:
        mr = self.data.mr if self.data else None
        return mr is not None and mr.get("status") == "pending" and not self.busy

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("approve", "changes", "reject") and not self._open_request():
            # Still runs (dimmed in the footer): the action says why nothing happens.
            return None if self.data is None or self.busy else True
        return True

    def _refused(self, verb: str) -> bool:
        """True (and a message saying why) when this request cannot be decided now."""
        if self._open_request():
            return False
        mr = self.data.mr if self.data else None
        if self.busy:
            text = "the refinery is still working on it"
        elif mr is None:
            text = "this branch has no merge request (the polecat's gt done records one)"
        else:
            text = f"{mr['id']} is {mr.get('state')}: there is nothing to {verb}"
        self.notify(text, title="review", severity="warning")
        return True

    def action_close(self) -> None:
        self.dismiss(None)

    def action_switch(self) -> None:
        files, diff = self.query_one("#review-files", OptionList), self.query_one(DiffView)
        (diff if files.has_focus else files).focus()

    @on(OptionList.OptionHighlighted, "#review-files")
    def jump(self, event: OptionList.OptionHighlighted) -> None:
        if event.option.id is not None:
            self.query_one(DiffView).jump_to_file(int(event.option.id))

    @on(OptionList.OptionSelected, "#review-files")
    def chosen(self, event: OptionList.OptionSelected) -> None:
        self.query_one(DiffView).focus()

    def action_approve(self) -> None:
        if self._refused("approve") or self.data is None or self.data.mr is None:
            return
        self.busy = True
        self.refresh_bindings()
        self.query_one("#review-log", Static).update("approved: the refinery is merging…")
        mr_id = str(self.data.mr["id"])
        self._streaming = self.set_interval(LIVE_LOG_EVERY, lambda: self._stream_log(mr_id))
        self.approve(mr_id, str(self.data.mr["commit"]))

    def _stream_log(self, mr_id: str) -> None:
        """The verify's output as the refinery writes it (town/merge_requests.live_log_path)."""
        from gastown_tui.town.merge_requests import read_live_log

        text = read_live_log(self.town, mr_id)
        if text and text != self._live_text:
            self._live_text = text
            self.query_one("#review-log", Static).update(
                Content.styled("verifying…\n", "$accent bold") + safe_lines(text.strip())
            )
            self.query_one("#review-log-box", VerticalScroll).scroll_end(animate=False)

    @work(thread=True, group="review-approve", exclusive=True, exit_on_error=False)
    def approve(self, mr_id: str, commit: str) -> None:
        from gastown_tui.supervise.refinery import Refinery
        from gastown_tui.town.merge_requests import MergeRequests

        try:
            mr = MergeRequests(self.town).approve(mr_id, self.town.actor, commit=commit)
            outcome = Refinery(self.town, mr.rig).merge_now(mr.id)
            text = outcome.describe() if outcome else "approved; the refinery merges it soon"
            severity = "information"
            if outcome is not None and outcome.status not in ("merged", "pushed", "retry"):
                severity = "warning"
        except GtError as exc:
            text, severity = str(exc), "error"
        self.app.call_from_thread(self._decided, text, severity)

    def _decided(self, text: str, severity: str) -> None:
        self.busy = False
        if self._streaming is not None:
            self._streaming.stop()
            self._streaming = None
        self.notify(text, title="review", severity=severity)  # type: ignore[arg-type]
        self.reload()

    def action_changes(self) -> None:
        if self._refused("send back") or self.data is None or self.data.mr is None:
            return

        def done(result: Any) -> None:
            if result is not None:
                _mr, nudge = result
                self._decided(
                    f"changes requested; REWORK_REQUEST sent (nudge {nudge})", "information"
                )

        self.app.push_screen(CommentScreen(self.town, str(self.data.mr["id"])), done)

    def action_reject(self) -> None:
        if self._refused("reject") or self.data is None or self.data.mr is None:
            return

        def done(result: Any) -> None:
            if result is not None:
                self._decided("rejected: the bead is ready again, the branch kept", "information")

        self.app.push_screen(RejectScreen(self.town, str(self.data.mr["id"])), done)


class MergeQueueScreen(Screen[None]):
    """The merge queue (widgets/merge_queue.py) on a screen of its own: Enter reviews."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "close", "Back", id="queue-close"),
        Binding("enter", "open", "Review", id="queue-open"),
    ]

    def __init__(self, town: Town) -> None:
        super().__init__(classes="merge-queue-screen")
        self.town = town

    def compose(self) -> ComposeResult:
        from gastown_tui.tui.widgets.merge_queue import MergeQueue

        yield Static(
            Content.assemble(
                ("Merge queue", "bold"), ("  enter review · j/k move · esc back", "$text-muted")
            ),
            id="mq-head",
        )
        yield MergeQueue(self.town, id="merge-queue")
        yield ScreenFooter()

    def action_close(self) -> None:
        self.dismiss(None)

    def action_open(self) -> None:
        from gastown_tui.tui.widgets.merge_queue import MergeQueue

        row = self.query_one(MergeQueue).selected()
        if row is not None:
            self.app.push_screen(ReviewScreen(self.town, mr_id=str(row["id"])))

    def on_merge_queue_open(self, message: Any) -> None:
        self.app.push_screen(ReviewScreen(self.town, mr_id=message.mr_id))
