"""Checks of user input shared by beads, mail and convoys: one clear GtError each.

Text that a terminal would obey (ESC, OSC, C1, DEL) or that reorders what a person reads
(bidi overrides) is refused in one-line fields; town/display.py escapes it on output for
whatever was stored before.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from gastown_tui.town.display import first_unsafe
from gastown_tui.town.errors import GtError

# Bead ids end up in branch names (`polecat/<name>/<id>`), file names and tmux targets:
# letters, digits, '-', '_' and '.', starting with a letter or digit; never '..' nor a
# trailing '.' or '.lock' (git refuses those as branch names). Imported bd ids fit.
BEAD_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
MAX_ID = 64


def one_line(value: str | None, *, what: str, owner: str, limit: int, flag: str = "") -> str:
    """A non-empty single line of at most `limit` characters (a title, a subject)."""
    text = (value or "").strip()
    if not text:
        raise GtError(f"{owner} needs a non-empty {what}{f' ({flag})' if flag else ''}")
    if len(text) > limit:
        raise GtError(f"{what} is {len(text)} characters; the limit is {limit}")
    bad = first_unsafe(text)
    if bad is not None:
        raise GtError(
            f"a {what} must be one line without control characters (found {bad})",
            hint="remove control, escape and bidi characters",
        )
    return text


def text_block(value: str | None, *, what: str, limit: int) -> str:
    """Multi-line text (a description, a body): newlines and tabs are fine, terminal
    controls (ESC, NUL, DEL, C1, bidi overrides) are not."""
    text = value or ""
    if len(text) > limit:
        raise GtError(f"{what} is {len(text)} characters; the limit is {limit}")
    bad = first_unsafe(text.replace("\r\n", "\n"), multiline=True)
    if bad is not None:
        raise GtError(
            f"a {what} must not hold control characters (found {bad})",
            hint="newlines and tabs are fine; remove escape, control and bidi characters",
        )
    return text


def check_bead_id(value: object, *, what: str = "bead id") -> str:
    """A bead id safe in paths, branch names and tmux targets. Refused, never rewritten."""
    text = value if isinstance(value, str) else ""
    if (
        not BEAD_ID_RE.fullmatch(text)
        or ".." in text
        or text.endswith((".", ".lock"))
        or "-" not in text
    ):
        from gastown_tui.town.display import safe

        raise GtError(
            f"invalid {what} {safe(repr(value))[:80]}",
            hint="ids are a prefix, '-', and letters, digits, '.', '_' or '-' (e.g. gt-ab12c)",
        )
    return text


def one_of(value: str, allowed: Iterable[str], *, what: str) -> str:
    choices = tuple(allowed)
    if value not in choices:
        raise GtError(f"unknown {what} {value!r}", hint="one of " + ", ".join(choices))
    return value


ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def env_names(value: object, where: str) -> tuple[str, ...]:
    """A list of environment variable names (a lone string is a list of one)."""
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise GtError(f"{where} must be a list of variable names")
    for name in names:
        if not ENV_NAME.match(name):
            raise GtError(
                f"{where}: {name!r} is not a valid environment variable name",
                hint="letters, digits and _, not starting with a digit",
            )
    return tuple(names)


def env_table(value: object, where: str) -> dict[str, str]:
    """`{NAME = "value"}` with valid variable names and string (or number) values."""
    if not isinstance(value, dict):
        raise GtError(f'{where} must be a table of NAME = "value"')
    env_names(list(value), where)
    out: dict[str, str] = {}
    for key, item in value.items():
        if isinstance(item, bool) or not isinstance(item, str | int | float):
            raise GtError(f"{where}.{key} must be a string")
        if "\0" in str(item):
            raise GtError(f"{where}.{key} contains a NUL byte")
        out[key] = str(item)
    return out
