"""The append-only activity log, `events.jsonl`: one JSON object a line, newest last.

Appends take the events lock so lines from many processes never interleave. A line torn by a
killed writer is fenced off with a newline before the next append and skipped by readers:
the log is a record of what happened, never the source of truth for beads or mail.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from gastown_tui.town import jsoncodec
from gastown_tui.town.clock import SystemClock, iso, parse_iso
from gastown_tui.town.errors import LockTimeout
from gastown_tui.town.models import Event
from gastown_tui.town.paths import TownPaths
from gastown_tui.town.storage.files import append_line, flocked

TYPE_CHECKING = False  # typing's import is ~2 ms of every gt call (tests/test_cli_cheap.py)
if TYPE_CHECKING:
    from typing import Any

    from gastown_tui.town.clock import Clock


def _encode(doc: dict[str, Any]) -> bytes:
    return jsoncodec.dumps(doc) + b"\n"


def _stderr(text: str) -> None:
    try:
        sys.stderr.write(text + "\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


def parse_line(line: bytes, loads: Callable[[bytes], Any] = jsoncodec.loads) -> Event | None:
    line = line.strip()
    if not line:
        return None
    try:
        doc = loads(line)
    except ValueError:
        return None
    if not isinstance(doc, dict) or "type" not in doc:
        return None
    return Event.from_dict(doc)


class EventLog:
    def __init__(self, paths: TownPaths, clock: Clock | None = None) -> None:
        self.paths = paths
        self.path = paths.events
        self.clock = clock or SystemClock()
        self.failed: list[dict[str, Any]] = []  # events that could not be appended
        self.warn: Callable[[str], None] = _stderr

    @property
    def lock_path(self) -> Path:
        return self.paths.lock("events")

    def append(
        self,
        type: str,
        *,
        actor: str,
        rig: str | None = None,
        bead: str | None = None,
        msg: str = "",
        **extra: Any,
    ) -> Event:
        """Record that something happened. Never raises for a full disk or an unwritable log:
        an event is appended after the store write it describes, so a failure here must not
        turn a committed operation into a reported failure (which a retry would duplicate).
        It is retried once, then reported as a warning on stderr and kept in `failed`."""
        event = Event(iso(self.clock.now()), type, actor, rig, bead, msg, dict(extra))
        doc = event.to_dict()
        for attempt in range(2):
            try:
                self.append_raw([doc])
                return event
            except (OSError, LockTimeout) as exc:
                if attempt == 0:
                    continue
                reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
                self.failed.append(doc)
                self.warn(
                    f"gt: warning: the {type} event was not written to {self.path}: {reason}"
                    " (the change itself is saved)"
                )
        return event

    def append_raw(self, docs: Iterable[dict[str, Any]]) -> None:
        payload = b"".join(_encode(doc) for doc in docs)
        if not payload:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with flocked(self.lock_path):
            append_line(self.path, payload)

    def iter_all(self) -> Iterator[Event]:
        try:
            with open(self.path, "rb") as handle:
                loads = jsoncodec.loader_for(os.fstat(handle.fileno()).st_size)
                for line in handle:
                    event = parse_line(line, loads)
                    if event is not None:
                        yield event
        except FileNotFoundError:
            return

    def read(
        self,
        *,
        since: float | None = None,
        limit: int | None = None,
        rig: str | None = None,
        actor: str | None = None,
        types: Iterable[str] | None = None,
    ) -> list[Event]:
        """Events oldest first, filtered. `limit` keeps the newest `limit`."""
        wanted_types = set(types) if types else None
        since_text = iso(since) if since is not None else None
        out: list[Event] = []
        for event in self.iter_all():
            if since_text is not None and event.ts < since_text:
                # Imported or clock-skewed lines may be older; compare precisely when unsure.
                ts = parse_iso(event.ts)
                if ts is None or ts < (since or 0):
                    continue
            if rig and event.rig != rig:
                continue
            if actor and event.actor != actor:
                continue
            if wanted_types and not _type_matches(event.type, wanted_types):
                continue
            out.append(event)
        if limit is not None:
            out = out[-limit:] if limit > 0 else []
        return out

    def tail(self, count: int) -> list[Event]:
        """The newest `count` events, reading only the end of the file."""
        return self.tail_and_follow(count)[0]

    def tail_and_follow(self, count: int) -> tuple[list[Event], EventFollower]:
        """The newest `count` events and a follower that continues exactly after them."""
        follower = EventFollower(self.path, from_end=False)
        try:
            with open(self.path, "rb") as handle:
                stat = os.fstat(handle.fileno())
                end = stat.st_size
                block = 64 * 1024
                data = b""
                pos = end
                while count > 0 and pos > 0 and data.count(b"\n") <= count:
                    step = min(block, pos)
                    pos -= step
                    handle.seek(pos)
                    data = handle.read(step) + data
        except FileNotFoundError:
            return [], follower
        complete = data.rfind(b"\n") + 1 if data else 0
        # Stop at the last complete line; a half-written one is the follower's to finish.
        follower.seek(stat.st_ino, end - (len(data) - complete))
        lines = data[:complete].split(b"\n")
        if pos > 0:
            lines = lines[1:]  # the first line may be cut
        events = [e for e in (parse_line(line) for line in lines) if e is not None]
        return (events[-count:] if count > 0 else []), follower

    def follower(self, from_end: bool = True) -> EventFollower:
        return EventFollower(self.path, from_end=from_end)


def _type_matches(event_type: str, wanted: set[str]) -> bool:
    """`bead` matches `bead.created`; `bead.created` matches itself."""
    if event_type in wanted:
        return True
    return any(event_type.startswith(w + ".") for w in wanted)


class _Position:
    __slots__ = ("inode", "offset")

    def __init__(self, inode: int = 0, offset: int = 0) -> None:
        self.inode = inode
        self.offset = offset


class EventFollower:
    """Reads events appended since the last call, like `tail -f`; survives rotation."""

    def __init__(self, path: Path, from_end: bool = True) -> None:
        self.path = path
        self._pos = _Position()
        if from_end:
            try:
                stat = self.path.stat()
                self._pos = _Position(stat.st_ino, stat.st_size)
            except FileNotFoundError:
                pass

    def seek(self, inode: int, offset: int) -> None:
        self._pos = _Position(inode, offset)

    def poll(self) -> list[Event]:
        try:
            handle = open(self.path, "rb")
        except FileNotFoundError:
            return []
        with handle:
            stat = os.fstat(handle.fileno())
            if stat.st_ino != self._pos.inode or stat.st_size < self._pos.offset:
                # Rotated or truncated: start the new file from its beginning.
                self._pos = _Position(stat.st_ino, 0)
            if stat.st_size == self._pos.offset:
                return []
            handle.seek(self._pos.offset)
            data = handle.read(stat.st_size - self._pos.offset)
        complete = data.rfind(b"\n")
        if complete < 0:
            return []  # half a line: wait for its end
        self._pos.offset += complete + 1
        events = []
        for line in data[: complete + 1].split(b"\n"):
            event = parse_line(line)
            if event is not None:
                events.append(event)
        return events
