"""The nudge protocol, against a real program reading its terminal in a real tmux pane."""

from __future__ import annotations

import itertools
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gastown_tui.tmux import MAX_NUDGE_BYTES, TownTmux, chunk_utf8, nudge, sanitize
from gastown_tui.tmux.nudge import check_nudge, comparable
from gastown_tui.town.errors import GtError
from gastown_tui.town.storage.files import flocked
from tests.tmux_helpers import (
    assert_received,
    real_tmux,
    start_reader,
    throwaway_tmux,
    wait_until,
)


@pytest.fixture
def tmux(tmp_path: Path) -> Iterator[TownTmux]:
    with throwaway_tmux(tmp_path) as server:
        yield server


# -- pure helpers -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("hello", "hello"),
        ("  padded  ", "padded"),
        ("one\ntwo\r\nthree\tfour", "one two three four"),
        ("para one\n\n\n  para two", "para one para two"),
        ("\x1b[1;31mred\x1b[0m text", "red text"),
        ("\x1b]0;window title\x07after", "after"),
        ("\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\", "link"),
        ("\x1bPdevice control\x1b\\kept", "kept"),
        ("\x9b31mC1 CSI", "C1 CSI"),
        ("esc\x1bc reset", "esc reset"),
        ("bell\x07 null\x00 del\x7f back\x08space", "bell null del backspace"),
        ("c1\x85next\x90line", "c1 next"),
        ("keep double  spaces", "keep double  spaces"),
        ("unicode é 日本語 ✓ 🚀 stays", "unicode é 日本語 ✓ 🚀 stays"),
        ("\x1b[31m\n\t\x07", ""),
        ("lone \ud800surrogate", "lone surrogate"),
    ],
)
def test_sanitize(raw: str, clean: str) -> None:
    assert sanitize(raw) == clean


def test_chunk_utf8_never_splits_a_character() -> None:
    text = "aé日🚀" * 300
    for size in (4, 5, 7, 64, 512):
        chunks = chunk_utf8(text, size)
        assert "".join(chunks) == text
        assert all(0 < len(c.encode("utf-8")) <= size for c in chunks)
        # Greedy: a chunk is cut only when the next character would not fit.
        for chunk, following in itertools.pairwise(chunks):
            assert len(chunk.encode("utf-8")) + len(following[0].encode("utf-8")) > size
    assert chunk_utf8("", 512) == []
    with pytest.raises(ValueError):
        chunk_utf8("x", 3)


def test_check_nudge_refuses_empty_and_oversized() -> None:
    with pytest.raises(GtError, match="empty"):
        check_nudge("\x1b[0m\n\t ")
    with pytest.raises(GtError, match="mail") as caught:
        check_nudge("é" * (MAX_NUDGE_BYTES // 2 + 1))
    assert caught.value.exit_code == 2
    assert check_nudge("é" * (MAX_NUDGE_BYTES // 2)) == "é" * (MAX_NUDGE_BYTES // 2)


def test_comparable_ignores_wrapping_and_marks() -> None:
    assert comparable("a b\nc\u0301 d\u200be") == "abcde"


# -- against a real pane ------------------------------------------------------------------------


@real_tmux
def test_nudge_types_submits_and_verifies_once(tmux: TownTmux, tmp_path: Path) -> None:
    info, received = start_reader(tmux, tmp_path)
    lock = tmp_path / "locks" / "furiosa.nudge.lock"

    first = nudge(tmux, info.pane_id, "check your hook", lock_path=lock)
    second = nudge(tmux, info.pane_id, "check your hook", lock_path=lock)

    assert first.delivered and second.delivered, (first, second)
    assert first.attempts == 1 and "submitted" in first.detail
    # Each nudge arrives exactly once, as one line: Enter was pressed, and only once.
    assert_received(received, ["check your hook", "check your hook"])


@real_tmux
def test_nudge_strips_controls_and_escapes(tmux: TownTmux, tmp_path: Path) -> None:
    info, received = start_reader(tmux, tmp_path)
    message = "fix \x1b[31mthe red\x1b[0m test\r\n\tthen run\x07 -v; ends with;"

    result = nudge(tmux, info.pane_id, message, lock_path=tmp_path / "n.lock")

    assert result.delivered, result
    assert_received(received, ["fix the red test then run -v; ends with;"])


@real_tmux
def test_nudge_long_multibyte_message_in_chunks(tmux: TownTmux, tmp_path: Path) -> None:
    info, received = start_reader(tmux, tmp_path)
    words = ["héllo", "wörld", "日本語", "→", "✓", "naïve", "-flag;", "end"]
    message = ""
    index = 0
    while len((message + words[index % len(words)]).encode("utf-8")) < 3000:
        message += words[index % len(words)] + " "
        index += 1
    message = message.strip()
    assert len(chunk_utf8(message, 512)) >= 6

    lock = tmp_path / "n.lock"
    result = nudge(tmux, info.pane_id, message, lock_path=lock, chunk_bytes=512)
    # The same text again, while the first copy scrolls away: it must still be recognised
    # as new text, and submitted once.
    again = nudge(tmux, info.pane_id, message, lock_path=lock, chunk_bytes=512)

    assert result.delivered and again.delivered, (result, again)
    assert "verbatim" not in result.detail + again.detail
    assert_received(received, [message, message])


@real_tmux
def test_nudge_leaves_copy_mode_first(tmux: TownTmux, tmp_path: Path) -> None:
    info, received = start_reader(tmux, tmp_path)
    tmux.run("copy-mode", "-t", info.pane_id)
    assert tmux.in_copy_mode(info.pane_id)

    result = nudge(tmux, info.pane_id, "out of copy mode", lock_path=tmp_path / "n.lock")

    assert result.delivered, result
    assert not tmux.in_copy_mode(info.pane_id)
    assert_received(received, ["out of copy mode"])


@real_tmux
def test_nudge_to_a_dead_pane_fails_fast(tmux: TownTmux, tmp_path: Path) -> None:
    info = tmux.start_window("gt-alpha", "gone", ["sh", "-c", "exit 1"], start_dir=tmp_path, env={})
    wait_until(lambda: not tmux.is_alive(info), what="the pane to die")

    started = time.monotonic()
    result = nudge(tmux, info.pane_id, "anyone there?", lock_path=tmp_path / "n.lock")

    assert time.monotonic() - started < 0.5
    assert not result.delivered and result.attempts == 0
    assert "dead" in result.detail and "gt-alpha:gone" in result.detail


@real_tmux
def test_nudge_to_a_missing_or_foreign_pane_is_refused(tmux: TownTmux, tmp_path: Path) -> None:
    tmux.run("new-session", "-d", "-s", "mine", "cat")
    mine = tmux.run("display-message", "-p", "-t", "=mine:", "#{pane_id}").stdout.strip()
    assert mine.startswith("%")

    for pane in ("%999", mine):
        result = nudge(tmux, pane, "hello", lock_path=tmp_path / "n.lock")
        assert not result.delivered and "no pane" in result.detail
    assert "hello" not in tmux.capture(mine)


@real_tmux
def test_nudge_is_not_claimed_when_the_agent_never_shows_the_text(
    tmux: TownTmux, tmp_path: Path
) -> None:
    # Echo off and never reading: the text cannot show and Enter would not be seen.
    script = "stty -echo; echo READY; sleep 120"
    info = tmux.start_window("gt-alpha", "deaf", ["sh", "-c", script], start_dir=tmp_path, env={})
    wait_until(lambda: "READY" in tmux.capture(info.pane_id), what="the program to start")

    result = nudge(
        tmux, info.pane_id, "are you there", lock_path=tmp_path / "n.lock", echo_timeout=0.3
    )

    assert not result.delivered
    assert result.attempts == 0 and "never showed" in result.detail


@real_tmux
def test_nudge_over_the_limit_raises_before_typing(tmux: TownTmux, tmp_path: Path) -> None:
    info, received = start_reader(tmux, tmp_path)
    with pytest.raises(GtError, match="at most") as caught:
        nudge(tmux, info.pane_id, "x" * (MAX_NUDGE_BYTES + 1), lock_path=tmp_path / "n.lock")
    assert caught.value.hint and "mail" in caught.value.hint
    with pytest.raises(GtError, match="empty"):
        nudge(tmux, info.pane_id, "\x1b[2J\n", lock_path=tmp_path / "n.lock")
    assert "xxxx" not in tmux.capture(info.pane_id)
    assert received.read_bytes() == b""


@real_tmux
def test_nudge_waits_for_the_agent_lock(tmux: TownTmux, tmp_path: Path) -> None:
    info, received = start_reader(tmux, tmp_path)
    lock = tmp_path / "n.lock"
    held = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with flocked(lock):
            held.set()
            release.wait(5)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        held.wait(5)
        result = nudge(tmux, info.pane_id, "blocked", lock_path=lock, lock_timeout=0.2)
    finally:
        release.set()
        holder.join()

    assert not result.delivered and "lock" in result.detail
    assert nudge(tmux, info.pane_id, "now free", lock_path=lock).delivered
    assert_received(received, ["now free"])


@real_tmux
def test_nudge_reaches_a_shell_prompt(tmux: TownTmux, tmp_path: Path) -> None:
    # A real shell: the prompt redraws after Enter and the command actually runs.
    marker = tmp_path / "ran"
    info = tmux.start_window("gt-alpha", "shell", ["sh", "-i"], start_dir=tmp_path, env={})
    wait_until(lambda: tmux.capture(info.pane_id).endswith(("$", "#")), what="the shell prompt")

    result = nudge(tmux, info.pane_id, f"touch {marker}", lock_path=tmp_path / "n.lock")

    assert result.delivered, result
    wait_until(marker.exists, what="the command to run")


# Raw mode: echoes what it is typed but ignores Enter, like an agent whose input swallowed it.
DEAF_TO_ENTER = """\
import os, sys, tty
tty.setraw(0)
os.write(1, b"READY\\r\\n")
while True:
    data = os.read(0, 1024).replace(b"\\r", b"").replace(b"\\n", b"")
    os.write(1, data)
"""


@real_tmux
def test_nudge_reports_failure_when_enter_changes_nothing(tmux: TownTmux, tmp_path: Path) -> None:
    script = tmp_path / "deaf_to_enter.py"
    script.write_text(DEAF_TO_ENTER)
    info = tmux.start_window(
        "gt-alpha", "stuck", [sys.executable, str(script)], start_dir=tmp_path, env={}
    )
    wait_until(lambda: "READY" in tmux.capture(info.pane_id), what="the program to start")

    result = nudge(
        tmux, info.pane_id, "never submitted", lock_path=tmp_path / "n.lock", enter_timeout=0.05
    )

    assert not result.delivered
    assert result.attempts == 4 and "never reacted" in result.detail
    assert "never submitted" in tmux.capture(info.pane_id)
