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
_patterns: dict[bool, re.Pattern[str]] = {}


def _unsafe(multiline: bool) -> re.Pattern[str]:
    """The pattern of what is escaped, compiled on first need: clean text (the common case)
    is told apart by `str.isprintable` alone, and every `gt` call prints."""
    pattern = _patterns.get(multiline)
    if pattern is None:
        keep = "" if multiline else "\t\n"
        pattern = _patterns[multiline] = re.compile(f"[{keep}{_UNSAFE_CLASS}]")
    return pattern


def _clean(value: str, multiline: bool) -> bool:
    """True when `value` holds nothing `_unsafe(multiline)` matches. Every character of the
    class is one `isprintable` refuses (Cc, Cf, Zl, Zp, Cs), so printable text is clean;
    other text is left to the pattern."""
    if multiline and ("\n" in value or "\t" in value):
        value = value.replace("\n", " ").replace("\t", " ")
    return value.isprintable()


def __getattr__(name: str) -> re.Pattern[str]:
    # What input validation refuses in one-line text (titles, names, subjects): all of the
    # above; in multi-line text (descriptions, bodies), which keeps newlines and tabs.
    if name == "UNSAFE_ONE_LINE":
        return _unsafe(False)
    if name == "UNSAFE_TEXT":
        return _unsafe(True)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def safe(text: object, *, multiline: bool = False) -> str:
    """`text` with every control character shown as an escape. `multiline` keeps newlines
    and tabs (a description, a mail body); otherwise they are escaped too (a title, a cell)."""
    value = text if isinstance(text, str) else str(text)
    if _clean(value, multiline):
        return value  # the common case: nothing to do, no copy
    pattern = _unsafe(multiline)
    if pattern.search(value) is None:
        return value
    return pattern.sub(_visible, value)


def safe_lines(text: object) -> str:
    """Multi-line text (newlines and tabs kept)."""
    return safe(text, multiline=True)


def first_unsafe(text: str, *, multiline: bool = False) -> str | None:
    """The first character input validation refuses, shown as an escape; None if clean."""
    if _clean(text, multiline):
        return None
    match = _unsafe(multiline).search(text)
    return None if match is None else _visible(match)


def json_safe(data: bytes) -> bytes:
    """orjson output with DEL, C1 and bidi characters as `\\uXXXX` escapes: the same JSON
    value, but nothing a terminal obeys if a person prints it."""
    text = data.decode("utf-8")
    if _clean(text, True) or _unsafe(True).search(text) is None:
        return data
    return _unsafe(True).sub(lambda m: f"\\u{ord(m.group()):04x}", text).encode("utf-8")
