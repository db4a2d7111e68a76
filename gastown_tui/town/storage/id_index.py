"""The town-wide id index of the files backend.

Every id ever issued is appended to `store/ids.txt` (`<id>\\t<rig>` a line) under its lock, so
a new id is checked against every bead of the town, archived ones included, without parsing
the archive, and `rig_of(id)` is a dictionary lookup.
"""

from __future__ import annotations

import _thread  # threading.Lock without importing threading (every gt call opens this)
import os
from collections.abc import Iterable
from pathlib import Path

from gastown_tui.town import ids as bead_ids
from gastown_tui.town.errors import GtFailure
from gastown_tui.town.storage.files import append_line, flocked


class IdIndex:
    def __init__(self, path: Path, lock_path: Path) -> None:
        self.path = path
        self.lock_path = lock_path
        self._map: dict[str, str] = {}
        self._inode = 0
        self._offset = 0
        self._mutex = _thread.allocate_lock()

    def _refresh(self) -> dict[str, str]:
        """Read what was appended since the last call (the file only ever grows)."""
        with self._mutex:
            try:
                handle = open(self.path, "rb")
            except FileNotFoundError:
                self._map, self._inode, self._offset = {}, 0, 0
                return self._map
            with handle:
                stat = os.fstat(handle.fileno())
                if stat.st_ino != self._inode or stat.st_size < self._offset:
                    self._map, self._inode, self._offset = {}, stat.st_ino, 0
                if stat.st_size > self._offset:
                    handle.seek(self._offset)
                    data = handle.read(stat.st_size - self._offset)
                    end = data.rfind(b"\n")
                    if end >= 0:
                        for line in data[: end + 1].decode("utf-8", "replace").splitlines():
                            bead_id, _, rig = line.partition("\t")
                            if bead_id:
                                self._map[bead_id] = rig
                        self._offset += end + 1
            return self._map

    def all(self) -> dict[str, str]:
        return dict(self._refresh())

    def rig_of(self, bead_id: str) -> str | None:
        return self._refresh().get(bead_id)

    def __contains__(self, bead_id: object) -> bool:
        return isinstance(bead_id, str) and bead_id in self._refresh()

    def _append(self, lines: Iterable[tuple[str, str]]) -> None:
        payload = "".join(f"{bead_id}\t{rig}\n" for bead_id, rig in lines).encode()
        if not payload:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        append_line(self.path, payload)

    def reserve(self, prefix: str, rig: str) -> str:
        """Issue a new id, unique in the whole town, and record it before it is used."""
        with flocked(self.lock_path):
            # A byte search of the file: a CLI call that creates one bead need not build the
            # whole id map (3 ms at 10,000 ids), and the file holds every id ever issued.
            try:
                known = b"\n" + self.path.read_bytes()
            except FileNotFoundError:
                known = b"\n"
            for _ in range(1000):
                candidate = f"{prefix}-{bead_ids.random_suffix()}"  # looked up: tests seed it
                if b"\n" + candidate.encode() + b"\t" not in known:
                    self._append([(candidate, rig)])
                    return candidate
        raise GtFailure(f"could not find a free bead id with prefix {prefix!r}")

    def record(self, entries: Iterable[tuple[str, str]]) -> None:
        """Record ids that came from elsewhere (an import); ids already known are skipped."""
        with flocked(self.lock_path):
            taken = self._refresh()
            fresh = [(i, r) for i, r in entries if taken.get(i) != r]
            self._append(fresh)
