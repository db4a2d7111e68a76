"""Shared helpers for the tmux tests: a throwaway server per test and a stdin-reading agent.

Every test gets its own socket (`gt-test-<uuid>`) and the server is killed afterwards, so
tests never see each other's windows nor the user's own tmux.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from gastown_tui.tmux import TownTmux, WindowInfo
from tests.conftest import wait_until

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., object])

needs_tmux = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


def real_tmux(test: F) -> F:
    """Mark a test as needing a real tmux binary (skipped without one)."""
    return pytest.mark.tmux(needs_tmux(test))


# Reads lines from its terminal and appends each, byte for byte, to the file in argv[1].
# It prints nothing per line, so only the cursor shows that Enter was taken: the hardest
# case for the nudge's verification.
READER = """\
import sys
out = open(sys.argv[1], "ab", buffering=0)
sys.stdout.write("READY\\n")
sys.stdout.flush()
for line in sys.stdin.buffer:
    out.write(line)
"""


@contextlib.contextmanager
def throwaway_tmux(tmp_path: Path) -> Iterator[TownTmux]:
    """A TownTmux on a fresh socket, ignoring the user's tmux.conf; killed on exit."""
    tmux = TownTmux(
        f"gt-test-{uuid.uuid4().hex[:12]}",
        tmp_path / "locks",
        config_file=Path(os.devnull),
    )
    try:
        yield tmux
    finally:
        tmux.kill_server()


def start_reader(
    tmux: TownTmux, tmp_path: Path, window: str = "reader", session: str = "gt-alpha"
) -> tuple[WindowInfo, Path]:
    """Start the stdin reader in a window and wait until it is reading."""
    script = tmp_path / "reader.py"
    script.write_text(READER)
    received = tmp_path / f"{window}.received"
    received.write_bytes(b"")
    info = tmux.start_window(
        session,
        window,
        [sys.executable, str(script), str(received)],
        start_dir=tmp_path,
        env={"GT_AGENT": f"alpha/{window}"},
    )
    wait_until(lambda: "READY" in tmux.capture(info.pane_id), what="the reader to start")
    return info, received


def received_lines(path: Path) -> list[str]:
    return path.read_bytes().decode("utf-8").split("\n")[:-1]


def assert_received(path: Path, expected: list[str], timeout: float = 3.0) -> None:
    """The reader recorded exactly `expected`.

    A verified nudge means the terminal took the line; the program reads and records it a
    moment later, so poll until the lines are all there, then compare exactly.
    """
    deadline = time.monotonic() + timeout
    while True:
        lines = received_lines(path)
        if len(lines) >= len(expected) or time.monotonic() >= deadline:
            break
        time.sleep(0.01)
    assert lines == expected
