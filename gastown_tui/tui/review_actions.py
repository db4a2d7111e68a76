"""The app's review and control actions (merge queue, review, agent control, beads), kept
out of tui/app.py so that file only gains a few lines: GasTownApp mixes this class in."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gastown_tui.town.town import Town
    from gastown_tui.tui.data import TownData


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
