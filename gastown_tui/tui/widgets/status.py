"""The status line along the top (town, counts, who supervises) and the pane strip that the
compact and focus layouts show instead of side-by-side panes."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.content import Content
from textual.widgets import Label, Static

from gastown_tui.tui.format import glyph

if TYPE_CHECKING:
    from gastown_tui.views.rows import ConvoysSnapshot, PolecatRow, RigsSnapshot


class StatusBar(Horizontal):
    def __init__(self, town_name: str, *, demo: bool = False) -> None:
        super().__init__(id="status")
        self.town_name = town_name
        self.demo = demo
        self._counts: list[Content | str | tuple[str, str]] | None = None
        self._alerts: list[tuple[str, str]] | None = None

    def compose(self) -> ComposeResult:
        yield Label(self._town(), id="status-town")
        yield Label("", id="status-counts")
        # Unread mail and problems in a label of their own that never shrinks: when the line is
        # too long (80 columns), the counts before them are cut, never ✉ and ⚠.
        yield Label("", id="status-alerts")
        yield Label("", id="status-supervisor")

    def _town(self) -> Content:
        badge = Content.styled(" DEMO ", "reverse $accent") if self.demo else Content("")
        return Content.assemble(
            ("⛽ GAS TOWN ", "bold $accent"), (self.town_name, "bold"), " ", badge
        )

    def show_counts(
        self,
        rigs: RigsSnapshot,
        polecats: list[PolecatRow],
        convoys: ConvoysSnapshot,
        unread: int,
        problems: int,
    ) -> None:
        states = Counter(p.state for p in polecats)
        parts: list[Content | str | tuple[str, str]] = []
        word = "polecat" if len(polecats) == 1 else "polecats"
        parts.append(f"{len(rigs.rigs)} rigs · {len(polecats)} {word}")
        for state in ("working", "waiting", "stalled", "gupp", "zombie", "idle"):
            if states.get(state):
                parts.append((f" {glyph(state)}{states[state]}", f"$gt-{state}"))
        flying = len(convoys.in_flight)
        parts.append(f" · {len(rigs.ready)} ready · {flying} convoy{'' if flying == 1 else 's'}")
        alerts: list[tuple[str, str]] = []
        if unread:
            alerts.append((f" ✉{unread}", "$gt-unread bold"))
        if problems:
            alerts.append((f" ⚠{problems}", "$gt-problem bold"))
        if alerts != self._alerts:
            self._alerts = alerts
            self.query_one("#status-alerts", Label).update(Content.assemble(*alerts))
        if parts != self._counts:
            # Polecats are observed every few seconds, mostly unchanged: an update lays the
            # whole screen out again, so only make one when the counts changed.
            self._counts = parts
            self.query_one("#status-counts", Label).update(Content.assemble(*parts))

    def set_supervisor(self, text: str, *, warn: bool = False) -> None:
        style = "$warning" if warn else "$text-muted"
        self.query_one("#status-supervisor", Label).update(Content.styled(text, style))


class PaneTabs(Static):
    """`1 Rigs  2 Convoys  3 Mail  4 Feed  5 Preview`, the active one highlighted."""

    def __init__(self, labels: tuple[tuple[str, str], ...]) -> None:
        super().__init__(id="tabs")
        self.labels = labels  # (pane id, "1 Rigs"), from tui/panes.py
        self.active = "rigs"

    def on_mount(self) -> None:
        self.set_active(self.active)

    def set_active(self, pane: str) -> None:
        self.active = pane
        parts: list[Content | tuple[str, str] | str] = []
        for name, label in self.labels:
            style = "reverse bold $accent" if name == pane else "$text-muted"
            parts.append((f" {label} ", style))
            parts.append(" ")
        tabs = Content.assemble(*parts)
        hint = " p problems  ? help"
        # At 80 columns six tabs leave no room: the hint goes (the footer has both keys).
        if tabs.cell_length + len(hint) <= max(self.content_region.width, 0) or not self.size:
            tabs += Content.styled(hint, "$text-muted")
        self.update(tabs)

    def on_resize(self) -> None:
        self.set_active(self.active)
