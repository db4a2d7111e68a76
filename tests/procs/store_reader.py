"""A reader process: reads a rig file without a lock until told to stop; reports what it saw.

usage: store_reader.py TOWN RIG SECONDS -> prints "reads=N torn=N min=N max=N decreasing=N"
"""

from __future__ import annotations

import sys
import time

from gastown_tui.town.errors import StoreCorrupt
from gastown_tui.town.storage.files import parse_tables
from gastown_tui.town.town import Town


def main() -> None:
    town = Town.open(sys.argv[1])
    path = town.paths.rig_file(sys.argv[2])
    deadline = time.monotonic() + float(sys.argv[3])
    reads = torn = decreasing = 0
    last = -1
    counts = []
    # A fresh Store each read: no cache, every read parses what is on disk right now.
    while time.monotonic() < deadline:
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            continue
        try:
            tables = parse_tables(path, raw)
        except StoreCorrupt:
            torn += 1
            continue
        count = len(tables.get("beads", {}))
        if count < last:
            decreasing += 1
        last = count
        counts.append(count)
        reads += 1
    print(
        f"reads={reads} torn={torn} min={min(counts, default=0)} max={max(counts, default=0)} "
        f"decreasing={decreasing}"
    )


if __name__ == "__main__":
    main()
