"""The panes of the main screen, in key order: `PANES[0]` is on key 1, and so on.

How to add a pane:

1. Write `tui/widgets/<name>.py` with a `Pane` subclass (tui/widgets/pane.py): `PANE` (its
   id) and `TITLE`; `KEY_OWNERS` if widgets inside it have remappable BINDINGS; `build(app)`
   if it needs something from the app. If it shows data of its own, also `SCOPES` (which
   changes reload it, views/changes.py), `load(data)` (a thread worker; put the query in
   views/queries.py so other front ends get it too) and `show_loaded(snapshot, now)`.
2. Add the class to `PANES` below.
3. Give it a place in the layouts: layouts/default.tcss lays the panes out in a grid (give
   `#<name>` a cell, or grow the grid); compact.tcss and focus.tcss show the active pane
   through their `.pane` rules, so they need lines only to place it specially.

Its number key, its tab in the pane strip, its border title, composing it, focusing it,
loading it at start and on every change of its scopes (tui/refresh.py), showing ages again,
and the keymap's knowledge of its keys all follow from this list.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gastown_tui.tui.widgets.convoys import ConvoysPane
from gastown_tui.tui.widgets.feed import FeedPane
from gastown_tui.tui.widgets.mail import MailPane
from gastown_tui.tui.widgets.merge_queue import MergeQueuePane
from gastown_tui.tui.widgets.pane import Pane
from gastown_tui.tui.widgets.preview import PreviewPane
from gastown_tui.tui.widgets.rigs import RigsPane

if TYPE_CHECKING:
    from gastown_tui.tui.app import GasTownApp

PANES: tuple[type[Pane], ...] = (
    RigsPane,
    ConvoysPane,
    MailPane,
    FeedPane,
    PreviewPane,
    MergeQueuePane,
)


def pane_names(panes: tuple[type[Pane], ...] = PANES) -> tuple[str, ...]:
    return tuple(pane.PANE for pane in panes)


def pane_labels(panes: tuple[type[Pane], ...] = PANES) -> tuple[tuple[str, str], ...]:
    """(id, "1 Rigs") for the pane strip and the number keys."""
    return tuple((pane.PANE, f"{n} {pane.TITLE}") for n, pane in enumerate(panes, 1))


def build_panes(app: GasTownApp, panes: tuple[type[Pane], ...] = PANES) -> list[Pane]:
    """One instance of each pane, numbered in key order, in screen order (`BEFORE`), for the
    main screen's compose."""
    built: list[Pane] = []
    for number, kind in enumerate(panes, 1):
        pane = kind.build(app)
        pane.number = number
        built.append(pane)
    for pane in [p for p in built if p.BEFORE]:
        built.remove(pane)
        after = next((i for i, p in enumerate(built) if p.PANE == pane.BEFORE), len(built))
        built.insert(after, pane)
    return built


def loading_panes(panes: tuple[type[Pane], ...] = PANES) -> tuple[type[Pane], ...]:
    """The panes that load data of their own (they declare SCOPES)."""
    return tuple(pane for pane in panes if pane.SCOPES)


def key_owners(panes: tuple[type[Pane], ...] = PANES) -> list[Any]:
    """Every class whose BINDINGS belong to a pane (for the keymap's known ids)."""
    return [owner for pane in panes for owner in (pane, *pane.KEY_OWNERS)]
