"""The footer: every key when they fit on one line; otherwise (80x24 over SSH) the keys of the
daily workflow only, so none is cut off half-way. The others stay one `?` (help) or `ctrl+p`
(palette) away, and still work everywhere."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Footer

# FooterKey is Footer's own key widget (textual is pinned exactly, see pyproject.toml).
from textual.widgets._footer import FooterKey

# Actions kept off a narrow footer (they remain bound; `?` lists them).
SECONDARY_ACTIONS = frozenset(
    {"toggle_mark", "search", "filter", "switch_inbox", "pick_theme", "cycle_layout"}
    | {"next_waiting", "cycle_filter"}  # the Rigs tree's (tui/widgets/rigs.py)
)


# The daily workflow's keys, in the order a narrow footer keeps them (the rest follow in their
# bindings' order while they fit).
PRIORITY = (
    "sling", "nudge", "attach", "review", "compose", "new_bead", "problems", "help",
    "request_quit",
)  # fmt: skip
# Not in the wide footer (help and the palette list them), but worth a narrow one's room
# while they apply (`v` on a polecat).
PROMOTED_ACTIONS = frozenset({"review", "new_bead"})


def _rank(action: str) -> int:
    return PRIORITY.index(action) if action in PRIORITY else len(PRIORITY)


class TownFooter(Footer):
    def __init__(self) -> None:
        super().__init__(compact=True)
        self._narrow: bool | None = None
        self._composed: tuple[object, ...] | None = None  # `_plan()` of the keys on screen

    def _plan(self) -> tuple[object, ...]:
        """What compose builds the keys from, less whether each is enabled (except where that
        decides if a key is there at all: promoted ones in a narrow footer)."""
        narrow = self.narrow
        keys = tuple(
            (
                *(binding.key, binding.action, binding.description, binding.show, binding.group),
                tooltip,
                enabled and binding.action in PROMOTED_ACTIONS if narrow else None,
            )
            for _, binding, enabled, tooltip in self.screen.active_bindings.values()
        )
        return (narrow, self.app.size.width, keys)

    def bindings_changed(self, screen: Any) -> None:
        # Footer recomposes on every change of the bindings. Selecting the first polecat
        # only enables nudge and attach, and a recompose (remove and mount every key, lay the
        # screen out twice) made that key take ~200 ms instead of ~10 (bench_scale agents).
        self._bindings_ready = True
        if not screen.app.app_focus or not self.is_attached or screen is not self.screen:
            return
        self.call_after_refresh(self._update_keys)

    async def _update_keys(self) -> None:
        if not self.is_attached:
            return
        if self._composed is None or self._plan() != self._composed:
            await self.recompose()
            return
        enabled: dict[str, bool] = {}
        for _, binding, on, _ in self.screen.active_bindings.values():
            enabled.setdefault(binding.action, on)
        for key in self.query(FooterKey):
            off = not enabled.get(key.action, not key._disabled)
            if off != key._disabled:
                key._disabled = off  # read by FooterKey on a click
                key.set_class(off, "-disabled")

    @property
    def narrow(self) -> bool:
        """Would every key fit on one line? (key, label and a gap of two for each)"""
        if not self._bindings_ready:
            return False
        needed = sum(
            len(self.app.get_key_display(binding)) + len(binding.description) + 2
            for _, binding, _, _ in self.screen.active_bindings.values()
            if binding.show
        )
        return needed > self.app.size.width

    def on_resize(self) -> None:
        if self.narrow != self._narrow or self.narrow:
            self.refresh(recompose=True)

    def _cells(self, binding: Binding) -> int:
        """Cells one key takes in a compact footer: `k Label` and a space."""
        return len(self.app.get_key_display(binding)) + len(binding.description) + 2

    def compose(self) -> ComposeResult:
        self._narrow = self.narrow
        self._composed = self._plan() if self._bindings_ready else None
        if not self._narrow:
            yield from super().compose()
            return
        if not self._bindings_ready:
            return
        seen: set[str] = set()
        candidates = []
        for _, binding, enabled, tooltip in self.screen.active_bindings.values():
            action = binding.action
            promoted = action in PROMOTED_ACTIONS and enabled
            if action in seen or action in SECONDARY_ACTIONS:
                continue
            if not (binding.show or promoted):
                continue
            if action.startswith("focus_pane") or action == "command_palette":
                continue
            seen.add(action)
            candidates.append((binding, enabled, tooltip))
        candidates.sort(key=lambda item: _rank(item[0].action))
        palette = self.screen.active_bindings.get(self.app.COMMAND_PALETTE_BINDING)
        room = self.app.size.width
        if self.show_command_palette and self.app.ENABLE_COMMAND_PALETTE and palette:
            room -= self._cells(palette[1])
        # The most important keys first, as many as fit: none is cut half-way.
        keys = []
        for binding, enabled, tooltip in candidates:
            cells = self._cells(binding)
            if cells <= room:
                keys.append((binding, enabled, tooltip))
                room -= cells
        if self.show_command_palette and self.app.ENABLE_COMMAND_PALETTE and palette:
            keys.append((palette[1], palette[2], palette[3]))
        yield from footer_keys(self, keys)


class ScreenFooter(Footer):
    """The footer of a screen over the main one (review, merge queue): only the keys of that
    screen and its widgets. The main screen's keys (sling, mail, search...) are still bound at
    the app, but listing them here pushed the screen's own keys off an 80-column line."""

    def __init__(self) -> None:
        super().__init__(compact=True)

    def compose(self) -> ComposeResult:
        if not self._bindings_ready:
            return
        seen: set[str] = set()
        keys = []
        for node, binding, enabled, tooltip in self.screen.active_bindings.values():
            if not binding.show or node is self.app or binding.action in seen:
                continue
            seen.add(binding.action)
            keys.append((binding, enabled, tooltip))
        yield from footer_keys(self, keys)


def footer_keys(footer: Footer, keys: list[tuple[Any, bool, str]]) -> Iterator[FooterKey]:
    """One FooterKey per (binding, enabled, tooltip), in a grid of that many columns."""
    footer.styles.grid_size_columns = len(keys)
    for binding, enabled, tooltip in keys:
        yield FooterKey(
            binding.key,
            footer.app.get_key_display(binding),
            binding.description,
            binding.action,
            disabled=not enabled,
            tooltip=tooltip,
        ).data_bind(compact=Footer.compact)
