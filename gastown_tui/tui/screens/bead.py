"""One bead in full (Enter on a bead in Rigs, the palette's "show", the problems view):
text, dependencies both ways, comments and history. `s` slings it; `e` edit, `c` comment,
`x` close, `o` reopen (tui/screens/bead_edit.py does the writing)."""

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

    BINDINGS = [
        Binding("s", "sling", "Sling it", id="bead-sling"),
        Binding("e", "act('edit')", "Edit", id="bead-edit"),
        Binding("c", "act('comment')", "Comment", id="bead-comment"),
        Binding("x", "act('close')", "Close bead", id="bead-close"),
        Binding("o", "act('reopen')", "Reopen", id="bead-reopen"),
    ]

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
        deps = safe(", ".join(dep_words(d) for d in b.get("deps") or []) or "none")
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
            Content.assemble(("labels ", "$text-muted"), labels, ("  needs ", "$text-muted"), deps)
        )
        dependents = b.get("dependents") or []
        if dependents:
            needed = ", ".join(
                f"{'blocks' if d['type'] == 'blocks' else d['type']} {d['id']}" for d in dependents
            )
            yield Label(Content.assemble(("needed by ", "$text-muted"), needed))
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
            history = b.get("history") or []
            if history:
                yield Static(Content.styled("\nhistory", "bold"))
                for event in history:
                    yield Static(
                        Content.assemble(
                            (str(event["ts"])[:16].replace("T", " "), "$text-muted"),
                            f" {safe(str(event['type']))} ",
                            (safe(str(event["actor"])), "$text-muted"),
                            f" {safe(str(event.get('msg') or ''))}",
                        )
                    )

    def compose_buttons(self) -> ComposeResult:
        if self.bead["status"] == "open" and not self.bead.get("assignee"):
            yield Button("Sling", variant="primary", id="sling", compact=True)
        yield Button("Close", id="cancel", compact=True)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "sling":
            return self.bead["status"] == "open" and not self.bead.get("assignee")
        if action == "act" and parameters:
            closed = self.bead["status"] == "closed"
            if parameters[0] == "close":
                return not closed
            if parameters[0] == "reopen":
                return closed
        return True

    def action_act(self, what: str) -> None:
        self.dismiss(what)

    def action_sling(self) -> None:
        self.dismiss("sling")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "sling":
            event.stop()
            self.dismiss("sling")


def dep_words(dep: dict[str, Any]) -> str:
    """`blocked by wr-abc12` for a blocking dependency (the bead waits for it)."""
    if dep.get("type") == "blocks":
        return f"blocked by {dep['on']}"
    return f"{dep.get('type')} {dep['on']}"
