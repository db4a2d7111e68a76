"""Reading an agent's screen: the question it waits at and the choices it offers.

Agent programs draw their prompts with box borders, a cursor glyph on the selected choice and
lines wrapped at the pane's width, so a pattern is searched both in the raw rows and in the
rows joined into one line (a question wrapped at 60 columns is still found). Pure functions of
the screen text: tests feed them screens captured from the real programs
(tests/data/screens/).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

# Border and cursor glyphs drawn around prompts by Ink (Claude Code, Gemini CLI) and ratatui
# (Codex). Stripped before a row is read.
_BORDER = "│┃║|╭╮╰╯─━═┌┐└┘"
_CURSORS = "❯›>●▶→"
_CHOICE = re.compile(
    # Claude Code drops the space after the number when it cuts a label ("2.Yes, and…").
    rf"^\s*(?P<cursor>[{_CURSORS}])?\s*(?P<key>\d{{1,2}})[.)]\s*(?P<label>[^\d\s].*?)\s*$"
)
_YES_NO = re.compile(r"\((?P<y>[Yy])\)es\s*/\s*\((?P<n>[Nn])\)o")
_SENTENCE_START = re.compile(r"(?:^|[.!:]\s+|\s{2,})(?=[A-Z¿])")
MAX_QUESTION = 160
_PRESS_ENTER = re.compile(r"\bPress Enter to continue", re.IGNORECASE)
ENTER = "enter"  # the one choice of a "Press Enter to continue" screen


@dataclass(frozen=True)
class Choice:
    key: str  # what selects it: "1", "2", or "y" / "n"
    label: str
    selected: bool = False

    def to_dict(self) -> dict[str, object]:
        return {"key": self.key, "label": self.label, "selected": self.selected}


@dataclass(frozen=True)
class Prompt:
    question: str
    choices: tuple[Choice, ...] = ()

    def choice(self, wanted: str) -> Choice | None:
        """The choice `wanted` names: its key ("2", "y") or, case-insensitively, the start of
        its label ("yes", "trust")."""
        text = wanted.strip().lower()
        if not text:
            return None
        for choice in self.choices:
            if choice.key.lower() == text:
                return choice
        matches = [c for c in self.choices if c.label.lower().startswith(text)]
        return matches[0] if len(matches) == 1 else None

    @property
    def selected_index(self) -> int:
        for index, choice in enumerate(self.choices):
            if choice.selected:
                return index
        return 0

    def describe(self) -> str:
        options = " / ".join(f"{c.key}. {c.label}" for c in self.choices)
        return f"{self.question} [{options}]" if options else self.question

    def to_dict(self) -> dict[str, object]:
        return {"question": self.question, "choices": [c.to_dict() for c in self.choices]}


def clean_rows(text: str) -> list[str]:
    """The screen's rows without box borders and trailing blanks."""
    rows = []
    for row in text.splitlines():
        # Boxes nest (Gemini CLI draws a command box inside its prompt box): strip every
        # border glyph and blank at both ends, so a border-only row becomes empty.
        rows.append(row.strip(_BORDER + " \t"))
    while rows and not rows[-1]:
        rows.pop()
    return rows


def flatten(text: str) -> str:
    """The rows joined into one line of single spaces: a wrapped sentence becomes whole."""
    return " ".join(" ".join(clean_rows(text)).split())


def search(pattern: re.Pattern[str], text: str) -> bool:
    """`pattern` in the raw rows or in the flattened screen (it may wrap at any width)."""
    return bool(pattern.search(text) or pattern.search(flatten(text)))


def read_choices(rows: list[str]) -> tuple[int, tuple[Choice, ...]]:
    """The bottom-most run of numbered choices (or a (Y)es/(N)o prompt), and the row where it
    starts (-1 if none). A long label wraps onto rows without a number: they belong to the
    choice above them."""
    end = len(rows) - 1
    last = next((i for i in range(end, -1, -1) if _CHOICE.match(rows[i])), -1)
    if last >= 0:
        first, gap, i = last, 0, last - 1
        while i >= 0 and last - i <= 16:
            if _CHOICE.match(rows[i]):
                first, gap = i, 0
            elif not rows[i] or gap >= 2:
                break
            else:
                gap += 1  # a wrapped label row, if a choice stands above it
            i -= 1
        found: list[Choice] = []
        for row in rows[first : last + 1]:
            match = _CHOICE.match(row)
            if match:
                label = match["label"].rstrip(" ✔✓").strip()
                found.append(Choice(match["key"], label, bool(match["cursor"])))
            elif found and row:
                previous = found[-1]
                found[-1] = Choice(previous.key, f"{previous.label} {row}", previous.selected)
        keys = [c.key for c in found]
        consecutive = keys == [str(n) for n in range(int(keys[0]), int(keys[0]) + len(keys))]
        # A menu always shows its cursor on one choice; numbered rows without one are notes
        # (Claude Code's "Security notes: 1. … 2. …"), not choices.
        if consecutive and any(c.selected for c in found):
            return first, tuple(found)
    for i in range(end, max(-1, end - 6), -1):
        match = _YES_NO.search(rows[i])
        if match:
            return i, (Choice("y", "Yes"), Choice("n", "No"))
    return -1, ()


def read_prompt(text: str, patterns: Iterable[re.Pattern[str]]) -> Prompt | None:
    """The question the screen waits at, if any of `patterns` (the runtime's waiting patterns)
    shows; None when the screen does not wait for a person."""
    compiled = list(patterns)
    if not text or not any(search(p, text) for p in compiled):
        return None
    rows = clean_rows(text)
    start, choices = read_choices(rows)
    question = _question(rows, start, compiled)
    if not choices and _PRESS_ENTER.search(question):
        choices = (Choice(ENTER, "Continue", selected=True),)
    return Prompt(question=question, choices=choices)


def _question(rows: list[str], choices_start: int, patterns: list[re.Pattern[str]]) -> str:
    above = rows[:choices_start] if choices_start >= 0 else rows
    # Rows of a paragraph join with one space; a blank row leaves two, which ends a sentence.
    flat = " ".join(above)
    row_starts = set()
    offset = 0
    for row in above:
        row_starts.add(offset)
        offset += len(row) + 1
    # 1. A pattern that is not itself a choice row names the question: quote its sentence
    # (from the start of its row when the match starts one: "READY" above is not part of it).
    for pattern in patterns:
        match = pattern.search(flat)
        if match and not _CHOICE.match(match.group(0)):
            if match.start() in row_starts:
                return _sentence_around(flat, match.start(), match.end(), begin=match.start())
            return _sentence_around(flat, match.start(), match.end())
    # 2. The nearest sentence above the choices that ends with "?".
    end = flat.rfind("?")
    if end >= 0:
        return _sentence_around(flat, end, end + 1)
    # 3. The nearest non-empty row above the choices.
    for row in reversed(above):
        if row:
            return _clip(row)
    return "a question on its screen"


def _sentence_around(flat: str, start: int, end: int, begin: int | None = None) -> str:
    if begin is None:
        begin = 0
        for match in _SENTENCE_START.finditer(flat, 0, start + 1):
            if match.end() <= start:
                begin = match.end()
    stop = flat.find("?", end - 1)
    if stop < 0 or stop - end > MAX_QUESTION:
        stop = end - 1
    return _clip(flat[begin : stop + 1].strip())


def _clip(text: str) -> str:
    return text if len(text) <= MAX_QUESTION else text[: MAX_QUESTION - 1].rstrip() + "…"
