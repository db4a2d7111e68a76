"""Convoy dialogs: create one from the marked beads (`c`), and look inside one (enter)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.content import Content
from textual.widgets import Button, Input, Label, ProgressBar, Static

from gastown_tui.town.display import safe
from gastown_tui.tui.format import clip
from gastown_tui.tui.keys import focus_now
from gastown_tui.tui.screens.base import Dialog

if TYPE_CHECKING:
    from gastown_tui.views.actions import TownData
    from gastown_tui.views.rows import BeadRow

STATUS_STYLES = {
    "closed": "$gt-working",
    "hooked": "$accent",
    "in_progress": "$accent",
    "blocked": "$gt-stalled",
    "queued": "$gt-stalled",
    "missing": "$error",
}


def default_title(beads: list[BeadRow]) -> str:
    if not beads:
        return ""
    if len(beads) == 1:
        return beads[0].title
    return f"{clip(beads[0].title, 50)} + {len(beads) - 1} more"


class ConvoyCreateScreen(Dialog[Any]):
    TITLE_TEXT = "New convoy"
    BINDINGS = [Binding("ctrl+s", "create", "Create", id="convoy-create")]

    def __init__(self, data: TownData, beads: list[BeadRow]) -> None:
        super().__init__(classes="convoy-create")
        self.data = data
        self.beads = beads

    def compose_body(self) -> ComposeResult:
        with Horizontal(classes="form-row"):
            yield Label("title", classes="form-label")
            yield Input(value=default_title(self.beads), id="convoy-title", compact=True)
        word = "bead" if len(self.beads) == 1 else "beads"
        yield Label(f"tracking {len(self.beads)} {word}:", classes="form-hint")
        with VerticalScroll(classes="convoy-beads"):
            for bead in self.beads:
                yield Label(
                    Content.assemble(
                        (bead.id, "$text-muted"),
                        " ",
                        bead.title,
                        (f"  [{bead.rig}]", "$text-muted"),
                    )
                )
            if not self.beads:
                yield Label(
                    Content.styled(
                        "No beads selected: mark ready beads in Rigs with space.", "$warning"
                    )
                )

    def compose_buttons(self) -> ComposeResult:
        yield Button("Create", variant="primary", id="create", compact=True)
        yield Button("Cancel", id="cancel", compact=True)

    def on_mount(self) -> None:
        focus_now(self.query_one("#convoy-title", Input))

    @on(Input.Submitted, "#convoy-title")
    def _enter(self, _event: Input.Submitted) -> None:
        self.action_create()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "create":
            event.stop()
            self.action_create()

    def action_create(self) -> None:
        title = self.query_one("#convoy-title", Input).value
        ids = [b.id for b in self.beads]
        data = self.data
        self.submit(lambda: data.create_convoy(title, ids))


def step_lines(steps: list[dict[str, Any]]) -> list[Static]:
    """A formula run's steps as a dependency tree (town/formulas.py step_tree): each step
    under the step it needs, with its state, role and who holds it."""
    lines = []
    for row in steps:
        indent = "   " * row["depth"] + ("└─ " if row["depth"] else "")
        holder = f"  {row['assignee']}" if row.get("assignee") else ""
        also = f"  also needs {', '.join(row['also'])}" if row.get("also") else ""
        lines.append(
            Static(
                Content.assemble(
                    indent,
                    (f"{row['step']}", "bold"),
                    (f" [{row['role']}] ", "$text-muted"),
                    (row["status"], STATUS_STYLES.get(row["status"], "")),
                    (f"  {row['id']}", "$text-muted"),
                    (f"{holder}{also}", "$text-muted"),
                ),
                classes="convoy-step",
            )
        )
    return lines


class ConvoyScreen(Dialog[None]):
    """A convoy's beads and where each one is."""

    def __init__(self, status: dict[str, Any]) -> None:
        super().__init__(classes="convoy-view")
        self.status = status

    def dialog_title(self) -> str:
        return f"{self.status['id']} {self.status['title']}"

    def compose_body(self) -> ComposeResult:
        s = self.status
        state = s.get("state", "open")
        yield Label(
            Content.assemble(
                (f"{s['done']}/{s['total']} closed", "bold"),
                (f" · {s.get('blocked', 0)} blocked · {state}", "$text-muted"),
                (f" · owner {s.get('owner', '')}", "$text-muted"),
            )
        )
        bar = ProgressBar(total=max(int(s["total"]), 1), show_eta=False, id="convoy-progress")
        yield bar
        with VerticalScroll(classes="convoy-beads"):
            steps = s.get("steps") or []
            yield from step_lines(steps)
            in_tree = {row["id"] for row in steps}
            for row in s["beads"]:
                if row["id"] in in_tree:
                    continue
                style = STATUS_STYLES.get(row["status"], "")
                who = f"  {row['assignee']}" if row.get("assignee") else ""
                blocked = (
                    f"  blocked by {', '.join(row['blocked_by'])}" if row.get("blocked_by") else ""
                )
                # Content.assemble takes text as written (no markup); escape what it stores.
                yield Static(
                    Content.assemble(
                        (f"{row['status']:<12}", style),
                        (safe(row["id"]), "$text-muted"),
                        " ",
                        safe(row.get("title") or ""),
                        (safe(f"  [{row.get('rig') or '?'}]{who}{blocked}"), "$text-muted"),
                    )
                )

    def compose_buttons(self) -> ComposeResult:
        yield Button("Close", id="cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one("#convoy-progress", ProgressBar).update(progress=int(self.status["done"]))
        focus_now(self.query_one(VerticalScroll))
