"""The feed filter (`f`): narrow the feed by rig, agent and event type (`bead` matches every
`bead.*` event). The search text typed with `/` is kept."""

from __future__ import annotations

from dataclasses import replace

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Button, Label, Select

from gastown_tui.tui.keys import focus_now
from gastown_tui.tui.screens.base import Dialog
from gastown_tui.tui.widgets.feed import FeedFilter


class FilterScreen(Dialog[FeedFilter]):
    TITLE_TEXT = "Filter the feed"

    def __init__(
        self, rigs: list[str], actors: list[str], types: list[str], current: FeedFilter
    ) -> None:
        super().__init__(classes="feed-filter")
        self.rigs = rigs
        self.actors = actors
        self.types = types
        self.current = current

    def _select(self, values: list[str], current: str | None, id: str, prompt: str) -> Select[str]:
        if current and current not in values:
            values = [current, *values]
        return Select(
            [(v, v) for v in values],
            value=current if current else Select.NULL,
            prompt=prompt,
            id=id,
            compact=True,
        )

    def compose_body(self) -> ComposeResult:
        with Horizontal(classes="form-row"):
            yield Label("rig", classes="form-label")
            yield self._select(self.rigs, self.current.rig, "filter-rig", "any rig")
        with Horizontal(classes="form-row"):
            yield Label("agent", classes="form-label")
            yield self._select(self.actors, self.current.actor, "filter-actor", "any agent")
        with Horizontal(classes="form-row"):
            yield Label("type", classes="form-label")
            yield self._select(self.types, self.current.type, "filter-type", "any type")

    def compose_buttons(self) -> ComposeResult:
        yield Button("Apply", variant="primary", id="apply", compact=True)
        yield Button("Clear", id="clear", compact=True)
        yield Button("Cancel", id="cancel", compact=True)

    def on_mount(self) -> None:
        focus_now(self.query_one("#filter-rig", Select))

    def _value(self, id: str) -> str | None:
        value = self.query_one(f"#{id}", Select).value
        return value if isinstance(value, str) else None

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "apply":
            event.stop()
            self.dismiss(
                replace(
                    self.current,
                    rig=self._value("filter-rig"),
                    actor=self._value("filter-actor"),
                    type=self._value("filter-type"),
                )
            )
        elif event.button.id == "clear":
            event.stop()
            self.dismiss(FeedFilter(text=self.current.text))
