"""The app's review and control actions (merge queue, review, agent control, beads), kept
out of tui/app.py so that file only gains a few lines: GasTownApp mixes this class in."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gastown_tui.town.town import Town
    from gastown_tui.views.actions import TownData


def review_binding_owners() -> list[Any]:
    from gastown_tui.tui.screens.control import ControlScreen
    from gastown_tui.tui.screens.review import MergeQueueScreen, ReviewScreen
    from gastown_tui.tui.widgets.diff_view import DiffView
    from gastown_tui.tui.widgets.merge_queue import MergeQueue

    return [ReviewScreen, MergeQueueScreen, ControlScreen, DiffView, MergeQueue]


class ReviewActions:
    """The app's review and control actions (kept apart from GasTownApp's own for merges)."""

    town: Town
    data: TownData
    last_undo: Any = None  # bead_edit.Undo of the last close or edit made here

    def action_merge_queue(self: Any) -> None:
        from gastown_tui.tui.screens.review import MergeQueueScreen

        self.push_screen(MergeQueueScreen(self.town))

    def action_review(self: Any, address: str = "") -> None:
        from gastown_tui.tui.screens.review import ReviewScreen

        polecat = self.polecat(address) if address else self.selected_polecat()
        if polecat is None:
            self.notify("Select a polecat in Rigs first.", severity="warning")
            return
        self.push_screen(ReviewScreen(self.town, polecat=polecat.address))

    def action_control(self: Any, address: str = "") -> None:
        from gastown_tui.tui.screens.control import ControlScreen

        polecat = self.polecat(address) if address else self.selected_polecat()
        if polecat is None:
            self.notify("Select a polecat in Rigs first.", severity="warning")
            return

        def done(detail: str | None) -> None:
            if detail:
                self.notify(detail, title="control")
                self.load_rigs()
                self.request_observe()

        self.push_screen(
            ControlScreen(self.town, self.data.tmux, polecat.address, polecat.state), done
        )

    # -- beads ---------------------------------------------------------------------------
    def bead_view(self: Any, bead_id: str) -> dict[str, Any]:
        from gastown_tui.tui.screens.bead_edit import bead_view

        return bead_view(self.town, bead_id)

    def _bead_written(self: Any, text: str) -> None:
        self.notify(text, title="bead")
        self.load_rigs()

    def action_new_bead(self: Any) -> None:
        from gastown_tui.tui.screens.bead_edit import BeadFormScreen

        rigs = [r.name for r in self.rigs_snapshot.rigs]

        def done(result: Any) -> None:
            if result is not None:
                bead, _ = result
                self._bead_written(f"created {bead.id}: {bead.title} (s slings it)")

        self.push_screen(BeadFormScreen(self.town, rigs, rig=self.rigs_pane.cursor_rig()), done)

    def bead_action(self: Any, what: str, bead: dict[str, Any]) -> None:
        from gastown_tui.tui.screens.bead_edit import BeadFormScreen, TextPromptScreen, Undo

        bead_id = str(bead["id"])
        town = self.town

        def remember(result: Any) -> None:
            if result is None:
                return
            _, undo = result if isinstance(result, tuple) else (result, None)
            if undo is not None:
                self.last_undo = undo
            self._bead_written(f"{what} {bead_id}: done" + (" (u undoes it)" if undo else ""))

        if what == "edit":
            rigs = [r.name for r in self.rigs_snapshot.rigs]
            self.push_screen(BeadFormScreen(town, rigs, bead=bead), remember)
        elif what == "comment":
            self.push_screen(
                TextPromptScreen(
                    f"Comment on {bead_id}",
                    "your comment",
                    lambda text: town.beads.comment(bead_id, text),
                    "Comment",
                ),
                remember,
            )
        elif what == "close":

            def close(reason: str) -> Any:
                before = town.beads.get(bead_id).to_dict()
                return town.beads.close(bead_id, reason.strip()), Undo("close", bead_id, before)

            self.push_screen(
                TextPromptScreen(f"Close {bead_id}", "reason (optional)", close, "Close bead"),
                remember,
            )
        elif what == "reopen":
            self.submit_bead(lambda: town.beads.reopen(bead_id), f"reopened {bead_id}")

    def submit_bead(self: Any, call: Any, text: str) -> None:
        from gastown_tui.town.errors import GtError

        def run() -> None:
            try:
                call()
            except GtError as exc:
                self.call_from_thread(self.notify, str(exc), title="bead", severity="error")
                return
            self.call_from_thread(self._bead_written, text)

        self.run_worker(run, thread=True, group="bead-write", exit_on_error=False)

    def action_undo(self: Any) -> None:
        from gastown_tui.tui.screens.bead_edit import undo

        last = self.last_undo
        if last is None:
            self.notify("Nothing to undo: only a close or an edit made here can be undone.")
            return
        self.last_undo = None
        self.submit_bead(lambda: undo(self.town, last), f"undid the {last.describe()}")

    # -- settings ------------------------------------------------------------------------
    def save_theme(self: Any, name: str | None) -> None:
        """The theme picked with `t` is kept in town.toml [ui] theme for the next start."""
        if not name:
            return
        from gastown_tui.town.config_edit import set_string
        from gastown_tui.town.errors import GtError

        try:
            set_string(self.town.paths.town_toml, "ui", "theme", name)
        except (GtError, OSError) as exc:
            self.notify(f"theme not saved: {exc}", severity="warning")
            return
        self.notify(f"theme {name} saved in town.toml", timeout=3)
