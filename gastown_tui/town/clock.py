"""Time, injected so that supervisors and tests can run on a fake clock."""

from __future__ import annotations

import time

TYPE_CHECKING = False  # typing and datetime are ~3 ms of every gt call (tests/test_cli_cheap.py)
if TYPE_CHECKING:
    from typing import Any, Protocol

    class Clock(Protocol):  # for annotations only: SystemClock, FakeClock and tests' clocks
        def now(self) -> float:
            """Seconds since the epoch (the wall clock: it may step back or jump)."""
            ...

        def monotonic(self) -> float:
            """Seconds on a clock that never steps back (CLOCK_MONOTONIC: one per boot, shared
            by every process of the machine). Backoffs and intervals are measured on it."""
            ...


class SystemClock:
    def now(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()


class FakeClock:
    """A clock that only moves when told to. `advance` moves both readings; `set` steps the
    wall clock alone, as an NTP correction or a person changing the time does."""

    def __init__(self, start: float = 1_795_000_000.0) -> None:
        self._now = start
        self._mono = 1000.0

    def now(self) -> float:
        return self._now

    def monotonic(self) -> float:
        return self._mono

    def advance(self, seconds: float) -> None:
        self._now += seconds
        self._mono += seconds

    def set(self, value: float) -> None:
        self._now = value


def elapsed_since(entry: dict[str, Any], now: float, mono: float) -> float:
    """Seconds since a recorded moment `{"at": wall, "mono": monotonic}`: on the monotonic
    clock when the record has it (and it is not from before a reboot), else on the wall
    clock; a moment in the wall clock's future (it stepped back) counts as long ago."""
    recorded = entry.get("mono")
    if isinstance(recorded, int | float) and not isinstance(recorded, bool) and mono >= recorded:
        return mono - recorded
    try:
        wall = now - float(entry.get("at") or 0)
    except (TypeError, ValueError):
        return float("inf")
    return wall if wall >= 0 else float("inf")


def iso(ts: float | None = None) -> str:
    """RFC 3339 UTC with milliseconds: sortable as text and readable by `bd`.

    What `datetime.fromtimestamp(ts, UTC)` gives, without importing datetime (every `gt`
    call writes a heartbeat): microseconds rounded half-even as it rounds them, then cut to
    milliseconds (tests/test_cli_cheap.py compares the two)."""
    if ts is None:
        ts = time.time()
    whole = int(ts)
    micros = round((ts - whole) * 1e6)
    if micros >= 1_000_000:
        whole, micros = whole + 1, micros - 1_000_000
    elif micros < 0:
        whole, micros = whole - 1, micros + 1_000_000
    return time.strftime("%Y-%m-%dT%H:%M:%S.", time.gmtime(whole)) + f"{micros // 1000:03d}Z"


def parse_iso(text: str | None) -> float | None:
    """Parse the timestamps we write and the ones `bd` writes. None for empty input."""
    if not text:
        return None
    value = text.strip()
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    from datetime import UTC, datetime

    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def parse_duration(text: str) -> float:
    """'90s', '15m', '1h', '2d', '1h30m' -> seconds. Raises ValueError on anything else."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    value = text.strip().lower()
    if not value:
        raise ValueError("empty duration")
    if value.replace(".", "", 1).isdigit():
        return float(value)
    total = 0.0
    number = ""
    for char in value:
        if char.isdigit() or char == ".":
            number += char
        elif char in units and number:
            total += float(number) * units[char]
            number = ""
        else:
            raise ValueError(f"bad duration {text!r}")
    if number:
        raise ValueError(f"bad duration {text!r} (missing unit after {number})")
    return total


def age(seconds: float) -> str:
    """A short human age: 5s, 3m, 2h, 4d."""
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{int(seconds)}s"
    if seconds < 3600:
        return f"{int(seconds // 60)}m"
    if seconds < 86400:
        return f"{int(seconds // 3600)}h"
    return f"{int(seconds // 86400)}d"
