"""The sling dialog (`s`): pick a ready bead by fuzzy search, or type new work; pick the rig,
the runtime and an optional convoy; sling. Bad input shows inline and slings nothing."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.content import Content
from textual.fuzzy import Matcher
from textual.widgets import Button, Input, Label, OptionList, Select
from textual.widgets.option_list import Option

from gastown_tui.tui.format import clip
from gastown_tui.tui.keys import focus_now
from gastown_tui.tui.screens.base import Dialog

if TYPE_CHECKING:
    from gastown_tui.views.actions import TownData
    from gastown_tui.views.rows import BeadRow

MAX_SHOWN = 50
NO_CONVOY = "__none__"


class SlingScreen(Dialog[str]):
    TITLE_TEXT = "Sling work onto a polecat"
    BINDINGS = [
        Binding("ctrl+s", "sling", "Sling", id="sling-confirm"),
        Binding("down", "to_beads", "Beads", show=False, id="sling-to-beads"),
    ]

    def __init__(
        self,
        data: TownData,
        *,
        beads: list[BeadRow],
        rigs: list[str],
        runtimes: list[str],
        convoys: list[tuple[str, str]],
        rig: str | None = None,
        bead: str | None = None,
    ) -> None:
        super().__init__(classes="sling")
        self.data = data
        self.beads = beads
        self.rigs = rigs
        self.runtimes = runtimes
        self.convoys = convoys
        self.default_rig = rig if rig in rigs else (rigs[0] if rigs else None)
        self.picked: BeadRow | None = next((b for b in beads if b.id == bead), None)

    def compose_body(self) -> ComposeResult:
        yield Input(
            value=self.picked.id if self.picked else "",
            placeholder="search ready beads, or type new work",
            id="sling-target",
            compact=True,
        )
        yield OptionList(id="sling-beads")
        yield Label("", id="sling-picked")
        yield Label(
            "enter picks a bead · ctrl+s slings (typed text becomes a new bead)",
            classes="form-hint",
        )
        with Horizontal(classes="form-row"):
            yield Label("rig", classes="form-label")
            yield Select(
                [(r, r) for r in self.rigs],
                value=self.default_rig if self.default_rig else Select.NULL,
                allow_blank=not self.rigs,
                prompt="no rigs",
                id="sling-rig",
                compact=True,
            )
        with Horizontal(classes="form-row"):
            yield Label("runtime", classes="form-label")
            yield Select(
                [(r, r) for r in self.runtimes],
                value=self.runtimes[0] if self.runtimes else Select.NULL,
                allow_blank=False,
                id="sling-runtime",
                compact=True,
            )
        with Horizontal(classes="form-row"):
            yield Label("convoy", classes="form-label")
            yield Select(
                [("new one-bead convoy", NO_CONVOY)]
                + [(f"{cid} {clip(title, 40)}", cid) for cid, title in self.convoys],
                value=NO_CONVOY,
                allow_blank=False,
                id="sling-convoy",
                compact=True,
            )

    def compose_buttons(self) -> ComposeResult:
        yield Button("Sling", variant="primary", id="sling", compact=True)
        yield Button("Cancel", id="cancel", compact=True)

    def on_mount(self) -> None:
        self._filter(self.query_one("#sling-target", Input).value)
        self._show_picked()
        if not self.rigs:
            self.show_error("This town has no rigs yet: add one with `gt rig add NAME PATH`.")
            self.query_one("#sling", Button).disabled = True
        focus_now(self.query_one("#sling-target", Input))

    # -- picking a bead ------------------------------------------------------------------
    def _filter(self, query: str) -> None:
        listing = self.query_one("#sling-beads", OptionList)
        listing.clear_options()
        query = query.strip()
        if query:
            matcher = Matcher(query)
            scored = [
                (matcher.match(f"{b.id} {b.title} {b.rig} {' '.join(b.labels)}"), b)
                for b in self.beads
            ]
            hits = [b for score, b in sorted(scored, key=lambda s: -s[0]) if score > 0]
        else:
            hits = list(self.beads)
        for bead in hits[:MAX_SHOWN]:
            listing.add_option(
                Option(
                    Content.assemble(
                        (bead.id, "$text-muted"),
                        " ",
                        clip(bead.title, 60),
                        (f"  [{bead.rig}] P{bead.priority}", "$text-muted"),
                    ),
                    id=bead.id,
                )
            )
        if not hits:
            note = "no ready bead matches: this text becomes a new bead" if query else ""
            note = note or "no ready beads: type new work"
            listing.add_option(Option(Content.styled(note, "$text-muted"), disabled=True))

    def _show_picked(self) -> None:
        label = self.query_one("#sling-picked", Label)
        text = self.query_one("#sling-target", Input).value.strip()
        label.display = bool(self.picked is not None or text)
        if self.picked is not None:
            label.update(
                Content.assemble(
                    ("bead ", "$text-muted"), (self.picked.id, "bold"), " ", self.picked.title
                )
            )
        elif text:
            label.update(Content.assemble(("new bead ", "$text-muted"), (clip(text, 70), "bold")))
        else:
            label.update("")

    @on(Input.Changed, "#sling-target")
    def _typed(self, event: Input.Changed) -> None:
        if self.picked is not None and event.value.strip() != self.picked.id:
            self.picked = None
        self._filter(event.value)
        self._show_picked()

    @on(Input.Submitted, "#sling-target")
    def _enter_in_search(self, _event: Input.Submitted) -> None:
        # Enter after a search goes to the matches, so a search word never becomes a new bead
        # by accident; with no match (or a bead picked) it slings. ctrl+s always slings.
        listing = self.query_one("#sling-beads", OptionList)
        has_matches = any(
            not listing.get_option_at_index(i).disabled for i in range(listing.option_count)
        )
        if self.picked is None and has_matches:
            focus_now(listing)
            listing.highlighted = 0
            return
        self.action_sling()

    def action_to_beads(self) -> None:
        listing = self.query_one("#sling-beads", OptionList)
        if self.focused is self.query_one("#sling-target") and listing.option_count:
            focus_now(listing)
            if listing.highlighted is None:
                listing.highlighted = 0

    @on(OptionList.OptionSelected, "#sling-beads")
    def _pick(self, event: OptionList.OptionSelected) -> None:
        bead = next((b for b in self.beads if b.id == event.option.id), None)
        if bead is None:
            return
        self.picked = bead
        target = self.query_one("#sling-target", Input)
        with target.prevent(Input.Changed):
            target.value = bead.id
        if bead.rig in self.rigs:
            self.query_one("#sling-rig", Select).value = bead.rig
        self._show_picked()
        focus_now(self.query_one("#sling", Button))

    # -- slinging ------------------------------------------------------------------------
    def action_sling(self) -> None:
        listing = self.query_one("#sling-beads", OptionList)
        if self.picked is None and self.focused is listing and listing.highlighted is not None:
            # ctrl+s while a match is highlighted means that bead, not the search words.
            option = listing.get_option_at_index(listing.highlighted)
            bead = next((b for b in self.beads if b.id == option.id), None)
            if bead is not None:
                self.picked = bead
                if bead.rig in self.rigs:
                    self.query_one("#sling-rig", Select).value = bead.rig
        target = self.picked.id if self.picked else self.query_one("#sling-target", Input).value
        rig_value = self.query_one("#sling-rig", Select).value
        rig = rig_value if isinstance(rig_value, str) else ""
        runtime_value = self.query_one("#sling-runtime", Select).value
        runtime = runtime_value if isinstance(runtime_value, str) else None
        convoy_value = self.query_one("#sling-convoy", Select).value
        convoy = (
            convoy_value if isinstance(convoy_value, str) and convoy_value != NO_CONVOY else None
        )
        data = self.data

        def call() -> str:
            return data.sling(target, rig, runtime=runtime, convoy=convoy)

        self.submit(call)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "sling":
            event.stop()
            self.action_sling()
