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


# The process a `gt` call was made from. A call run by the town's command server (cmdserver.py)
# is a child of the server, so the server's process sets the caller's parent here.
_caller_parent: int | None = None


def set_caller_parent(pid: int) -> None:
    global _caller_parent
    _caller_parent = pid


def caller_parent() -> int:
    """The parent of the `gt` process the person or agent ran (its shell, its agent)."""
    return _caller_parent if _caller_parent is not None else os.getppid()
