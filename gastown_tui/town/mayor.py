"""The mayor: the one agent the overseer talks to (DESIGN.md section 12).

This module is the store side: the mayor's record (which runtime, whether it should run, its
restarts, the conversation's thread), what `gt prime` tells it, a true summary of the town
computed from the store ("what's going on"), and the conversation as `gt mayor log` and the
app's Mayor pane show it. Starting, stopping and nudging it are in dispatch/mayor.py.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gastown_tui.town.display import safe, safe_lines

if TYPE_CHECKING:
    from gastown_tui.town.mail import Message
    from gastown_tui.town.town import Town

MAYOR = "mayor"
OVERSEER = "overseer"
SESSION = "gt-hq"
WINDOW = "mayor"
RUNTIMES = ("claude", "codex", "gemini", "builtin", "demo")
EVENTS_LOOKED_AT = 5000  # the conversation shows what the mayor did among the newest events
# Events by the mayor that the conversation shows as "what it did", with the link they carry.
DID = {
    "bead.created": "bead",
    "convoy.created": "convoy",
    "convoy.added": "convoy",
    "polecat.slung": "bead",
    "formula.run": "convoy",
    "bead.closed": "bead",
    "bead.updated": "bead",
    "scheduler.queued": "bead",
}
WORDS = {"bead.created": "made bead", "convoy.created": "made convoy", "bead.closed": "closed"}

DIRECTIVE = """\
You are the mayor: the one agent the overseer talks to. Turn the overseer's words into work and \
keep the town moving. For a goal: break it into a few beads with dependencies (`gt bead create \
--dep`), track them in a convoy (`gt convoy create`), or run a formula that fits (`gt formula \
run`), then sling the ready beads to polecats (`gt sling BEAD RIG --convoy ID`). For a question \
("what's going on?"): answer from `gt status --json`, truthfully and briefly. For escalations, \
crash loops and failed merges: re-sling, split the bead, run a formula, or ask the overseer. \
Answer every message of the overseer with `gt mail reply ID -m TEXT` (one thread), naming the \
beads and convoys you made. Do not write code yourself: polecats do the work."""


@dataclass
class MayorState:
    runtime: str = ""
    desired: str = "stopped"  # running | stopped: what the supervisor keeps it at
    started_at: str | None = None
    pane_id: str | None = None
    restarts: list[float] = field(default_factory=list)  # wall-clock times of crash restarts
    last_start: float = 0.0
    stopped_reason: str = ""  # why it is stopped: "gt mayor stop", "crash loop: …"
    thread: str | None = None  # the conversation's mail thread

    def to_doc(self) -> dict[str, Any]:
        return {
            "address": MAYOR,
            "runtime": self.runtime,
            "desired": self.desired,
            "started_at": self.started_at,
            "pane_id": self.pane_id,
            "restarts": list(self.restarts),
            "last_start": self.last_start,
            "stopped_reason": self.stopped_reason,
            "thread": self.thread,
        }

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> MayorState:
        return cls(
            runtime=str(doc.get("runtime") or ""),
            desired=str(doc.get("desired") or "stopped"),
            started_at=doc.get("started_at"),
            pane_id=doc.get("pane_id"),
            restarts=[float(t) for t in doc.get("restarts") or []],
            last_start=float(doc.get("last_start") or 0.0),
            stopped_reason=str(doc.get("stopped_reason") or ""),
            thread=doc.get("thread"),
        )


def load_state(town: Town) -> MayorState:
    for doc in town.storage.agents.docs():
        if doc.get("address") == MAYOR:
            return MayorState.from_doc(doc)
    return MayorState()


@contextlib.contextmanager
def edit_state(town: Town) -> Any:
    """One town transaction over the mayor's record (town/storage/ `agents`): `with
    edit_state(town) as state:` mutate it; it is written when the block ends without an error."""
    with town.storage.town_txn() as txn:
        doc = txn.get_agent(MAYOR)
        state = MayorState.from_doc(doc) if doc is not None else MayorState()
        yield state
        txn.put_agent(state.to_doc())


# -- what's going on --------------------------------------------------------------------------
def _count(items: list[str], word: str) -> str:
    n = len(items)
    return f"{n} {word}{'' if n == 1 else 's'}"


def convoy_progress(town: Town) -> list[tuple[str, str, int, int]]:
    """(id, title, closed, total) of every open convoy, from its beads' statuses."""
    out = []
    for convoy in town.convoys.list():
        beads = town.beads.get_many(convoy.beads)
        closed = sum(1 for b in beads.values() if b.status == "closed")
        out.append((convoy.id, convoy.title, closed, len(convoy.beads)))
    return out


def problems(town: Town) -> list[str]:
    """What needs a person or the mayor, from the store: polecats holding work without a
    window, unread escalations to the overseer, the budget breaker."""
    from gastown_tui.town.usage import budget_state

    out: list[str] = []
    summary = town.polecats.status_summary()
    for row in summary["no_window"]:
        out.append(f"{row['address']} holds {row['bead']} but has no window")
    for state in ("waiting", "stalled", "gupp", "zombie"):
        for row in summary["polecats"]:
            if row["state"] == state:
                out.append(f"{row['address']} is {state} on {row['bead']}")
    with contextlib.suppress(Exception):
        for message in town.mail.inbox(OVERSEER, unread_only=True):
            if message.type == "escalation" or message.priority == "urgent":
                out.append(f"unread {message.type} from {message.sender}: {message.subject}")
    budget = budget_state(town)
    if budget["over"]:
        out.append(f"over budget: {budget['reason']} (dispatch is stopped)")
    return out


def summary(town: Town) -> str:
    """A true, short answer to "what's going on?", computed from the store."""
    from gastown_tui.town.usage import budget_state

    rigs = town.rigs.names()
    beads = town.beads.list()
    by_status: dict[str, int] = {}
    for bead in beads:
        by_status[bead.status] = by_status.get(bead.status, 0) + 1
    ready = town.beads.ready()
    polecats = town.polecats.status_summary()
    working = [r for r in polecats["polecats"] if r["bead"]]
    lines = [
        f"Town {town.config.name}: {_count(rigs, 'rig')}"
        + (f" ({', '.join(rigs)})" if rigs else "")
        + f"; beads: {len(beads)} not closed"
        + (
            " (" + ", ".join(f"{n} {s}" for s, n in sorted(by_status.items())) + ")"
            if by_status
            else ""
        )
        + f", {len(ready)} ready to sling.",
        f"Polecats: {len(working)} at work"
        + (
            ": " + ", ".join(f"{r['address']} on {r['bead']}" for r in working[:6])
            if working
            else ""
        )
        + (" …" if len(working) > 6 else "")
        + f"; {len(polecats['polecats']) - len(working)} idle.",
    ]
    convoys = convoy_progress(town)
    if convoys:
        lines.append(
            "Convoys in flight: "
            + "; ".join(f"{c} {t!r} {d}/{n}" for c, t, d, n in convoys[:6])
            + (" …" if len(convoys) > 6 else "")
            + "."
        )
    else:
        lines.append("No convoys in flight.")
    found = problems(town)
    lines.append(
        ("Problems: " + "; ".join(found[:5]) + ("" if len(found) <= 5 else " …"))
        if found
        else "No problems need you."
    )
    budget = budget_state(town)
    cap = f" of {budget['max_tokens']}" if budget["max_tokens"] else ""
    lines.append(f"Tokens used: {budget['tokens']}{cap}.")
    return safe_lines("\n".join(lines))


# -- gt prime for the mayor ---------------------------------------------------------------------
def _mail_lines(message: Message) -> list[str]:
    body = message.body.strip().splitlines()
    head = f"- {message.id} from {message.sender} ({message.type}): {message.subject}"
    return [head, *(f"    {line}" for line in body[:12])]


def prime_text(town: Town) -> str:
    """Everything the mayor needs to (re)start: directive, the town, its mail, its tools."""
    from gastown_tui.town.formulas import list_formulas
    from gastown_tui.town.roles import load_roles
    from gastown_tui.town.work import take_queued_nudges

    out = [
        f"[GAS TOWN] You are the mayor of town {town.config.name} ({town.root}).",
        "",
        "== Your directive ==",
        DIRECTIVE,
        "",
        "== The town at a glance ==",
        *summary(town).splitlines(),
    ]
    ready = town.beads.ready()
    if ready:
        out.append("Ready beads:")
        out += [safe(f"  {b.id} [{b.rig}] P{b.priority} {b.title}") for b in ready[:15]]
    for rig in town.rigs.list():
        out.append(safe(f"Rig {rig.name}: {'git' if rig.git else 'plain folder'} at {rig.path}"))
    unread = town.mail.inbox(MAYOR, unread_only=True)
    out += ["", f"== Your unread mail ({len(unread)}) =="]
    for message in reversed(unread[:20]):  # oldest first: the order it was written in
        out += [safe(line) for line in _mail_lines(message)]
    if not unread:
        out.append("None. Wait for the overseer's words (they arrive as mail and a nudge).")
    else:
        out.append("Mark each read once handled: gt mail read ID")
    out += ["", "== Roles you can give work to =="]
    try:
        roles = load_roles(town)
    except Exception as exc:  # a bad town.toml must not keep the mayor from starting
        roles = {}
        out.append(safe(f"(roles unreadable: {exc})"))
    for role in roles.values():
        out.append(safe(f"- {role.name}: {role.description or role.directive[:80]}"))
    if not roles:
        out.append("- polecat: the default worker (one per bead)")
    out += ["", "== Formulas you can run (gt formula show NAME) =="]
    for formula in list_formulas(town):
        if not isinstance(formula, Exception):
            variables = " ".join(f"--var {v}=…" for v in formula.vars)
            out.append(safe(f"- {formula.name}: {formula.description} {variables}".rstrip()))
    out += [
        "",
        "== The commands you act through (each checks its input like the CLI) ==",
        "gt status --json                              the town, as data",
        "gt ready [--rig RIG]                          beads ready to sling",
        "gt bead create TITLE --rig RIG [--dep ID]… [-d TEXT] [--json]   a bead (prints its id)",
        "gt convoy create TITLE BEAD… [--json]         track beads together",
        "gt formula run NAME --rig RIG [--var K=V]…    a workflow's beads and convoy",
        "gt sling BEAD RIG [--convoy ID] [--agent RUNTIME]   start a polecat on a bead",
        "gt mail reply ID -m TEXT                      answer the overseer (one thread)",
        "gt mail send ADDR -s SUBJECT -m TEXT          mail an agent or the overseer",
        "gt mail read ID                               mark a message handled",
    ]
    nudges = take_queued_nudges(town, MAYOR)
    if nudges:
        out += ["", "== Nudges queued for you =="]
        out += [safe(f"- from {n.sender} at {n.queued_at}: {n.text}") for n in nudges]
    return "\n".join(out) + "\n"


# -- the conversation -----------------------------------------------------------------------------
@dataclass
class Entry:
    ts: str
    who: str  # "you" (the overseer), "mayor", "did" (an action), "notice" (mail to the mayor)
    text: str
    link: tuple[str, str] | None = None  # ("bead" | "convoy", id): what the app opens
    message: str | None = None  # the mail id

    @property
    def key(self) -> tuple[str, str, str]:
        """What tells one entry from another when the conversation is read again."""
        return (self.ts, self.who, self.text)


def conversation(town: Town, limit: int = 200) -> list[Entry]:
    """What the overseer wrote, what the mayor answered, what it did and what woke it, oldest
    first: mail between the two (both inboxes) and the mayor's events."""
    entries: list[Entry] = []
    with contextlib.suppress(Exception):
        for message in town.mail.inbox(MAYOR, include_archived=True):
            who = "you" if message.sender == OVERSEER else "notice"
            text = message.body.strip() if who == "you" else f"{message.sender}: {message.subject}"
            entries.append(Entry(message.created, who, text, message=message.id))
    with contextlib.suppress(Exception):
        for message in town.mail.inbox(OVERSEER, include_archived=True):
            if message.sender == MAYOR:
                entries.append(
                    Entry(message.created, "mayor", message.body.strip(), message=message.id)
                )
    # The log's tail, not all of it: a big town's events.jsonl must not be read per refresh.
    for event in town.events.tail(EVENTS_LOOKED_AT):
        kind = DID.get(event.type)
        if kind is None or event.actor != MAYOR:
            continue
        ident = event.bead if kind == "bead" else str(event.extra.get("convoy") or "")
        if event.type == "polecat.slung":
            polecat = event.extra.get("polecat") or ""
            text = f"slung {event.bead} to {polecat}".strip()
        elif event.type == "formula.run":
            text = f"ran formula {event.extra.get('formula', '')}: {event.msg}"
        elif event.type in WORDS:
            text = f"{WORDS[event.type]} {ident}: {event.msg}"
        else:
            text = f"{event.type.replace('.', ' ')} {ident}: {event.msg}"
        entries.append(Entry(event.ts, "did", text, (kind, ident) if ident else None))
    entries.sort(key=lambda e: e.ts)
    return entries[-limit:]
