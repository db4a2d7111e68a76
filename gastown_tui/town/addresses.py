"""Mail addresses and groups, resolved against the live town.

Addresses:
    overseer                the human; always valid
    mayor, deacon           town-level agents; always valid
    <rig>/witness           the rig's supervisor    (the rig must exist)
    <rig>/refinery          the rig's merge queue   (the rig must exist)
    <rig>/<polecat>         a polecat: its rig file has a doc of that name in table `polecats`

Groups (expanded when a message is sent, once per member, de-duplicated):
    @town                   every agent address that exists: mayor, deacon and each rig's
                            witness, refinery and polecats. The overseer is NOT a member: a
                            broadcast is for the agents, and a person should not get every
                            town-wide chatter in their inbox; cc `overseer` to include them.
    @rig/<rig>              the rig's witness, refinery and polecats
    @polecats/<rig>         the rig's polecats (an error while the rig has none)

An address that does not resolve is a GtError (exit 2) naming it and listing the valid forms:
Gas Town users lost mail to mistyped addresses (#2038), so nothing is ever delivered "somewhere".
"""

from __future__ import annotations

from collections.abc import Iterable

from gastown_tui.town.errors import GtError

TYPE_CHECKING = False  # typing's import is ~2 ms of every gt call (tests/test_cli_cheap.py)
if TYPE_CHECKING:
    from gastown_tui.town.town import Town

OVERSEER = "overseer"
TOWN_AGENTS = ("mayor", "deacon")
RIG_ROLES = ("witness", "refinery")

VALID_FORMS = (
    "addresses: overseer, mayor, deacon, <rig>/witness, <rig>/refinery, <rig>/<polecat>;"
    " groups: @town, @rig/<rig>, @polecats/<rig>"
)


def normalize(address: str) -> str:
    """Addresses are lowercase names; forgive surrounding blanks and capitals."""
    return (address or "").strip().lower()


def is_group(address: str) -> bool:
    return normalize(address).startswith("@")


def rig_of(address: str | None) -> str | None:
    """The rig part of `<rig>/<name>`, or None for town-level addresses and groups."""
    value = normalize(address or "")
    if value.startswith("@") or "/" not in value:
        return None
    return value.split("/", 1)[0] or None


class AddressBook:
    """What exists in the town, read once per use (many addresses resolve in one pass)."""

    def __init__(self, town: Town) -> None:
        self.town = town
        self._rigs: list[str] | None = None
        self._polecats: dict[str, list[str]] = {}

    def rigs(self) -> list[str]:
        if self._rigs is None:
            # The registry's table read directly: `town.rigs` would import rigs.py and with it
            # git and subprocess, a few ms that every `gt mail send` would pay for nothing.
            docs = self.town.storage.rigs.docs()
            self._rigs = sorted(d["name"] for d in docs if d.get("name"))
        return self._rigs

    def polecats(self, rig: str) -> list[str]:
        names = self._polecats.get(rig)
        if names is None:
            docs = self.town.storage.polecats.docs(rig)
            names = sorted({d["name"] for d in docs if d.get("name")})
            self._polecats[rig] = names
        return names

    def rig_members(self, rig: str) -> list[str]:
        return [f"{rig}/{role}" for role in RIG_ROLES] + [f"{rig}/{p}" for p in self.polecats(rig)]

    def agents(self) -> list[str]:
        """Every agent address of the town (the members of @town)."""
        out = list(TOWN_AGENTS)
        for rig in self.rigs():
            out.extend(self.rig_members(rig))
        return out

    def _need_rig(self, rig: str, address: str) -> None:
        if rig not in self.rigs():
            known = ", ".join(self.rigs()) or "none yet"
            raise GtError(
                f"unknown address {address!r}: no rig {rig!r} (rigs: {known})", VALID_FORMS
            )

    def resolve(self, address_or_group: str) -> list[str]:
        raw = address_or_group
        value = normalize(raw)
        if not value:
            raise GtError("empty mail address", VALID_FORMS)
        if value.startswith("@"):
            return self._resolve_group(value, raw)
        if value == OVERSEER or value in TOWN_AGENTS:
            return [value]
        rig, sep, name = value.partition("/")
        if not sep or not rig or not name or "/" in name:
            raise GtError(f"unknown address {raw!r}", VALID_FORMS)
        self._need_rig(rig, raw)
        if name in RIG_ROLES or name in self.polecats(rig):
            return [value]
        pole = ", ".join(self.polecats(rig)) or "none yet"
        raise GtError(
            f"unknown address {raw!r}: rig {rig!r} has no polecat {name!r} (polecats: {pole})",
            VALID_FORMS,
        )

    def _resolve_group(self, value: str, raw: str) -> list[str]:
        if value == "@town":
            return self.agents()
        kind, sep, rig = value[1:].partition("/")
        if sep and rig and "/" not in rig and kind in ("rig", "polecats"):
            self._need_rig(rig, raw)
            if kind == "rig":
                return self.rig_members(rig)
            members = [f"{rig}/{p}" for p in self.polecats(rig)]
            if not members:
                # An empty group would deliver to nobody: that is mail lost, so refuse.
                raise GtError(f"group {raw!r} has no members: rig {rig!r} has no polecats yet")
            return members
        raise GtError(f"unknown group {raw!r}", VALID_FORMS)

    def resolve_all(self, addresses: Iterable[str]) -> list[str]:
        """Every address and group expanded, each member once, in first-seen order.

        All are validated before the caller stores anything: one bad address fails the lot.
        """
        out: dict[str, None] = {}
        for address in addresses:
            for member in self.resolve(address):
                out.setdefault(member, None)
        return list(out)

    def check_single(self, address: str, what: str = "address") -> str:
        """A single existing address (no group): an inbox, an owner, a reply target."""
        value = normalize(address)
        if value.startswith("@"):
            raise GtError(f"{what} {address!r} is a group; name one address", VALID_FORMS)
        return self.resolve(value)[0]


def resolve(town: Town, address_or_group: str) -> list[str]:
    """The member addresses of one address or group. Raises GtError if it does not exist."""
    return AddressBook(town).resolve(address_or_group)


def resolve_all(town: Town, addresses: Iterable[str]) -> list[str]:
    """Several addresses and groups, validated together, members de-duplicated."""
    return AddressBook(town).resolve_all(addresses)


def check_address(town: Town, address: str, what: str = "address") -> str:
    return AddressBook(town).check_single(address, what)


def all_addresses(town: Town) -> list[str]:
    """Every address mail can go to: the overseer and every agent (for pickers and palettes)."""
    return [OVERSEER, *AddressBook(town).agents()]
