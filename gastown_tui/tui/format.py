"""Small text helpers shared by the panes: state glyphs, ages, times. No widgets here."""

from __future__ import annotations

import time

from gastown_tui.town.clock import age, parse_iso
from gastown_tui.town.polecats import POLECAT_STATES

# One cell wide each, distinct in shape as well as colour (colour-blind readers, mono themes).
STATE_GLYPHS: dict[str, str] = {
    "working": "●",
    "idle": "○",
    "starting": "◌",
    "waiting": "◆",
    "stalled": "▲",
    "gupp": "▲",
    "zombie": "✖",
    "paused": "‖",  # held by a person (gt polecat pause)
}
# Shown in words too: the states a person must notice.
LOUD_STATES = {"waiting": "WAITING", "stalled": "stalled", "gupp": "GUPP", "zombie": "ZOMBIE"}
PROBLEM_GLYPHS: dict[str, str] = {
    **STATE_GLYPHS,
    "escalation": "!",
    "merge-failed": "⨯",
    "help": "?",
    "urgent": "!",
    "needs-human": "☛",
}


def glyph(state: str) -> str:
    return STATE_GLYPHS.get(state, "·")


def state_var(state: str) -> str:
    """The theme variable colouring a state (see GasTownApp.get_theme_variable_defaults)."""
    return f"$gt-{state}" if state in POLECAT_STATES else "$gt-muted"


def ago(then: float | None, now: float) -> str:
    if then is None:
        return ""
    return age(now - then)


def iso_ago(text: str | None, now: float) -> str:
    return ago(parse_iso(text), now)


def clock_time(text: str) -> str:
    """HH:MM:SS in local time for an RFC 3339 stamp (the feed's first column)."""
    ts = parse_iso(text)
    if ts is None:
        return "--:--:--"
    return time.strftime("%H:%M:%S", time.localtime(ts))


def short_date(text: str, now: float) -> str:
    """`14:05` today, `Nov 18` otherwise: the mail list's date column."""
    ts = parse_iso(text)
    if ts is None:
        return ""
    if time.strftime("%Y%m%d", time.localtime(ts)) == time.strftime("%Y%m%d", time.localtime(now)):
        return time.strftime("%H:%M", time.localtime(ts))
    return time.strftime("%b %d", time.localtime(ts))


def clip(text: str, width: int) -> str:
    if width <= 0:
        return ""
    text = " ".join(text.split())
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"
