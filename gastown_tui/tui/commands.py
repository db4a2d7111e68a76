"""Command palette (`ctrl+p`) providers: agents, beads, convoys, rigs and every action.

They read what the app already holds (loaded by its workers), so opening the palette never
touches the disk: `startup()` takes a copy, `search()` filters it with the palette's matcher,
`discover()` lists it for the empty query.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any, cast

from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider

if TYPE_CHECKING:
    from gastown_tui.tui.app import GasTownApp

Command = tuple[str, Callable[[], Any], str]


class TownProvider(Provider):
    """A provider over a list of (text, callback, help) built in `commands()`."""

    DISCOVER_LIMIT = 40

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._commands: list[Command] = []

    @property
    def town_app(self) -> GasTownApp:
        return cast("GasTownApp", self.app)

    def commands(self) -> list[Command]:
        return []

    async def startup(self) -> None:
        self._commands = self.commands()

    async def discover(self) -> Hits:
        for text, callback, help_text in self._commands[: self.DISCOVER_LIMIT]:
            yield DiscoveryHit(text, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for text, callback, help_text in self._commands:
            score = matcher.match(text)
            if score > 0:
                yield Hit(score, matcher.highlight(text), callback, text=text, help=help_text)


class AgentsProvider(TownProvider):
    DISCOVER_LIMIT = 12

    def commands(self) -> list[Command]:
        app = self.town_app
        out: list[Command] = []
        for pole in sorted(app.polecats, key=lambda p: p.address):
            hook = f" · {pole.hook.id}" if pole.hook else ""
            out.append(
                (
                    f"attach {pole.address}",
                    partial(app.action_attach, pole.address),
                    f"{pole.state}{hook}",
                )
            )
            out.append(
                (
                    f"nudge {pole.address}",
                    partial(app.action_nudge, pole.address),
                    "type a line into its window",
                )
            )
            out.append(
                (
                    f"peek {pole.address}",
                    partial(app.action_peek, pole.address),
                    "watch its window in the preview",
                )
            )
            out.append(
                (f"inbox {pole.address}", partial(app.show_inbox, pole.address), "read its mail")
            )
        for address in ("mayor", "deacon"):
            out.append((f"inbox {address}", partial(app.show_inbox, address), "read its mail"))
        return out


class BeadsProvider(TownProvider):
    DISCOVER_LIMIT = 10

    def commands(self) -> list[Command]:
        app = self.town_app
        ready = {b.id for b in app.rigs_snapshot.ready}
        out: list[Command] = []
        for bead in app.rigs_snapshot.open_beads:
            label = f"{bead.id} {bead.title}"
            if bead.id in ready:
                out.append(
                    (f"sling {label}", partial(app.action_sling, bead.id), f"ready in {bead.rig}")
                )
            out.append(
                (
                    f"show {label}",
                    partial(app.action_show_bead, bead.id),
                    f"{bead.status} · {bead.rig}",
                )
            )
        return out


class ConvoysProvider(TownProvider):
    def commands(self) -> list[Command]:
        app = self.town_app
        out: list[Command] = []
        for convoy in app.convoys.in_flight:
            out.append(
                (
                    f"convoy {convoy.id} {convoy.title}",
                    partial(app.action_show_convoy, convoy.id),
                    f"{convoy.done}/{convoy.total} closed",
                )
            )
        for convoy in app.convoys.landed:
            out.append(
                (
                    f"convoy {convoy.id} {convoy.title}",
                    partial(app.action_show_convoy, convoy.id),
                    "landed",
                )
            )
        return out


class RigsProvider(TownProvider):
    def commands(self) -> list[Command]:
        app = self.town_app
        return [
            (
                f"rig {rig.name}",
                partial(app.action_show_rig, rig.name),
                f"{rig.open_count} open · {len(rig.ready)} ready",
            )
            for rig in app.rigs_snapshot.rigs
        ]


class FormulasProvider(TownProvider):
    """ "Run formula …": a form for the formula's variables (screens/formula.py)."""

    def commands(self) -> list[Command]:
        from gastown_tui.town.formulas import formula_paths
        from gastown_tui.tui.screens.formula import open_run_formula

        app = self.town_app
        town = app.data.town
        return [
            (f"Run formula {name}…", partial(open_run_formula, app, town, name), "formula")
            for name in formula_paths(town)
        ]


class ActionsProvider(TownProvider):
    """Every key's action, by what it does, with its current key."""

    def commands(self) -> list[Command]:
        app = self.town_app
        out: list[Command] = []
        for binding in app.BINDINGS:
            if not isinstance(binding, Binding):
                continue
            action = binding.action.split("(", 1)[0]
            text = app.ACTION_HELP.get(action) or f"Go to the {binding.description} pane"
            if app.check_action(action, ()) is False:
                continue
            out.append(
                (text, partial(app.run_action, binding.action), f"key {app.key_for(binding)}")
            )
        out.append(("Read your inbox (overseer)", partial(app.show_inbox, "overseer"), "mail"))
        return out
