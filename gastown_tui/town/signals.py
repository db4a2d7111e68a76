"""What agents tell the town about themselves through their program's own hooks.

Claude Code runs `gt signal waiting` from its Notification hook (a permission prompt or a
question) and `gt signal turn-ended` from its Stop hook (runtimes/presets.py installs them
beside the SessionStart hook). Each call replaces one small file per agent under
`.runtime/signals/`; the observer (dispatch/live.py) notices the folder changed and folds the
signal into the live state at once, and `dispatch/observe.py` reads it when no observer runs.

This module is what the hook's `gt` process imports: the standard library only, no store, no
config, so the call an agent's program makes at every turn costs a bare interpreter start.
Signals are hints, rewritten all the time: no fsync.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

KINDS = ("waiting", "turn-ended")
FOLDER = "signals"


@dataclass(frozen=True)
class Signal:
    agent: str
    kind: str  # one of KINDS
    at: float  # epoch seconds
    message: str = ""
    type: str = ""  # the program's own word for it (Claude Code: notification_type)


def signals_dir(runtime: Path) -> Path:
    return runtime / FOLDER


def _file(runtime: Path, agent: str) -> Path:
    # As town/paths.py encode_address: `alpha/furiosa` -> `alpha~furiosa`.
    return signals_dir(runtime) / f"{agent.replace('/', '~')}.json"


def record(runtime: Path, signal: Signal) -> Path:
    """Replace the agent's signal (atomic rename; the folder is made 0700 like the town's)."""
    folder = signals_dir(runtime)
    if not folder.is_dir():
        old = os.umask(0o077)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        finally:
            os.umask(old)
    path = _file(runtime, signal.agent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    doc = {
        "agent": signal.agent,
        "kind": signal.kind,
        "at": signal.at,
        "message": signal.message,
        "type": signal.type,
    }
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, json.dumps(doc).encode("utf-8"))
    finally:
        os.close(fd)
    os.replace(tmp, path)
    return path


def stamp(runtime: Path) -> int:
    """Changes whenever a signal is recorded (the folder's mtime): a cheap look for news."""
    try:
        return os.stat(signals_dir(runtime)).st_mtime_ns
    except OSError:
        return 0


def read_all(runtime: Path) -> dict[str, Signal]:
    """Every agent's latest signal, by address. Unreadable files are skipped."""
    out: dict[str, Signal] = {}
    folder = signals_dir(runtime)
    try:
        names = os.listdir(folder)
    except OSError:
        return out
    for name in names:
        if name.startswith(".") or not name.endswith(".json"):
            continue
        with contextlib.suppress(OSError, ValueError, TypeError, KeyError):
            doc = json.loads((folder / name).read_bytes())
            signal = Signal(
                agent=str(doc["agent"]),
                kind=str(doc["kind"]),
                at=float(doc["at"]),
                message=str(doc.get("message") or "")[:300],
                type=str(doc.get("type") or "")[:40],
            )
            if signal.kind in KINDS:
                out[signal.agent] = signal
    return out
