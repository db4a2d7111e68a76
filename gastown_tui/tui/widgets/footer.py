"""The footer: every key when they fit on one line; otherwise (80x24 over SSH) the keys of the
daily workflow only, so none is cut off half-way. The others stay one `?` (help) or `ctrl+p`
(palette) away, and still work everywhere."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Footer

# FooterKey is Footer's own key widget (textual is pinned exactly, see pyproject.toml).
from textual.widgets._footer import FooterKey

# Actions kept off a narrow footer (they remain bound; `?` lists them).
SECONDARY_ACTIONS = frozenset(
    {"toggle_mark", "search", "filter", "switch_inbox", "pick_theme", "cycle_layout"}
    | {"next_waiting", "cycle_filter"}  # the Rigs tree's (tui/widgets/rigs.py)
)


class TownFooter(Footer):
    def __init__(self) -> None:
        super().__init__(compact=True)
        self._narrow: bool | None = None

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
        if self.narrow != self._narrow:
            self.refresh(recompose=True)

    def compose(self) -> ComposeResult:
        self._narrow = self.narrow
        if not self._narrow:
            yield from super().compose()
            return
        if not self._bindings_ready:
            return
        seen: set[str] = set()
        keys = []
        for _, binding, enabled, tooltip in self.screen.active_bindings.values():
            action = binding.action
            if not binding.show or action in seen or action in SECONDARY_ACTIONS:
                continue
            if action.startswith("focus_pane") or action == "command_palette":
                continue
            seen.add(action)
            keys.append((binding, enabled, tooltip))
        palette = self.screen.active_bindings.get(self.app.COMMAND_PALETTE_BINDING)
        if self.show_command_palette and self.app.ENABLE_COMMAND_PALETTE and palette:
            keys.append((palette[1], palette[2], palette[3]))
        self.styles.grid_size_columns = len(keys)
        for binding, enabled, tooltip in keys:
            yield FooterKey(
                binding.key,
                self.app.get_key_display(binding),
                binding.description,
                binding.action,
                disabled=not enabled,
                tooltip=tooltip,
            ).data_bind(compact=Footer.compact)
