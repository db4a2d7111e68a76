"""Processes of the town's agents and supervisors, as the kernel sees them."""

from __future__ import annotations

import os


def proc_stat(pid: int) -> tuple[str, list[str]] | None:
    """(command name, fields from the state on) of /proc/<pid>/stat, or None when the process
    is gone or there is no /proc. fields[0] is the state letter (R, S, D, T, t, Z…), fields[3]
    the session id, fields[19] the start time; `man 5 proc` numbers them from 3."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            raw = handle.read().decode(errors="replace")
    except OSError:
        return None
    # The command name is in parentheses and may hold spaces or ')': split after the last.
    start, end = raw.find("("), raw.rfind(")")
    return raw[start + 1 : end], raw[end + 2 :].split()


def process_state(pid: int) -> str | None:
    """The state letter of process `pid`, or None if it is gone. "T" is stopped by a signal,
    "t" by a tracer, "Z" exited and not yet reaped."""
    stat = proc_stat(pid)
    return stat[1][0] if stat and stat[1] else None


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
    return process_state(pid) != "Z"


# The process a `gt` call was made from. A call run by the town's command server (cmdserver.py)
# is a child of the server, so the server's process sets the caller's parent here.
_caller_parent: int | None = None


def set_caller_parent(pid: int) -> None:
    global _caller_parent
    _caller_parent = pid


def caller_parent() -> int:
    """The parent of the `gt` process the person or agent ran (its shell, its agent)."""
    return _caller_parent if _caller_parent is not None else os.getppid()
