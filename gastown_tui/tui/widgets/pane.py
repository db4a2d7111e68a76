"""What every pane of the main screen shares: a border with a numbered title, and telling the
app when it gets the focus (the focused pane is the active one: highlighted, and the one shown
by the compact and focus layouts). The panes and their order are in tui/panes.py, which says
how to add one."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from rich.style import Style
from textual import events
from textual.app import App
from textual.color import Color, ColorParseError
from textual.containers import Vertical
from textual.widget import Widget

from gastown_tui.tui.keys import focus_now
from gastown_tui.tui.messages import PaneActivated

if TYPE_CHECKING:
    from gastown_tui.tui.app import GasTownApp
    from gastown_tui.views.actions import TownData


def theme_style(app: App[object], variable: str, *, bold: bool = False, dim: bool = False) -> Style:
    """A Rich style from a theme variable (`gt-working`, `text-muted`...), for Rich renderables
    (tree labels, feed lines) that CSS does not reach."""
    value = app.theme_variables.get(variable.lstrip("$"))
    color = None
    if value:
        try:
            color = Color.parse(value.split(" ")[0]).rich_color
        except ColorParseError:
            color = None
    return Style(color=color, bold=bold or None, dim=dim or None)


class Pane(Vertical):
    """One pane of the main screen. A pane that shows data of its own declares `SCOPES` (the
    change scopes, views/changes.py, that make it reload: "town", "rig:*", "archive"...),
    `load` (runs in a thread worker) and `show_loaded` (on the UI thread); the app's refresh
    engine (tui/refresh.py) then loads it at start and whenever one of its scopes changes."""

    PANE: ClassVar[str] = ""  # its id, the name layouts and `focus_pane` use
    TITLE: ClassVar[str] = ""
    # Widgets whose BINDINGS town.toml's [keymap] may remap (the pane's own always count).
    KEY_OWNERS: ClassVar[tuple[type[Any], ...]] = ()
    SCOPES: ClassVar[tuple[str, ...]] = ()  # empty: the pane loads nothing itself
    # Compose it just before this pane (layouts place panes in a grid in screen order); "":
    # in its key order.
    BEFORE: ClassVar[str] = ""

    def __init__(self) -> None:
        super().__init__(id=self.PANE, classes="pane")
        self._border_texts: dict[str, str] = {}
        self.number = 0  # its key (1, 2...): its place in tui/panes.py, set by build_panes

    @classmethod
    def build(cls, app: GasTownApp) -> Pane:
        """A new instance for `app`'s main screen (override to pass what it needs)."""
        return cls()

    @staticmethod
    def load(data: TownData) -> Any:
        """Read what the pane shows (in a thread worker; may block). Only with SCOPES."""
        raise NotImplementedError

    def show_loaded(self, snapshot: Any, now: float) -> None:
        """Show what `load` returned."""
        raise NotImplementedError

    def refresh_ages(self, snapshot: Any, now: float) -> None:
        """Every little while, with no new data: re-render ages ("landed 3m ago"). A pane with
        many rows should touch only the rows on screen (ConvoysPane does)."""
        self.show_loaded(snapshot, now)

    @property
    def label(self) -> str:
        return f"{self.number} {self.TITLE}"

    def on_mount(self) -> None:
        self.set_border(title=self.label)

    def set_border(self, *, title: str | None = None, subtitle: str | None = None) -> None:
        """Set the border's title or subtitle when it changes. Textual repaints the whole pane
        on every assignment, even of the same text, and some panes are told the same thing on
        every look at the polecats (a look every few seconds)."""
        for name, text in (("border_title", title), ("border_subtitle", subtitle)):
            if text is not None and self._border_texts.get(name) != text:
                self._border_texts[name] = text
                setattr(self, name, text)

    def on_descendant_focus(self, _event: events.DescendantFocus) -> None:
        self.post_message(PaneActivated(self.PANE))

    def main_widget(self) -> Widget:
        """The widget that takes the focus when the pane is chosen with its number key."""
        # `can_focus`, not `focusable`: a pane hidden by the layout is about to be shown.
        for child in self.query("*"):
            if child.can_focus and not child.disabled:
                return child
        return self

    def focus_main(self) -> None:
        target = self.main_widget()
        if target is not self:
            focus_now(target)
