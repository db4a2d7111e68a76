"""The theme picker (`t`): moving the cursor previews a theme, enter keeps it, esc goes back."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.widgets import Button, OptionList
from textual.widgets.option_list import Option

from gastown_tui.tui.keys import focus_now
from gastown_tui.tui.screens.base import Dialog


class ThemeScreen(Dialog[str]):
    TITLE_TEXT = "Theme"

    def __init__(self, ours: list[str], others: list[str], current: str) -> None:
        super().__init__(classes="theme-picker")
        self.ours = ours
        self.others = others
        self.original = current

    def compose_body(self) -> ComposeResult:
        options = [Option(name, id=name) for name in self.ours]
        options += [Option(f"{name}  (textual)", id=name) for name in self.others]
        yield OptionList(*options, id="theme-list")

    def compose_buttons(self) -> ComposeResult:
        yield Button("Cancel", id="cancel", compact=True)

    def on_mount(self) -> None:
        listing = self.query_one(OptionList)
        names = [*self.ours, *self.others]
        if self.original in names:
            listing.highlighted = names.index(self.original)
        focus_now(listing)

    @on(OptionList.OptionHighlighted)
    def _preview(self, event: OptionList.OptionHighlighted) -> None:
        if event.option.id:
            self.app.theme = event.option.id

    @on(OptionList.OptionSelected)
    def _keep(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.app.theme = self.original
        self.dismiss(None)
