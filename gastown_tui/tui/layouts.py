"""Pane layouts as .tcss files.

A layout file arranges the panes of the main screen (#town, #rigs, #convoys, #mail, #feed,
#preview, #tabs, `.pane`, `.pane.-active`). Every layout is loaded at start, each one wrapped
in a rule scoped to `TownScreen.layout-<name>`, so switching layouts is only switching a class
on the screen: no re-parse, no flicker, and a bad file is found at start rather than when the
user presses `L`. A file that does not parse is reported (all of them in one notification) and
left out; the app never fails to start because of a layout.

Folders, later ones overriding earlier ones by name: the wheel's `_data/layouts`, the
repository's `layouts/`, then `<town>/layouts/`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from textual.css.stylesheet import Stylesheet, StylesheetError, StylesheetParseError

from gastown_tui.tui.themes import data_dirs

DEFAULT_LAYOUT = "default"
COMPACT_LAYOUT = "compact"
# Below this many columns or rows the default grid's panes are too small to read (80x24 over
# SSH gave panes of 25 columns): the compact layout shows instead, and the default comes back
# when the terminal grows. Other layouts are the person's explicit choice and stay.
COMPACT_BELOW = (100, 30)
# The order `L` cycles through; other layouts follow in name order.
PREFERRED_ORDER = ("default", "compact", "focus")
NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,39}$")
SCREEN_TYPE = "TownScreen"


@dataclass(frozen=True)
class Layout:
    name: str
    path: Path
    css: str  # already scoped to the screen class

    @property
    def css_class(self) -> str:
        return layout_class(self.name)


@dataclass
class LayoutLoad:
    layouts: dict[str, Layout] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def names(self) -> list[str]:
        first = [n for n in PREFERRED_ORDER if n in self.layouts]
        return first + sorted(n for n in self.layouts if n not in first)


def fitted_layout(chosen: str, width: int, height: int, available: dict[str, Layout]) -> str:
    """The layout to show for `chosen` at this size."""
    small = width < COMPACT_BELOW[0] or height < COMPACT_BELOW[1]
    if chosen == DEFAULT_LAYOUT and small and COMPACT_LAYOUT in available:
        return COMPACT_LAYOUT
    return chosen


def layout_class(name: str) -> str:
    return f"layout-{name}"


def scope(name: str, css: str) -> str:
    # Textual CSS nests: every rule of the file applies only under the active layout's class.
    return f"{SCREEN_TYPE}.{layout_class(name)} {{\n{css}\n}}\n"


def layout_folders(town_root: Path | None = None) -> list[Path]:
    folders = data_dirs("layouts")
    if town_root is not None:
        folders.append(town_root / "layouts")
    return folders


def _error_text(error: Exception) -> str:
    if isinstance(error, StylesheetParseError):
        messages: list[str] = []
        for rule in getattr(error.errors, "rules", []):
            for token, message in rule.errors:
                line = getattr(token, "location", (0, 0))[0]
                # The scoping wrapper adds one line at the top.
                messages.append(f"line {max(line, 1)}: {message}")
        if messages:
            return "; ".join(str(m) for m in messages[:3])
    return str(error) or type(error).__name__


def load_layouts(folders: list[Path], variables: dict[str, str]) -> LayoutLoad:
    """Read and check every layout. `variables` are the app's CSS variables (theme and $gt-*),
    so a layout that uses an unknown variable is caught here."""
    result = LayoutLoad()
    for folder in folders:
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.tcss")):
            name = path.stem
            if not NAME_RE.match(name):
                result.errors.append(f"{path.name}: a layout name must be lowercase letters/-")
                continue
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                result.errors.append(f"{path.name}: cannot read it: {exc}")
                continue
            css = scope(name, text)
            check = Stylesheet(variables=variables)
            try:
                check.add_source(css, read_from=(str(path), ""))
                check.parse()
            except (StylesheetError, StylesheetParseError) as exc:
                result.errors.append(f"{path.name}: {_error_text(exc)}")
                continue
            except Exception as exc:  # the CSS tokenizer raises its own types too
                result.errors.append(f"{path.name}: {_error_text(exc)}")
                continue
            result.layouts[name] = Layout(name, path, css)
    return result
