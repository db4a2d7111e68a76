"""Beads from the app: create (title, description, priority, type, labels, rig, dependencies),
edit, close, reopen, comment, and undo of the last close or edit. Every write goes through
town/beads.py (its checks refuse bad input, shown inline, nothing written); the bead view
(screens/bead.py) shows dependencies both ways and the bead's history from the events."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Button, Input, Label, Select

from gastown_tui.town.errors import GtError
from gastown_tui.tui.screens.base import Dialog

if TYPE_CHECKING:
    from gastown_tui.town.town import Town

TYPES = ("task", "bug", "feature", "chore", "epic", "docs")
HISTORY = 30  # events shown in the bead view


@dataclass
class Undo:
    """The last close or edit made in this app: enough to put the bead back."""

    kind: str  # "close" | "edit"
    bead_id: str
    before: dict[str, Any]

    def describe(self) -> str:
        return f"{'close' if self.kind == 'close' else 'edit'} of {self.bead_id}"


def bead_view(town: Town, bead_id: str) -> dict[str, Any]:
    """The bead in full plus `dependents` (beads that depend on it: the other direction),
    titles of its dependencies, and `history` (its events, oldest first)."""
    bead = town.beads.get(resolve_bead_id(town, bead_id))
    out = bead.to_dict()
    deps = town.beads.get_many(d.on for d in bead.deps)
    out["dep_titles"] = {k: v.title for k, v in deps.items()}
    out["dep_status"] = {k: v.status for k, v in deps.items()}
    dependents = []
    for other in town.beads.list_docs(include_closed=True):
        for dep in other.get("deps") or []:
            if dep.get("on") == bead.id:
                dependents.append(
                    {
                        "id": other["id"],
                        "title": other.get("title", ""),
                        "type": dep.get("type"),
                        "status": other.get("status"),
                    }
                )
    out["dependents"] = dependents
    history = [
        {"ts": e.ts, "type": e.type, "actor": e.actor, "msg": e.msg}
        for e in town.events.read(rig=bead.rig)
        if e.bead == bead.id
    ]
    out["history"] = history[-HISTORY:]
    return out


def resolve_bead_id(town: Town, text: str) -> str:
    """Ids are lower case: `WR-K9P34` is `wr-k9p34`. A mistyped one says what was meant."""
    wanted = (text or "").strip().lower()
    if town.beads.find(wanted) is not None:
        return wanted
    import difflib

    known = [str(d["id"]) for d in town.beads.list_docs(include_closed=True)]
    close = difflib.get_close_matches(wanted, known, n=1, cutoff=0.6)
    hint = f"did you mean {close[0]}?" if close else "list beads with `gt bead list --all`"
    raise GtError(f"unknown bead {text!r}", hint=hint)


def _labels(text: str) -> list[str]:
    return [p.strip() for p in text.replace(";", ",").split(",") if p.strip()]


def _deps(town: Town, text: str) -> list[tuple[str, str]]:
    out = []
    for item in _labels(text):
        kind, _, ref = item.rpartition(" ")
        out.append((resolve_bead_id(town, ref), kind.strip() or "blocks"))
    return out


class BeadFormScreen(Dialog[Any]):
    """Create a bead, or edit one (`bead` given). Dismisses with (bead, Undo | None)."""

    def __init__(
        self,
        town: Town,
        rigs: list[str],
        *,
        bead: dict[str, Any] | None = None,
        rig: str | None = None,
    ) -> None:
        super().__init__(classes="bead-form")
        self.town = town
        self.rigs = rigs
        self.bead = bead
        self.rig = rig if rig in rigs else (rigs[0] if rigs else None)

    def dialog_title(self) -> str:
        return f"Edit {self.bead['id']}" if self.bead else "New bead"

    def compose_body(self) -> ComposeResult:
        b = self.bead or {}
        rows: list[tuple[str, Any]] = [
            (
                "title",
                Input(
                    b.get("title", ""),
                    placeholder="what needs doing",
                    id="bead-title",
                    compact=True,
                ),
            ),
            (
                "text",
                Input(
                    b.get("description", ""),
                    placeholder="description (optional)",
                    id="bead-description",
                    compact=True,
                ),
            ),
            (
                "priority",
                Select(
                    [(f"P{n}", n) for n in range(5)],
                    value=int(b.get("priority", 2)),
                    allow_blank=False,
                    id="bead-priority",
                    compact=True,
                ),
            ),
            (
                "type",
                Select(
                    [(t, t) for t in TYPES if t in TYPES],
                    value=b.get("type", "task") if b.get("type", "task") in TYPES else "task",
                    allow_blank=False,
                    id="bead-type",
                    compact=True,
                ),
            ),
            (
                "labels",
                Input(
                    ", ".join(b.get("labels") or []),
                    placeholder="cli, docs",
                    id="bead-labels",
                    compact=True,
                ),
            ),
        ]
        if not self.bead:
            rows.append(
                (
                    "rig",
                    Select(
                        [(r, r) for r in self.rigs],
                        value=self.rig or Select.BLANK,
                        allow_blank=not self.rigs,
                        id="bead-rig",
                        compact=True,
                    ),
                )
            )
            rows.append(
                (
                    "deps",
                    Input(
                        placeholder="blocks wr-abc12, related wr-def34",
                        id="bead-deps",
                        compact=True,
                    ),
                )
            )
        for label, widget in rows:
            with Horizontal(classes="form-row"):
                yield Label(label, classes="form-label")
                yield widget

    def compose_buttons(self) -> ComposeResult:
        yield Button("Save" if self.bead else "Create", variant="primary", id="save", compact=True)
        yield Button("Cancel", id="cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one("#bead-title", Input).focus()

    def _value(self, selector: str) -> Any:
        return self.query_one(selector).value  # type: ignore[attr-defined]

    @on(Input.Submitted)
    @on(Button.Pressed, "#save")
    def save(self, event: Any) -> None:
        event.stop()
        title = self._value("#bead-title")
        description = self._value("#bead-description")
        priority = self._value("#bead-priority")
        kind = self._value("#bead-type")
        labels = _labels(self._value("#bead-labels"))
        town = self.town
        if self.bead is None:
            rig = self._value("#bead-rig")
            deps_text = self._value("#bead-deps")

            def create() -> Any:
                if not rig or rig == Select.BLANK:
                    raise GtError("pick a rig for the bead", hint="add one with `gt rig add`")
                bead = town.beads.create(
                    title,
                    rig=str(rig),
                    description=description,
                    priority=priority,
                    type=kind,
                    labels=labels,
                    deps=_deps(town, deps_text),
                )
                return bead, None

            self.submit(create)
            return
        before = dict(self.bead)
        old_labels = set(before.get("labels") or [])

        def edit() -> Any:
            bead = town.beads.update(
                before["id"],
                title=title,
                description=description,
                priority=priority,
                type=kind,
                add_labels=sorted(set(labels) - old_labels),
                remove_labels=sorted(old_labels - set(labels)),
            )
            return bead, Undo("edit", before["id"], before)

        self.submit(edit)


class TextPromptScreen(Dialog[Any]):
    """One line of text for a bead action (comment, close reason), run by `action`."""

    def __init__(self, title: str, placeholder: str, action: Any, button: str) -> None:
        super().__init__(classes="bead-prompt")
        self.title_text = title
        self.placeholder = placeholder
        self.action = action
        self.button = button

    def dialog_title(self) -> str:
        return self.title_text

    def compose_body(self) -> ComposeResult:
        yield Input(placeholder=self.placeholder, id="bead-prompt", compact=True)

    def compose_buttons(self) -> ComposeResult:
        yield Button(self.button, variant="primary", id="ok", compact=True)
        yield Button("Cancel", id="cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    @on(Input.Submitted)
    @on(Button.Pressed, "#ok")
    def ok(self, event: Any) -> None:
        event.stop()
        text = self.query_one(Input).value
        self.submit(lambda: self.action(text))


def undo(town: Town, last: Undo) -> str:
    """Put the bead back as it was before the last close or edit made in the app."""
    before = last.before
    if last.kind == "close":
        town.beads.reopen(last.bead_id)
        if before.get("assignee") or before.get("status") not in ("open", "closed"):
            town.beads.update(
                last.bead_id, status=before.get("status") or "open", assignee=before.get("assignee")
            )
        return f"undid the close of {last.bead_id}"
    current = town.beads.get(last.bead_id)
    labels = set(before.get("labels") or [])
    town.beads.update(
        last.bead_id,
        title=before["title"],
        description=before.get("description", ""),
        priority=before["priority"],
        type=before["type"],
        add_labels=sorted(labels - set(current.labels)),
        remove_labels=sorted(set(current.labels) - labels),
    )
    return f"undid the edit of {last.bead_id}"
