"""Help (`?`): the live keymap (after town.toml's [keymap]) and what each key does."""

from __future__ import annotations

from dataclasses import dataclass

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.content import Content
from textual.widgets import Button, Label, Static

from gastown_tui.tui.keys import focus_now
from gastown_tui.tui.screens.base import Dialog


@dataclass(frozen=True)
class KeyHelp:
    key: str
    description: str
    binding_id: str
    available: bool = True
    why: str = ""


class HelpScreen(Dialog[None]):
    TITLE_TEXT = "Gas Town keys"

    def __init__(self, keys: list[KeyHelp], layout: str, theme: str) -> None:
        super().__init__(classes="help")
        self.keys = keys
        self.layout_name = layout
        self.theme_name = theme

    def compose_body(self) -> ComposeResult:
        with VerticalScroll(classes="help-keys"):
            for item in self.keys:
                style = "" if item.available else "$text-disabled"
                why = f" ({item.why})" if item.why else ""
                yield Static(
                    Content.assemble(
                        (f"{item.key:>8}", "bold $accent" if item.available else style),
                        "  ",
                        (f"{item.description}{why}", style),
                        (f"  [{item.binding_id}]", "$text-muted"),
                    ),
                    classes="help-row",
                )
            yield Static(glyph_legend(), classes="help-legend")
            yield Static(
                Content.styled(
                    '\nRemap any key in town.toml, e.g.\n  [keymap]\n  sling = "ctrl+s"\n'
                    "with the id shown in brackets. ctrl+p opens the command palette.",
                    "$text-muted",
                )
            )
        where = f"layout {self.layout_name} (L) · theme {self.theme_name} (t)"
        yield Label(Content.styled(where, "$text-muted"))

    def compose_buttons(self) -> ComposeResult:
        yield Button("Close", id="cancel", compact=True)

    def on_mount(self) -> None:
        focus_now(self.query_one(VerticalScroll))


def glyph_legend() -> Content:
    """What the state glyphs of the Rigs tree and the status line mean."""
    from gastown_tui.tui.format import STATE_GLYPHS

    parts: list[Content | str | tuple[str, str]] = [("\nglyphs ", "bold")]
    for state, mark in STATE_GLYPHS.items():
        parts += [(f" {mark}", f"$gt-{state}" if state != "paused" else "$text-muted"), f" {state}"]
    parts += ["  ", ("✉", "bold"), " unread mail  ", ("⚠", "bold"), " problems"]
    return Content.assemble(*parts)
