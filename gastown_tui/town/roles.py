"""Roles: who does what in a town (town.toml `[roles.NAME]`).

A role has a directive (shown by `gt prime` to its agents), a runtime (default: the town's
`default_runtime`), the rigs it may work in (empty: any), an escalation chain (roles or mail
addresses, always ending at the overseer), a capacity (most agents of the role holding work at
once) and whether its agents are long-lived (one persistent polecat per slot, named after the
role, with its own inbox, taking one bead after another) or one pool polecat per bead.

The shipped roles (gastown_tui/formulas/_roles.toml) serve the shipped formulas; a town's own
`[roles.NAME]` replaces a shipped role of that name key by key.

Escalation (`escalate`): a role agent's escalation blocks its step and releases its hook; the
next in its chain gets it — a role gets an answer bead (dispatched like any step) and its live
agents a mail, an address gets a mail. An answer (the answer bead closing with a note, a reply
to the escalation mail, or `gt bead update --status open`) puts the step back to open with the
answer as a comment, so it is dispatched again to its role.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gastown_tui.town.clock import iso
from gastown_tui.town.errors import GtError
from gastown_tui.town.models import ACTIVE_STATUSES, Bead, Comment
from gastown_tui.town.paths import NAME_RE

if TYPE_CHECKING:
    from gastown_tui.town.mail import Message
    from gastown_tui.town.town import Town

SHIPPED_ROLES = Path(__file__).resolve().parent.parent / "formulas" / "_roles.toml"
OVERSEER = "overseer"
ROLE_KEYS = ("directive", "runtime", "rigs", "escalation", "capacity", "long_lived", "description")
# Not role names: they are the town's own roles and addresses.
RESERVED = frozenset({"witness", "refinery", "mayor", "deacon", "overseer", "crew", "polecat"})
# Bead metadata keys (stable: they are in `gt bead show --json`).
META_ROLE = "role"
META_ESCALATIONS = "escalations"  # how many times this step was escalated (next in chain)
META_ESCALATION_FOR = "escalation_for"  # on an answer bead: the step it answers
META_ANSWERED = "answered_by"  # on an answer bead: set once its answer was handed back
ANSWER_PREFIX = "ANSWER"


@dataclass
class Role:
    name: str
    directive: str = ""
    description: str = ""
    runtime: str | None = None
    rigs: list[str] = field(default_factory=list)
    escalation: list[str] = field(default_factory=lambda: [OVERSEER])
    capacity: int = 1
    long_lived: bool = False
    source: str = ""

    def allows_rig(self, rig: str) -> bool:
        return not self.rigs or rig in self.rigs

    def slot_names(self) -> list[str]:
        """The polecat names of a long-lived role: `front-line`, `front-line2`, …"""
        return [self.name if i == 1 else f"{self.name}{i}" for i in range(1, self.capacity + 1)]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "directive": self.directive,
            "runtime": self.runtime,
            "rigs": list(self.rigs),
            "escalation": list(self.escalation),
            "capacity": self.capacity,
            "long_lived": self.long_lived,
            "source": self.source,
        }


def _role_from(name: str, table: Any, where: str, base: Role | None = None) -> Role:
    """Check one `[roles.NAME]` table; errors name the file and the key."""
    key = f"roles.{name}"
    if not isinstance(table, dict):
        raise GtError(f"{where}: {key} must be a table")
    if not NAME_RE.fullmatch(name) or name in RESERVED:
        raise GtError(
            f"{where}: {key}: invalid role name {name!r}",
            hint="1-32 lowercase letters, digits, '-' or '_'; not a town role (mayor, witness…)",
        )
    unknown = sorted(set(table) - set(ROLE_KEYS))
    if unknown:
        raise GtError(
            f"{where}: {key}.{unknown[0]} is not a role key",
            hint="role keys: " + ", ".join(ROLE_KEYS),
        )
    role = Role(name=name, source=where)
    if base is not None:
        role = Role(**{**base.__dict__, "source": where})
    for text_key in ("directive", "description"):
        if text_key in table:
            if not isinstance(table[text_key], str):
                raise GtError(f"{where}: {key}.{text_key} must be text")
            setattr(role, text_key, table[text_key])
    if "runtime" in table:
        value = table["runtime"]
        if not isinstance(value, str) or not value.strip():
            raise GtError(f"{where}: {key}.runtime must be a runtime name")
        role.runtime = value.strip()
    if "rigs" in table:
        rigs = table["rigs"]
        if not isinstance(rigs, list) or not all(isinstance(r, str) for r in rigs):
            raise GtError(f"{where}: {key}.rigs must be a list of rig names")
        role.rigs = list(rigs)
    if "escalation" in table:
        chain = table["escalation"]
        if not isinstance(chain, list) or not all(isinstance(c, str) and c for c in chain):
            raise GtError(f"{where}: {key}.escalation must be a list of roles or addresses")
        role.escalation = [c.strip().lower() for c in chain]
    if not role.escalation or role.escalation[-1] != OVERSEER:
        role.escalation = [*role.escalation, OVERSEER]  # every chain ends at the person
    if "capacity" in table:
        cap = table["capacity"]
        if isinstance(cap, bool) or not isinstance(cap, int):
            raise GtError(f"{where}: {key}.capacity must be a whole number, not {cap!r}")
        if cap < 1:
            raise GtError(f"{where}: {key}.capacity = {cap} is below 1", hint="use 1 or more")
        role.capacity = cap
    if "long_lived" in table:
        if not isinstance(table["long_lived"], bool):
            raise GtError(f"{where}: {key}.long_lived must be true or false")
        role.long_lived = table["long_lived"]
    return role


def _load_table(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise GtError(f"cannot read {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise GtError(f"{path} is not valid TOML: {exc}") from None


def shipped_roles() -> dict[str, Role]:
    data = _load_table(SHIPPED_ROLES).get("roles", {})
    return {
        name: _role_from(name, t, "gastown_tui/formulas/_roles.toml") for name, t in data.items()
    }


def load_roles(town: Town) -> dict[str, Role]:
    """Shipped roles, then town.toml's `[roles]` (replacing shipped keys), all checked.

    Escalation entries that are neither roles nor addresses are refused here, so a broken
    chain is found when the town is configured, not when an agent needs help.
    """
    roles = shipped_roles()
    where = str(town.paths.town_toml)
    own = town.config.raw.get("roles") or {}
    if not isinstance(own, dict):
        raise GtError(f"{where}: roles must be tables [roles.NAME]")
    for name, table in own.items():
        roles[name] = _role_from(name, table, where, base=roles.get(name))
    for role in roles.values():
        for target in role.escalation:
            if not _is_target(target, roles):
                raise GtError(
                    f"{role.source}: roles.{role.name}.escalation: {target!r} is neither a "
                    "role nor an address",
                    hint="use role names, overseer, mayor, deacon or RIG/witness",
                )
    return roles


def _is_target(target: str, roles: dict[str, Role]) -> bool:
    if target in roles or target in (OVERSEER, "mayor", "deacon"):
        return True
    rig, sep, name = target.partition("/")
    return bool(sep and rig and name)  # an agent address, checked when mail is sent


def get_role(town: Town, name: str, roles: dict[str, Role] | None = None) -> Role:
    roles = roles if roles is not None else load_roles(town)
    role = roles.get(name)
    if role is None:
        known = ", ".join(sorted(roles)) or "none"
        raise GtError(f"unknown role {name!r}", hint=f"roles: {known} (gt role list)")
    return role


def role_of_bead(bead: Bead | dict[str, Any]) -> str | None:
    meta = bead.metadata if isinstance(bead, Bead) else (bead.get("metadata") or {})
    value = meta.get(META_ROLE)
    return str(value) if value else None


def role_of_agent(town: Town, address: str) -> str | None:
    """The role an agent records (polecat record key `role`), if any."""
    polecat = town.polecats.find(address) if "/" in address else None
    if polecat is None:
        return None
    value = polecat.extra.get("role")
    return str(value) if value else None


def prime_lines(town: Town, address: str) -> list[str]:
    """`gt prime`'s role section: the directive and where escalations go."""
    name = role_of_agent(town, address)
    if not name:
        return []
    try:
        role = load_roles(town).get(name)
    except GtError as exc:
        return ["", f"== Your role: {name} ==", f"(the role cannot be read: {exc})"]
    if role is None:
        return ["", f"== Your role: {name} ==", "(no longer defined in town.toml)"]
    kind = "long-lived: one ticket after another" if role.long_lived else "one bead"
    lines = ["", f"== Your role: {role.name} ({kind}) =="]
    if role.directive.strip():
        lines.append(role.directive.strip())
    lines.append(
        "Escalations go to: " + " -> ".join(role.escalation) + ". `gt escalate -s SUBJECT -m"
        " TEXT` blocks your step and hands it up; stop then: the step comes back with the answer."
    )
    return lines


# -- escalation ------------------------------------------------------------------------------
@dataclass
class Escalation:
    bead: str | None
    target: str
    recipients: list[str]
    answer_bead: str | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "bead": self.bead,
            "target": self.target,
            "recipients": list(self.recipients),
            "answer_bead": self.answer_bead,
            "notes": list(self.notes),
        }


def role_agents(town: Town, role: str) -> list[str]:
    """Addresses of the polecats that record `role`."""
    return [p.address for p in town.polecats.list() if p.extra.get("role") == role]


def next_target(role: Role, escalations: int) -> str:
    return role.escalation[min(escalations, len(role.escalation) - 1)]


def escalate(
    town: Town,
    address: str,
    role: Role,
    subject: str,
    body: str,
    *,
    bead: Bead | None,
    severity: str = "medium",
    roles: dict[str, Role] | None = None,
) -> Escalation:
    """Escalate along `role`'s chain. Validates before writing: the target's rig and address."""
    from gastown_tui.town.addresses import AddressBook

    roles = roles if roles is not None else load_roles(town)
    count = int((bead.metadata.get(META_ESCALATIONS) or 0) if bead else 0)
    target = next_target(role, count)
    result = Escalation(bead=bead.id if bead else None, target=target, recipients=[])
    answer_rig: str | None = None
    if target in roles:
        target_role = roles[target]
        if bead is not None:
            answer_rig = bead.rig if target_role.allows_rig(bead.rig) else None
            if answer_rig is None:
                answer_rig = next((r for r in target_role.rigs if town.rigs.exists(r)), None)
            if answer_rig is None:
                raise GtError(f"role {target} may work in no rig of this town ({target_role.rigs})")
        result.recipients = role_agents(town, target)
        if not result.recipients:
            result.notes.append(f"no agent of role {target} yet: its answer bead waits for one")
    else:
        result.recipients = [target]
    if severity == "critical" and OVERSEER not in result.recipients:
        result.recipients.append(OVERSEER)
    AddressBook(town).resolve_all(result.recipients)

    now = iso(town.clock.now())
    text = f"ESCALATED ({severity}) by {address} to {target}: {subject}"
    if body.strip():
        text += "\n\n" + body.strip()
    if bead is not None:
        if answer_rig is not None:
            answer = town.beads.create(
                f"Answer {address}'s escalation: {subject}"[:400],
                rig=answer_rig,
                type="question",
                priority=min(bead.priority, 1),
                description=(
                    f"{address} ({role.name}) escalated step {bead.id} ({bead.title}) to you, "
                    f"the {target}.\n\n{body.strip() or subject}\n\n"
                    "Answer with `gt done -m ANSWER`: the answer goes back to the step."
                ),
                metadata={META_ROLE: target, META_ESCALATION_FOR: bead.id},
                actor=address,
            )
            result.answer_bead = answer.id
        _block_and_release(town, bead, address, text, now, result.answer_bead)
    if result.recipients:
        town.mail.send(
            result.recipients,
            f"ESCALATION [{severity}]: {subject}",
            f"Escalation ({severity}) from {address} ({role.name}) to {target}.\n"
            + (f"Step: {bead.id} [{bead.rig}] {bead.title} (now blocked)\n" if bead else "")
            + (f"Answer bead: {result.answer_bead}\n" if result.answer_bead else "")
            + "Reply to this message to answer it.\n\n"
            + (body.strip() or "(no details given)")
            + "\n",
            sender=address,
            type="escalation",
            priority={"critical": "urgent", "high": "high"}.get(severity, "normal"),
            meta={"severity": severity, "role": role.name, **({"bead": bead.id} if bead else {})},
        )
    town.events.append(
        "role.escalated",
        actor=address,
        rig=bead.rig if bead else None,
        bead=bead.id if bead else None,
        msg=f"{address} escalated to {target}: {subject}",
        target=target,
        answer_bead=result.answer_bead,
    )
    return result


def _block_and_release(
    town: Town, bead: Bead, address: str, text: str, now: str, answer_bead: str | None
) -> None:
    """One rig transaction: the step is blocked (with the reason) and off the agent's hook;
    the agent is idle. The step comes back open when it is answered."""
    from gastown_tui.town.polecats import Polecat, split_address

    rig, name = split_address(address) if "/" in address else (bead.rig, "")
    with town.beads.rig_txn(bead.rig) as tx:
        current = tx.get_bead(bead.id)
        if current is None or current.is_closed:
            raise GtError(f"{bead.id} is closed or gone; nothing was escalated")
        current.status = "blocked"
        if current.assignee == address:
            current.assignee = None
        current.metadata[META_ESCALATIONS] = int(current.metadata.get(META_ESCALATIONS) or 0) + 1
        if answer_bead:
            current.metadata["answer_bead"] = answer_bead
        current.comments.append(Comment(address, now, text))
        current.updated_at = now
        tx.put_bead(current)
        if rig == bead.rig and name:
            doc = tx.get_polecat(name)
            if doc is not None:
                record = Polecat.from_dict(doc)
                record.release(bead.id, "escalated", now)
                tx.put_polecat(record.to_dict())
    town.events.append(
        "bead.escalated", actor=address, rig=bead.rig, bead=bead.id, msg=text.splitlines()[0]
    )


def answer_step(town: Town, step_id: str, answer: str, by: str, source: str) -> bool:
    """Hand an answer back to a blocked step: a comment, and open again (so it is dispatched
    to its role). False when the step is not blocked any more (answered already)."""
    now = iso(town.clock.now())

    def change(bead: Bead) -> str | None:
        if bead.status != "blocked":
            return None
        bead.status = "open"
        bead.assignee = None
        bead.comments.append(Comment(by, now, f"{ANSWER_PREFIX} from {by} ({source}): {answer}"))
        return f"answered by {by}: unblocked"

    try:
        before = town.beads.find(step_id)
        if before is None or before.status != "blocked":
            return False
        town.beads.mutate(step_id, change, event="bead.unblocked", actor=by)
    except GtError:
        return False
    return True


def answer_from_reply(town: Town, original: Message, body: str, sender: str) -> bool:
    """A reply to an escalation mail that names a step answers it (MailStore.reply calls
    this). The answer bead, if any, is closed too: its work is done."""
    step = (original.meta or {}).get("bead")
    if original.type != "escalation" or not step:
        return False
    done = answer_step(town, str(step), body.strip() or "(empty reply)", sender, "mail reply")
    if done:
        found = town.beads.find(str(step))
        answer_id = (found.metadata.get("answer_bead") if found else None) or None
        if answer_id:
            bead = town.beads.find(str(answer_id))
            if bead is not None and not bead.is_closed and bead.status not in ACTIVE_STATUSES:
                try:
                    town.beads.close(bead.id, f"answered by mail from {sender}", actor=sender)
                except GtError:
                    pass
    return done


def hand_back_answers(town: Town) -> list[str]:
    """For the deacon: closed answer beads whose step is still blocked hand their note back."""
    actions: list[str] = []
    for doc in town.beads.list_docs(statuses=["closed"]):
        meta = doc.get("metadata") or {}
        step = meta.get(META_ESCALATION_FOR)
        if not step or meta.get(META_ANSWERED):
            continue
        by = doc.get("assignee") or doc.get("created_by") or "?"
        note = doc.get("close_reason") or "(no answer given)"
        if answer_step(town, str(step), note, by, f"answer bead {doc['id']}"):
            actions.append(f"{doc['id']} answered {step}: unblocked")

        def mark(bead: Bead) -> str | None:
            bead.metadata[META_ANSWERED] = True
            return "answer handed back"

        try:
            town.beads.mutate(doc["id"], mark, event="bead.answer_handed", actor="deacon")
        except GtError:
            pass
    return actions
