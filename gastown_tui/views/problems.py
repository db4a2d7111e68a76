"""Problems: everything that needs a person, most urgent first. A pure function of rows a
front end already holds (views/rows.py), so it costs no read of its own."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from gastown_tui.town.clock import parse_iso
from gastown_tui.views.rows import NEEDS_HUMAN_LABEL, BeadRow, MailRow, PolecatRow


@dataclass(frozen=True)
class Problem:
    kind: str  # waiting, zombie, gupp, stalled, escalation, merge-failed, help, needs-human
    rank: int  # lower first
    title: str
    detail: str = ""
    since: float | None = None
    polecat: PolecatRow | None = None
    message: MailRow | None = None
    bead: BeadRow | None = None

    @property
    def key(self) -> str:
        if self.polecat is not None:
            return f"polecat:{self.polecat.address}"
        if self.message is not None:
            return f"mail:{self.message.id}"
        if self.bead is not None:
            return f"bead:{self.bead.id}"
        return f"{self.kind}:{self.title}"


_STATE_RANK = {"waiting": 0, "zombie": 1, "gupp": 2, "stalled": 4}
_STATE_TITLES = {
    "waiting": "waiting for you",
    "zombie": "dead with work on its hook",
    "gupp": "ignoring its hook (GUPP)",
    "stalled": "stalled",
}


def find_problems(
    polecats: Iterable[PolecatRow],
    overseer_mail: Iterable[MailRow],
    beads: Iterable[BeadRow],
) -> list[Problem]:
    """Everything that needs a person, most urgent first."""
    out: list[Problem] = []
    for pole in polecats:
        if pole.state not in _STATE_RANK:
            continue
        hook = f"{pole.hook.id} {pole.hook.title}".strip() if pole.hook else ""
        out.append(
            Problem(
                pole.state,
                _STATE_RANK[pole.state],
                f"{pole.address} {_STATE_TITLES[pole.state]}",
                pole.detail or hook,
                pole.last_activity,
                polecat=pole,
            )
        )
    for message in overseer_mail:
        if message.read:
            continue
        head = message.head
        if message.type == "escalation" or head in ("ESCALATION", "ESCALATE"):
            kind, rank = "escalation", 1
        elif head == "MERGE_FAILED":
            kind, rank = "merge-failed", 3
        elif head == "HELP":
            kind, rank = "help", 2
        elif message.priority == "urgent":
            kind, rank = "urgent", 3
        else:
            continue
        out.append(
            Problem(
                kind,
                rank,
                f"{message.sender}: {message.subject}",
                message.body.strip().splitlines()[0] if message.body.strip() else "",
                parse_iso(message.created),
                message=message,
            )
        )
    for bead in beads:
        if NEEDS_HUMAN_LABEL in bead.labels and bead.status != "closed":
            out.append(
                Problem(
                    "needs-human",
                    5,
                    f"{bead.id} needs a person",
                    bead.title,
                    parse_iso(bead.created_at),
                    bead=bead,
                )
            )
    # Within a rank, whoever has waited longest comes first.
    out.sort(key=lambda p: (p.rank, p.since if p.since is not None else float("inf"), p.title))
    return out
