"""Writes a front end makes to a town: sling, nudge, answer, mail, convoys. `TownData` is the
whole door to one town (reads from views/queries.py plus these), and the one the app holds.

Bad input raises GtError before anything is written; every method may block (disk, tmux).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from gastown_tui.town.errors import GtError
from gastown_tui.views.queries import TownQueries
from gastown_tui.views.rows import OVERSEER, NudgeReport

if TYPE_CHECKING:
    from gastown_tui.dispatch.sling import SlingResult
    from gastown_tui.town.convoys import Convoy
    from gastown_tui.town.mail import Message


def describe_sling(result: SlingResult) -> str:
    """One line for a sling: "slung al-1 onto alpha/nux (convoy cv-1)"."""
    text = f"slung {result.bead} onto {result.address}"
    return text + (f" (convoy {result.convoy})" if result.convoy else "")


class TownData(TownQueries):
    """Reads and writes of one town for a front end (the app's `self.data`)."""

    # -- mail -----------------------------------------------------------------------------
    def mark_read(self, message_id: str, address: str) -> None:
        self.town.mail.mark_read(message_id, address)

    def send_mail(
        self, to: list[str], subject: str, body: str, *, priority: str = "normal"
    ) -> list[Message]:
        if not to:
            raise GtError("a message needs at least one recipient")
        return self.town.mail.send(
            to, subject, body, sender=OVERSEER, type="notification", priority=priority
        )

    def reply(self, message_id: str, body: str) -> list[Message]:
        if not body.strip():
            raise GtError("a reply needs some text")
        return self.town.mail.reply(message_id, body, sender=OVERSEER)

    # -- dispatch -------------------------------------------------------------------------
    def sling(
        self,
        target: str,
        rig: str,
        *,
        runtime: str | None = None,
        convoy: str | None = None,
    ) -> str:
        """Sling a bead id (or new text) onto a polecat of `rig`; returns a summary line."""
        target = (target or "").strip()
        if not target:
            raise GtError("pick a ready bead or type what needs doing")
        if not rig:
            raise GtError("pick a rig to sling onto", hint="add one with `gt rig add`")
        if self.tmux is None:
            raise GtError("tmux is not installed", hint="polecats run in tmux windows")
        from gastown_tui.dispatch.sling import sling

        result = sling(self.town, self.tmux, target, rig, runtime=runtime, convoy=convoy)
        return describe_sling(result)

    def nudge(self, address: str, message: str) -> NudgeReport:
        if not message.strip():
            raise GtError("a nudge needs a message")
        if self.tmux is None:
            raise GtError("tmux is not installed", hint="agents run in tmux windows")
        from gastown_tui.dispatch.nudge import nudge_agent

        outcome = nudge_agent(self.town, self.tmux, address, message, sender=OVERSEER)
        return NudgeReport(outcome.status, outcome.detail)

    def answer(self, address: str, choice: str) -> NudgeReport:
        """Pick one choice of the question the agent waits at (dispatch/answer.py)."""
        from gastown_tui.dispatch.answer import answer_agent

        if self.tmux is None:
            raise GtError("tmux is not installed", hint="agents run in tmux windows")
        outcome = answer_agent(self.town, self.tmux, address, choice)
        then = f"; it now waits at: {outcome.next_question}" if outcome.next_question else ""
        return NudgeReport("answered", f"{outcome.choice}. {outcome.label}{then}")

    def create_convoy(self, title: str, bead_ids: Iterable[str]) -> Convoy:
        ids = list(bead_ids)
        if not ids:
            raise GtError("select beads for the convoy first", hint="space marks a ready bead")
        return self.town.convoys.create(title, ids, owner=OVERSEER)
