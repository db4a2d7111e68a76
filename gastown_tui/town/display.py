"""Text from beads, mail and agents made safe to show: one function for every output path.

Stored text can hold bytes a terminal obeys (ESC/OSC sequences set a pane's title or colours,
BEL rings, a C1 CSI moves the cursor) or that reorder what a person reads (bidi overrides).
`safe` turns each into a visible escape (`\\x1b`, `\\u202e`) so it is shown, never obeyed.
Used by the CLI listings and detail views, `gt prime`, nudges typed into panes, and the app.
"""

from __future__ import annotations

import re

# C0 controls, DEL, C1 controls, and the Unicode controls that change how text around them
# reads: bidi embeddings/overrides/isolates and marks, and the line/paragraph separators.
_UNSAFE_CLASS = (
    "\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069"
    # Lone surrogates: what Python makes of bytes that are not UTF-8 (argv, file names);
    # they cannot even be written out.
    "\ud800-\udfff"
)
_UNSAFE = re.compile(f"[\t\n{_UNSAFE_CLASS}]")
_UNSAFE_KEEP_LINES = re.compile(f"[{_UNSAFE_CLASS}]")
# What input validation refuses in one-line text (titles, names, subjects): all of the above.
UNSAFE_ONE_LINE = _UNSAFE
# ... and in multi-line text (descriptions, bodies), which keeps newlines and tabs.
UNSAFE_TEXT = _UNSAFE_KEEP_LINES


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def safe(text: object, *, multiline: bool = False) -> str:
    """`text` with every control character shown as an escape. `multiline` keeps newlines
    and tabs (a description, a mail body); otherwise they are escaped too (a title, a cell)."""
    value = text if isinstance(text, str) else str(text)
    pattern = _UNSAFE_KEEP_LINES if multiline else _UNSAFE
    if pattern.search(value) is None:
        return value  # the common case: nothing to do, no copy
    return pattern.sub(_visible, value)


def safe_lines(text: object) -> str:
    """Multi-line text (newlines and tabs kept)."""
    return safe(text, multiline=True)


def first_unsafe(text: str, *, multiline: bool = False) -> str | None:
    """The first character input validation refuses, shown as an escape; None if clean."""
    match = (_UNSAFE_KEEP_LINES if multiline else _UNSAFE).search(text)
    return None if match is None else _visible(match)


def json_safe(data: bytes) -> bytes:
    """orjson output with DEL, C1 and bidi characters as `\\uXXXX` escapes: the same JSON
    value, but nothing a terminal obeys if a person prints it."""
    text = data.decode("utf-8")
    if _UNSAFE_KEEP_LINES.search(text) is None:
        return data
    return _UNSAFE_KEEP_LINES.sub(lambda m: f"\\u{ord(m.group()):04x}", text).encode("utf-8")
