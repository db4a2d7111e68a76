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
5. wait until the tail of the text shows (the agent has taken it all in), then until the screen
   holds still (the agent has finished drawing it), and for long text at least a pause that
   grows with its length (agents that read input in bursts);
6. press Enter, and wait for the screen or cursor to move; press again with backoff if not.
Every wait is on the pane itself, except `settle`: the least time from typing to Enter that a
program's own paste detection needs (runtimes/presets.py `enter_delay`: Gemini CLI takes an
Enter within 30 ms of the last key for a newline; tests/test_real_codex_gemini.py). Callers
that do not know the program keep the cautious 50 ms.
"""

from __future__ import annotations

import re
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from gastown_tui.tmux.server import PaneSnapshot, TownTmux, WindowInfo
from gastown_tui.town.display import safe
from gastown_tui.town.errors import GtError, GtFailure, LockTimeout
from gastown_tui.town.storage.files import flocked

MAX_NUDGE_BYTES = 8 * 1024
CHUNK_BYTES = 512
TAIL_CHARS = 48
POLL_INTERVAL = 0.01
FIRST_POLL = 0.002  # a program that echoes at once is seen on the first or second look
STILL_TIMEOUT = 0.25  # an animated screen (a spinner) never holds still: Enter after this
STILL_GAP = 0.0025  # the least time between the two looks that find the screen still

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
    info: WindowInfo | None = None,
) -> NudgeResult:
    """Type `message` into `pane_id`, press Enter, and verify both. Never claims unverified.

    `settle` is added to the least pause between the last chunk and Enter (settle_time);
    `echo_timeout` bounds the wait for the text to show; `info`, the pane's window as the
    caller just read it, saves asking tmux again (the first snapshot still says whether the
    pane is dead or gone). Enter is pressed up to `attempts` times, waiting `enter_timeout`,
    then twice that, and so on, for the pane to react.
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
                info=info,
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
    info: WindowInfo | None,
) -> tuple[bool, str]:
    if info is None or info.pane_id != pane_id:
        info = tmux.pane_info(pane_id)
        if info is None:
            return False, f"no pane {pane_id} in the town's tmux server; nothing was typed"
    if info.pane_dead:
        return False, (
            f"the agent's pane {info.target} is dead (its agent {info.how_it_ended});"
            " nothing was typed"
        )
    tail = comparable(text)[-TAIL_CHARS:]
    # Enough scrollback to keep sight of everything the text can push off the screen.
    history = min(len(text) // 10 + 20, 2000)
    before = tmux.snapshot(pane_id, history)  # GtFailure when the pane is gone: nudge() says so
    if before.dead:  # died since the caller looked
        return False, f"the agent's pane {info.target} is dead; nothing was typed"
    if before.in_mode:  # the snapshot says so: no separate question to tmux first
        tmux.leave_copy_mode(pane_id)
        before = tmux.snapshot(pane_id, history)
    for chunk in chunks:
        tmux.send_literal(pane_id, chunk)
    typed_at = time.monotonic()
    earliest_enter = typed_at + settle_time(text, settle)

    # Wait for the echo, then for a still screen: two looks in a row that agree, so the
    # program has drawn the text and what moves after Enter is its answer to Enter.
    deadline = typed_at + echo_timeout
    note = ""
    echoed: PaneSnapshot | None = None
    echoed_at = 0.0
    pause = FIRST_POLL
    looked_at = 0.0
    while True:
        if echoed is not None:
            # "Holds still" means over a few ms, not between two looks 0.2 ms apart down a
            # control-mode client (tmux/server.py `batched`): as far apart as two processes.
            gap = looked_at + STILL_GAP - time.monotonic()
            if gap > 0:
                time.sleep(gap)
        typed = tmux.snapshot(pane_id, history)
        now = looked_at = time.monotonic()
        if typed.dead:
            return False, f"the agent's pane {info.target} died while the text was typed"
        if echoed is None:
            if tail and _occurrences(typed, tail) > _occurrences(before, tail, covered_by=typed):
                echoed, echoed_at = typed, now
            elif now >= deadline:
                if not tail or typed.changed_from(before):
                    # The pane reacted but did not show the text verbatim (an agent that
                    # folds pasted text, say). Enter is still needed; its effect is checked
                    # below.
                    note = "; the typed text was not echoed verbatim"
                    break
                return (
                    False,
                    f"the typed text never showed in {info.target} (agent busy or not "
                    "reading input); Enter was not pressed, so the text may sit unsent in its "
                    "input",
                )
            else:
                time.sleep(pause)
                pause = min(pause * 2, POLL_INTERVAL)
            continue
        still = not typed.changed_from(echoed)
        if now >= earliest_enter and (still or now >= echoed_at + STILL_TIMEOUT):
            break
        echoed = typed
        if now < earliest_enter:  # long text or a program's paste window: wait it out
            time.sleep(earliest_enter - now)
        elif not still:
            time.sleep(FIRST_POLL)

    for attempt in range(attempts):
        tmux.send_enter(pane_id)
        presses.count += 1
        deadline = time.monotonic() + enter_timeout * 2**attempt
        pause = FIRST_POLL
        while True:
            after = tmux.snapshot(pane_id)
            if after.changed_from(typed):
                return True, f"submitted to {info.target}{note}"
            if after.dead:
                return False, f"the agent's pane {info.target} died before submitting"
            if time.monotonic() >= deadline:
                break
            time.sleep(pause)
            pause = min(pause * 2, POLL_INTERVAL)
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
