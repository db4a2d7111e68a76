"""What the app's keys and palette do (the keys themselves are in tui/keymap.py): sling,
nudge, attach, mail, convoys, beads, the feed's search and filter, problems, help, themes,
quit. `AppActions` is mixed into GasTownApp (tui/app.py); review and control actions are in
tui/review_actions.py."""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING, Any

from textual import work
from textual.app import SuspendNotSupported

from gastown_tui.town.errors import GtError
from gastown_tui.tui import keymap
from gastown_tui.tui.messages import AttachPlanned
from gastown_tui.tui.screens.base import ConfirmScreen
from gastown_tui.tui.screens.help import HelpScreen, KeyHelp
from gastown_tui.tui.widgets.feed import FeedFilter
from gastown_tui.views.problems import Problem
from gastown_tui.views.rows import OVERSEER, MailSnapshot, PolecatRow

if TYPE_CHECKING:
    from gastown_tui.tmux import AttachPlan


class AppActions:
    """The app's `action_*` methods (mixed into GasTownApp)."""

    # Provided by GasTownApp.
    data: Any
    rigs_snapshot: Any
    polecats: list[PolecatRow]
    problems: list[Problem]
    selected_address: str | None
    suspended: bool

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
            # Long enough to read on the way back: it says how to come back.
            self.notify(plan.message, title="attach", timeout=12)
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
        else:
            self.notify("back from the agent's window", title="attach", timeout=3)
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
