"""The app's actions and keys in one table, and the keymap built from it.

Each `AppAction` is one key of the main screen: its binding id (what town.toml's [keymap]
names), key, action, footer label, what help and the palette say, and what it needs selected.
`BINDINGS`, the help rows, the palette's actions and `check_action` all come from here; the
number keys come from the pane registry (tui/panes.py). An action's code stays a method
`action_<name>` of the app (or of a mixin such as tui/review_actions.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from textual.binding import Binding, BindingType

from gastown_tui.tui.panes import PANES, key_owners
from gastown_tui.tui.screens.help import KeyHelp
from gastown_tui.tui.widgets.pane import Pane

if TYPE_CHECKING:
    from textual.app import App

PANE_GROUP = Binding.Group("panes", compact=True)
NEEDS_WHY = {"polecat": "select a polecat", "message": "select a message"}


@dataclass(frozen=True)
class AppAction:
    id: str  # the binding id, for [keymap]
    key: str
    action: str
    label: str  # the footer's word
    help: str  # what help and the palette say
    show: bool = True  # in the footer
    needs: str = ""  # "polecat" or "message": unavailable until one is selected

    def binding(self) -> Binding:
        return Binding(self.key, self.action, self.label, show=self.show, id=self.id)


ACTIONS: tuple[AppAction, ...] = (
    AppAction("sling", "s", "sling", "Sling", "Sling a bead (or new work) onto a polecat"),
    AppAction("nudge", "n", "nudge", "Nudge", "Nudge the selected polecat", needs="polecat"),
    AppAction(
        "attach",
        "a",
        "attach",
        "Attach",
        "Attach to the selected polecat's window",
        needs="polecat",
    ),
    AppAction("compose", "m", "compose", "Mail", "Compose mail"),
    AppAction("reply", "r", "reply", "Reply", "Reply to the selected message", needs="message"),
    AppAction("convoy", "c", "new_convoy", "Convoy", "New convoy from the marked beads"),
    AppAction("search", "slash", "search", "Search", "Search the feed"),
    AppAction("filter", "f", "filter", "Filter", "Filter the feed by rig, agent, type"),
    AppAction("problems", "p", "problems", "Problems", "Problems: what needs you"),
    AppAction("inbox", "i", "switch_inbox", "Inbox", "Read another agent's inbox"),
    AppAction("help", "question_mark", "help", "Help", "Help: the keys"),
    AppAction("theme", "t", "pick_theme", "Theme", "Pick a theme"),
    AppAction("layout", "L", "cycle_layout", "Layout", "Next layout"),
    AppAction("quit", "q", "request_quit", "Quit", "Quit (agents keep running)"),
    # Review and control (tui/screens/review.py, control.py); in help and the palette.
    AppAction(
        "merge-queue",
        "M",
        "merge_queue",
        "Merges",
        "Merge queue: requests, states, verify logs (Enter reviews)",
        show=False,
    ),
    AppAction(
        "review",
        "v",
        "review",
        "Review",
        "Review the selected polecat's branch or merge request",
        show=False,
        needs="polecat",
    ),
    AppAction(
        "control",
        "z",
        "control",
        "Control",
        "Control the selected polecat: stop, pause, thaw, restart, kill, release",
        show=False,
        needs="polecat",
    ),
    AppAction(
        "new-bead",
        "b",
        "new_bead",
        "New bead",
        "New bead: title, text, priority, type, labels, rig, dependencies",
        show=False,
    ),
    AppAction("undo", "u", "undo", "Undo", "Undo the last close or edit of a bead", show=False),
)
ACTION_HELP: dict[str, str] = {a.action: a.help for a in ACTIONS}
NEEDS: dict[str, str] = {a.action: a.needs for a in ACTIONS if a.needs}


def pane_bindings(panes: tuple[type[Pane], ...] = PANES) -> list[Binding]:
    """1..N focus the panes, in registry order."""
    return [
        Binding(
            str(n),
            f"focus_pane('{pane.PANE}')",
            pane.TITLE,
            id=f"pane-{pane.PANE}",
            group=PANE_GROUP,
        )
        for n, pane in enumerate(panes, 1)
    ]


def app_bindings(panes: tuple[type[Pane], ...] = PANES) -> list[BindingType]:
    return [*(a.binding() for a in ACTIONS), *pane_bindings(panes)]


def dialog_key_owners() -> list[Any]:
    """The dialogs whose keys [keymap] may remap."""
    from gastown_tui.tui.review_actions import review_binding_owners
    from gastown_tui.tui.screens.base import ConfirmScreen, Dialog
    from gastown_tui.tui.screens.bead import BeadScreen
    from gastown_tui.tui.screens.convoy import ConvoyCreateScreen
    from gastown_tui.tui.screens.mail import ComposeScreen, InboxScreen, ReadScreen, ReplyScreen
    from gastown_tui.tui.screens.problems import ProblemsScreen
    from gastown_tui.tui.screens.sling import SlingScreen

    owners: list[Any] = [Dialog, ConfirmScreen, BeadScreen, ConvoyCreateScreen, ComposeScreen]
    owners += [InboxScreen, ReadScreen, ReplyScreen, ProblemsScreen, SlingScreen]
    return owners + review_binding_owners()


def binding_ids(app_type: type[App[Any]]) -> set[str]:
    """Every remappable binding id: the app's, its panes' and its dialogs'."""
    panes = getattr(app_type, "PANES", PANES)
    owners = [app_type, *key_owners(panes), *dialog_key_owners()]
    return {
        binding.id
        for owner in owners
        for binding in owner.BINDINGS
        if isinstance(binding, Binding) and binding.id
    }


def unknown_keymap_ids(keymap: dict[str, str], known: set[str]) -> str | None:
    """A warning for [keymap] ids that name no action, or None."""
    unknown = sorted(k for k in keymap if k not in known)
    if not unknown:
        return None
    names = ", ".join(repr(u) for u in unknown)
    return f"town.toml [keymap]: no action {names} (? lists the ids)"


def key_help_rows(app: Any) -> list[KeyHelp]:
    """What help shows: every key after the keymap, whether it works now, and why not."""
    rows: list[KeyHelp] = []
    for binding in app.BINDINGS:
        assert isinstance(binding, Binding)
        action = binding.action.split("(", 1)[0]
        description = ACTION_HELP.get(action) or f"Show the {binding.description} pane"
        available = app.check_action(action, ()) is not False
        why = NEEDS_WHY[NEEDS[action]] if action in NEEDS and not available else ""
        rows.append(KeyHelp(app.key_for(binding), description, binding.id or "", available, why))
    rows.append(KeyHelp("space", "Mark a ready bead (Rigs)", "mark"))
    # Keys of a pane's own widgets that say what they do (KEY_HELP: binding id -> text).
    for owner in key_owners(getattr(type(app), "PANES", PANES)):
        helps = getattr(owner, "KEY_HELP", {})
        for binding in owner.BINDINGS:
            if isinstance(binding, Binding) and binding.id in helps:
                rows.append(KeyHelp(app.key_for(binding), helps[binding.id], binding.id))
    rows.append(KeyHelp("enter", "Attach (polecat), sling (bead), open (mail, convoy)", "-"))
    rows.append(KeyHelp("esc", "Clear the feed's search and filter", "feed-clear"))
    rows.append(KeyHelp("ctrl+p", "Command palette", "-"))
    return rows
