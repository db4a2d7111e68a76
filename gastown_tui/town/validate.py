"""Checks of user input shared by beads, mail and convoys: one clear GtError each."""

from __future__ import annotations

from collections.abc import Iterable

from gastown_tui.town.errors import GtError


def one_line(value: str | None, *, what: str, owner: str, limit: int, flag: str = "") -> str:
    """A non-empty single line of at most `limit` characters (a title, a subject)."""
    text = (value or "").strip()
    if not text:
        raise GtError(f"{owner} needs a non-empty {what}{f' ({flag})' if flag else ''}")
    if len(text) > limit:
        raise GtError(f"{what} is {len(text)} characters; the limit is {limit}")
    if any(ord(c) < 32 for c in text):
        raise GtError(f"a {what} must be one line without control characters")
    return text


def one_of(value: str, allowed: Iterable[str], *, what: str) -> str:
    choices = tuple(allowed)
    if value not in choices:
        raise GtError(f"unknown {what} {value!r}", hint="one of " + ", ".join(choices))
    return value
