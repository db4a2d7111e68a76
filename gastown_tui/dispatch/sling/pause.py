"""Test pause points: tests kill `gt sling` at these points (tests/test_sling_kill.py)."""

from __future__ import annotations

import os
import sys
import time

# The process prints `GT_TEST_PAUSED <point>` and sleeps there.
PAUSE_ENV = "GT_TEST_PAUSE_AT"
PAUSE_POINTS = ("before_hook", "after_hook", "after_worktree", "after_window")


def pause_point(name: str) -> None:
    """A test hook: stop here so a test can kill -9 this process at a known point (or, with
    GT_TEST_PAUSE_UNTIL=FILE, change the world, e.g. fill the disk, and let it go on)."""
    if os.environ.get(PAUSE_ENV) == name:
        sys.stderr.write(f"GT_TEST_PAUSED {name}\n")
        sys.stderr.flush()
        until = os.environ.get("GT_TEST_PAUSE_UNTIL")
        deadline = time.monotonic() + float(os.environ.get("GT_TEST_PAUSE_SECONDS", "120"))
        while time.monotonic() < deadline:
            if until and os.path.exists(until):
                return
            time.sleep(0.02)
