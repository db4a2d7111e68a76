"""One bead in full (from the palette's "show" or the problems view). `s` slings it."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.content import Content
from textual.widgets import Button, Label, Static

from gastown_tui.town.display import safe, safe_lines
from gastown_tui.tui.screens.base import Dialog


class BeadScreen(Dialog[str]):
    """Dismisses with "sling" when the person asks to sling this bead."""

    BINDINGS = [Binding("s", "sling", "Sling it", id="bead-sling")]

    def __init__(self, bead: dict[str, Any]) -> None:
        super().__init__(classes="bead-view")
        self.bead = bead

    def dialog_title(self) -> str:
        return f"{self.bead['id']} {self.bead['title']}"

    def compose_body(self) -> ComposeResult:
        b = self.bead
        # Stored text, shown as written: escaped (town/display.py), and never parsed as markup
        # (Content.assemble and markup=False).
        labels = safe(", ".join(b.get("labels") or []) or "none")
        deps = safe(", ".join(f"{d['type']} {d['on']}" for d in b.get("deps") or []) or "none")
        yield Label(
            Content.assemble(
                ("status ", "$text-muted"),
                (b["status"], "bold"),
                ("  rig ", "$text-muted"),
                b["rig"],
                ("  priority ", "$text-muted"),
                f"P{b['priority']}",
                ("  type ", "$text-muted"),
                safe(b["type"]),
                ("  assignee ", "$text-muted"),
                safe(b.get("assignee") or "-"),
            )
        )
        yield Label(
            Content.assemble(("labels ", "$text-muted"), labels, ("  deps ", "$text-muted"), deps)
        )
        with VerticalScroll(classes="bead-body"):
            yield Static(safe_lines(b.get("description") or "(no description)"), markup=False)
            for comment in b.get("comments") or []:
                yield Static(
                    Content.assemble(
                        ("\n" + safe(comment["author"]), "bold"),
                        (f"  {safe(comment['created_at'][:16])}", "$text-muted"),
                        "\n" + safe_lines(comment["text"]),
                    )
                )

    def compose_buttons(self) -> ComposeResult:
        if self.bead["status"] == "open" and not self.bead.get("assignee"):
            yield Button("Sling", variant="primary", id="sling", compact=True)
        yield Button("Close", id="cancel", compact=True)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "sling":
            return self.bead["status"] == "open" and not self.bead.get("assignee")
        return True

    def action_sling(self) -> None:
        self.dismiss("sling")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "sling":
            event.stop()
            self.dismiss("sling")
