"""The nudge protocol: type a line into an agent's pane and make sure it was submitted.

Gas Town users saw "✓ Nudged" for messages that were never submitted (Gas Town #4666, #59):
the text sat in the agent's input, or Enter arrived while the agent was still taking in the
text and became a newline, or the pane was in copy mode and ate the keys. So every step here
is checked against what the pane actually shows, and `delivered=True` is only ever returned
after the pane changed in answer to Enter:

1. hold the per-agent lock, so two nudges never interleave their keys;
2. refuse a dead or unknown pane at once;
3. leave copy mode (keys typed in copy mode drive the scrollback, not the agent);
4. type the sanitised text with `send-keys -l`, in chunks of at most `chunk_bytes` bytes;
5. wait until the tail of the text shows (the agent has taken it all in), and for long text
   at least a pause that grows with its length (agents that read input in bursts);
6. press Enter, and wait for the screen or cursor to move; press again with backoff if not.
The waits are on the pane itself. One short pause stays (`settle`, 50 ms): Enter pressed the
instant the text echoes can reach a program that is still taking in a paste (Gemini CLI then
types a newline instead of submitting; tests/test_real_codex_gemini.py).
"""

from __future__ import annotations

import re
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from gastown_tui.tmux.server import PaneSnapshot, TownTmux
from gastown_tui.town.display import safe
from gastown_tui.town.errors import GtError, GtFailure, LockTimeout
from gastown_tui.town.storage.files import flocked

MAX_NUDGE_BYTES = 8 * 1024
CHUNK_BYTES = 512
TAIL_CHARS = 48
POLL_INTERVAL = 0.01

_STRING_OR_CONTROL_SEQUENCE = re.compile(
    r"""
      (?:\x1b[]PX^_]|[\x90\x98\x9d\x9e\x9f]) .*? (?:\x07|\x1b\\|\x9c|\Z)  # OSC DCS SOS PM APC
    | (?:\x1b\[|\x9b) [0-?]* [ -/]* [@-~]                                # CSI
    | \x1b [ -/]* [0-~]                                                  # other ESC sequences
    """,
    re.VERBOSE | re.DOTALL,
)
_LINE_BREAKS = "\t\n\r\v\f\x85\u2028\u2029"
_BREAK_RUN = re.compile(f"[ {_LINE_BREAKS}]*[{_LINE_BREAKS}][ {_LINE_BREAKS}]*")
# C0, DEL, C1, and lone surrogates (which cannot even be encoded to be typed).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


@dataclass(frozen=True)
class NudgeResult:
    """`delivered` is True only when the text showed and the pane reacted to Enter."""

    delivered: bool
    attempts: int  # how many times Enter was pressed
    detail: str
    elapsed: float = 0.0  # seconds, lock wait included


def sanitize(message: str) -> str:
    """One clean line: no escape sequences, no control characters.

    An escape sequence typed into an agent's pane is a key press (ESC cancels input in many
    TUIs) and a newline submits early, so both go: tabs and line breaks become one space.
    """
    text = _STRING_OR_CONTROL_SEQUENCE.sub("", message)
    text = _BREAK_RUN.sub(" ", text)
    text = _CONTROL.sub("", text)
    # What is left that a reader could be fooled by (bidi overrides) shows as an escape.
    return safe(text.strip())


def chunk_utf8(text: str, max_bytes: int) -> list[str]:
    """Split `text` into pieces of at most `max_bytes` UTF-8 bytes, never inside a character."""
    if max_bytes < 4:
        raise ValueError("max_bytes must be at least 4, the longest UTF-8 character")
    chunks: list[str] = []
    start = 0
    size = 0
    for index, char in enumerate(text):
        width = len(char.encode("utf-8"))
        if size + width > max_bytes:
            chunks.append(text[start:index])
            start, size = index, 0
        size += width
    if start < len(text):
        chunks.append(text[start:])
    return chunks


def check_nudge(message: str, max_bytes: int = MAX_NUDGE_BYTES) -> str:
    """Sanitise and size-check a nudge. Raises GtError (bad input, exit 2)."""
    text = sanitize(message)
    if not text:
        raise GtError("nothing to nudge: the message is empty once control characters are removed")
    size = len(text.encode("utf-8"))
    if size > max_bytes:
        raise GtError(
            f"nudge is {size} bytes; a nudge is typed into the agent's input and holds at "
            f"most {max_bytes}",
            hint="send it as mail instead (gt mail send) and nudge the agent to read its mail",
        )
    return text


def comparable(text: str) -> str:
    """What survives any terminal's line wrapping and rendering: no spaces, no marks.

    Wrapping inserts line breaks (and a blank cell before a wide character that does not fit);
    combining marks, variation selectors and zero-width characters are stored or dropped
    differently by tmux. Comparing without them makes the echo check robust.
    """
    return "".join(
        char
        for char in text
        if not char.isspace() and unicodedata.category(char)[0] not in ("M", "C")
    )


def settle_time(text: str, settle: float) -> float:
    """Least time from typing to Enter: agents that read input in bursts need longer for
    longer text (8 KB: 160 ms). The echo of the text is waited for in any case."""
    return settle + len(text.encode("utf-8")) / 50_000


def nudge(
    tmux: TownTmux,
    pane_id: str,
    message: str,
    *,
    lock_path: Path,
    chunk_bytes: int = CHUNK_BYTES,
    attempts: int = 4,
    settle: float = 0.05,
    echo_timeout: float = 2.0,
    enter_timeout: float = 0.25,
    lock_timeout: float = 10.0,
) -> NudgeResult:
    """Type `message` into `pane_id`, press Enter, and verify both. Never claims unverified.

    `settle` is added to the least pause between the last chunk and Enter (settle_time);
    `echo_timeout` bounds the
    wait for the text to show; Enter is pressed up to `attempts` times, waiting
    `enter_timeout`, then twice that, and so on, for the pane to react.
    Bad input raises GtError; a delivery that fails returns `delivered=False` with the reason.
    """
    text = check_nudge(message)
    chunks = chunk_utf8(text, chunk_bytes)
    started = time.monotonic()
    presses = _Presses()
    try:
        with flocked(lock_path, timeout=lock_timeout):
            delivered, detail = _deliver(
                tmux,
                pane_id,
                text,
                chunks,
                presses,
                attempts=attempts,
                settle=settle,
                echo_timeout=echo_timeout,
                enter_timeout=enter_timeout,
            )
    except LockTimeout:
        delivered = False
        detail = f"another nudge to this agent held its lock for over {lock_timeout:.0f}s"
    except GtFailure as exc:  # tmux refused a step: the pane vanished, the server hung...
        delivered = False
        detail = f"nudge to {pane_id} failed: {exc}"
    return NudgeResult(delivered, presses.count, detail, time.monotonic() - started)


@dataclass
class _Presses:
    """Enter presses so far, kept outside `_deliver` so a failure part-way still counts them."""

    count: int = 0


def _deliver(
    tmux: TownTmux,
    pane_id: str,
    text: str,
    chunks: list[str],
    presses: _Presses,
    *,
    attempts: int,
    settle: float,
    echo_timeout: float,
    enter_timeout: float,
) -> tuple[bool, str]:
    info = tmux.pane_info(pane_id)
    if info is None:
        return False, f"no pane {pane_id} in the town's tmux server; nothing was typed"
    if info.pane_dead:
        status = f" (exit status {info.dead_status})" if info.dead_status is not None else ""
        return False, f"the agent's pane {info.target} is dead{status}; nothing was typed"
    tail = comparable(text)[-TAIL_CHARS:]
    # Enough scrollback to keep sight of everything the text can push off the screen.
    history = min(len(text) // 10 + 20, 2000)
    before = tmux.snapshot(pane_id, history)
    if before.in_mode:  # the snapshot says so: no separate question to tmux first
        tmux.leave_copy_mode(pane_id)
        before = tmux.snapshot(pane_id, history)
    for chunk in chunks:
        tmux.send_literal(pane_id, chunk)
    typed_at = time.monotonic()
    earliest_enter = typed_at + settle_time(text, settle)

    deadline = typed_at + echo_timeout
    while True:
        typed = tmux.snapshot(pane_id, history)
        if typed.dead:
            return False, f"the agent's pane {info.target} died while the text was typed"
        if tail and _occurrences(typed, tail) > _occurrences(before, tail, covered_by=typed):
            note = ""
            pause = earliest_enter - time.monotonic()
            if pause > 0:  # long text: Enter's effect is judged against the screen after it
                time.sleep(pause)
                typed = tmux.snapshot(pane_id, history)
            break
        if time.monotonic() >= deadline:
            if not tail or typed.changed_from(before):
                # The pane reacted but did not show the text verbatim (an agent that folds
                # pasted text, say). Enter is still needed; its effect is checked below.
                note = "; the typed text was not echoed verbatim"
                break
            return (
                False,
                f"the typed text never showed in {info.target} (agent busy or not reading "
                "input); Enter was not pressed, so the text may sit unsent in its input",
            )
        time.sleep(POLL_INTERVAL)

    for attempt in range(attempts):
        tmux.send_enter(pane_id)
        presses.count += 1
        deadline = time.monotonic() + enter_timeout * 2**attempt
        while True:
            # Not at once: a screen that moved the instant Enter went in may be the program
            # still drawing the typed text (Gemini CLI), not its answer to Enter.
            time.sleep(POLL_INTERVAL)
            after = tmux.snapshot(pane_id)
            if after.changed_from(typed):
                return True, f"submitted to {info.target}{note}"
            if after.dead:
                return False, f"the agent's pane {info.target} died before submitting"
            if time.monotonic() >= deadline:
                break
    return (
        False,
        f"Enter pressed {attempts} times but {info.target} never reacted; the text may be "
        "sitting unsent in the agent's input",
    )


def _occurrences(snapshot: PaneSnapshot, tail: str, covered_by: PaneSnapshot | None = None) -> int:
    """How often `tail` shows in the snapshot's rows.

    With `covered_by`, only rows that the later snapshot `covered_by` also holds count: old
    text scrolling out of the captured range between two snapshots must not hide a new one.
    """
    rows = snapshot.rows
    if covered_by is not None:
        skip = covered_by.first_row_abs - snapshot.first_row_abs
        if skip > 0:
            rows = rows[skip:]
    return comparable("".join(rows)).count(tail)
