"""A person's review decisions that reach an agent: "request changes" mails REWORK_REQUEST to
the polecat and nudges it (queued while it is busy or waiting at a question, never typed into
a prompt: dispatch/nudge.py `nudge_agent` with defer_if_waiting). The record itself is
town/merge_requests.py's."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from gastown_tui.dispatch.agents import find_window
from gastown_tui.dispatch.nudge import nudge_agent
from gastown_tui.town.errors import GtError
from gastown_tui.town.merge_requests import MergeRequest, MergeRequests
from gastown_tui.town.work import queue_nudge

if TYPE_CHECKING:
    from gastown_tui.tmux import TownTmux
    from gastown_tui.town.town import Town


def request_changes(
    town: Town, tmux: TownTmux | None, mr_id: str, comment: str
) -> tuple[MergeRequest, str]:
    """Returns the request and what became of the nudge ("delivered", "queued", "no polecat")."""
    by = town.actor
    mr = MergeRequests(town).request_changes(mr_id, by, comment)
    polecat = str(mr.doc.get("polecat") or "")
    bead = str(mr.doc.get("bead") or "")
    if not polecat or town.polecats.find(polecat) is None:
        return mr, "no polecat"
    body = (
        f"{by} reviewed {mr.doc.get('branch')} ({mr.id}) and asks for changes:\n\n"
        f"{mr.doc.get('comment')}\n\nThe bead {bead} is open again; your branch is kept."
    )
    town.mail.send(
        [polecat],
        f"REWORK_REQUEST {bead}: changes requested",
        body,
        sender=by,
        type="task",
        priority="high",
        message_id=f"{mr.id}-changes-requested",
    )
    text = f"{by} asks for changes on {bead}: read gt mail inbox"
    if tmux is not None:
        with contextlib.suppress(GtError):
            if find_window(tmux, polecat) is not None:
                outcome = nudge_agent(town, tmux, polecat, text, sender=by, defer_if_waiting=True)
                if outcome.ok:
                    return mr, outcome.status
    # No window (it reads its mail when it starts) or the nudge failed: keep it for gt prime.
    queue_nudge(town, polecat, text, by)
    return mr, "queued"
