"""Processes of the town's agents and supervisors, as the kernel sees them."""

from __future__ import annotations

import os


def pid_alive(pid: int | None) -> bool:
    """The process exists and is not a zombie (where /proc can tell)."""
    if not pid or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read()
    except OSError:
        return True
    # The state letter follows the command name, which is in parentheses and may hold spaces.
    end = stat.rfind(b")")
    return stat[end + 2 : end + 3] != b"Z"
