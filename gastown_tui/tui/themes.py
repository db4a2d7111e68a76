"""Themes as TOML files, loaded into `textual.theme.Theme`.

A theme file is flat TOML: the Theme fields (`name`, `primary`, `background`, `dark`, ...) at
the top and a `[variables]` table for Textual's and our own `$gt-*` variables. Every colour is
checked with `Color.parse` before Textual sees it, so a typo is reported with the file and key
instead of breaking the stylesheet. Bad files are collected, never raised: the caller shows
them all in one notification and the app runs on the themes that did load.

Where themes come from, later folders overriding earlier ones by name:
1. `gastown_tui/_data/themes` (inside the wheel),
2. the repository's `themes/` (editable installs),
3. `<town>/themes/` (a user's own themes for this town).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from textual.color import Color, ColorParseError
from textual.theme import Theme

import gastown_tui

DEFAULT_THEME = "wasteland"
NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,39}$")
COLOUR_FIELDS = (
    "primary",
    "secondary",
    "warning",
    "error",
    "success",
    "accent",
    "foreground",
    "background",
    "surface",
    "panel",
    "boost",
)
KNOWN_FIELDS = {"name", "dark", "luminosity_spread", "text_alpha", "ansi", "variables"} | set(
    COLOUR_FIELDS
)
# Theme variables whose values are not colours (Textual's own style variables).
_STYLE_SUFFIXES = ("-text-style", "-style")
# `#81a1c1 35%` is a colour with an alpha percentage: valid in Textual variables.
_ALPHA_SUFFIX = re.compile(r"\s+\d{1,3}%$")


def data_dirs(kind: str) -> list[Path]:
    """Folders holding shipped `kind` files (themes, layouts): wheel first, then the repo."""
    package = Path(gastown_tui.__file__).resolve().parent
    return [package / "_data" / kind, package.parent / kind]


@dataclass
class ThemeLoad:
    themes: dict[str, Theme] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    sources: dict[str, Path] = field(default_factory=dict)


def _check_colour(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{where} must be a colour string, not {value!r}")
    try:
        Color.parse(_ALPHA_SUFFIX.sub("", value.strip()))
    except ColorParseError:
        raise ValueError(f"{where} = {value!r} is not a colour") from None
    return value.strip()


def theme_from_toml(path: Path) -> Theme:
    """Parse and validate one theme file. Raises ValueError with a message a person can act on."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"cannot read it: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"not valid TOML: {exc}") from None
    name = data.get("name", path.stem)
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise ValueError(f"name {name!r} must be lowercase letters, digits and '-'")
    unknown = sorted(set(data) - KNOWN_FIELDS)
    if unknown:
        raise ValueError("unknown keys: " + ", ".join(unknown))
    if "primary" not in data:
        raise ValueError("a theme needs at least `primary`")
    colours = {key: _check_colour(data[key], key) for key in COLOUR_FIELDS if key in data}
    variables_raw = data.get("variables", {})
    if not isinstance(variables_raw, dict):
        raise ValueError("[variables] must be a table")
    variables: dict[str, str] = {}
    for key, value in variables_raw.items():
        if key.endswith(_STYLE_SUFFIXES):
            if not isinstance(value, str):
                raise ValueError(f"variables.{key} must be a string")
            variables[key] = value
        else:
            variables[key] = _check_colour(value, f"variables.{key}")
    dark = data.get("dark", True)
    if not isinstance(dark, bool):
        raise ValueError("dark must be true or false")
    extra: dict[str, Any] = {}
    for key in ("luminosity_spread", "text_alpha"):
        if key in data:
            value = data[key]
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"{key} must be a number")
            extra[key] = float(value)
    if "ansi" in data:
        extra["ansi"] = bool(data["ansi"])
    theme = Theme(name=name, dark=dark, variables=variables, **colours, **extra)
    try:
        # Textual derives dozens of shades from these; make sure it can before we register.
        theme.to_color_system().generate()
    except Exception as exc:
        raise ValueError(f"Textual cannot use it: {exc}") from None
    return theme


def load_themes(folders: list[Path]) -> ThemeLoad:
    """Every `*.toml` theme in `folders`; failures are collected in `errors`."""
    result = ThemeLoad()
    for folder in folders:
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.toml")):
            try:
                theme = theme_from_toml(path)
            except ValueError as exc:
                result.errors.append(f"{path.name}: {exc}")
                continue
            result.themes[theme.name] = theme
            result.sources[theme.name] = path
    return result


def theme_folders(town_root: Path | None = None) -> list[Path]:
    folders = data_dirs("themes")
    if town_root is not None:
        folders.append(town_root / "themes")
    return folders


FALLBACK_VARIABLES = {
    "gt-working": "#4EBF71",
    "gt-idle": "#8A8A8A",
    "gt-starting": "#5DADE2",
    "gt-waiting": "#FFB000",
    "gt-stalled": "#FFA62B",
    "gt-gupp": "#FF7A1A",
    "gt-zombie": "#BA3C5B",
    "gt-landed": "#E0C068",
    "gt-unread": "#FFFFFF",
    "gt-problem": "#BA3C5B",
    "gt-muted": "#8A8A8A",
}


def theme_variable_defaults(theme: Theme | None) -> dict[str, str]:
    """Our `$gt-*` variables for a theme that does not set them: derived from the theme's own
    colours so that any Textual theme still shows states sensibly (None: fixed fallbacks)."""
    if theme is None:
        return dict(FALLBACK_VARIABLES)
    dark = theme.dark
    fg = theme.foreground or ("#e0e0e0" if dark else "#1e1e1e")
    bg = theme.background or ("#121212" if dark else "#efefef")
    try:
        muted = Color.parse(fg).blend(Color.parse(bg), 0.45).hex
    except ColorParseError:
        muted = FALLBACK_VARIABLES["gt-muted"]
    success = theme.success or FALLBACK_VARIABLES["gt-working"]
    warning = theme.warning or FALLBACK_VARIABLES["gt-stalled"]
    error = theme.error or FALLBACK_VARIABLES["gt-zombie"]
    accent = theme.accent or theme.primary
    return {
        "gt-working": success,
        "gt-idle": muted,
        "gt-starting": theme.secondary or theme.primary,
        "gt-waiting": warning,
        "gt-stalled": warning,
        "gt-gupp": accent,
        "gt-zombie": error,
        "gt-landed": accent,
        "gt-unread": fg,
        "gt-problem": error,
        "gt-muted": muted,
    }
