"""A town process for the backend conformance suite (tests/conformance/). It opens the town
with the backend named in GT_STORE_BACKEND (gastown_tui/town/storage/__init__.py) and goes
through the repositories only, so it works against any backend.

usage:
  storage_worker.py read TOWN RIG SECONDS     -> "reads=N torn=N min=N max=N decreasing=N"
  storage_worker.py create TOWN RIG COUNT     -> READY, then each bead id once committed
                                                 (COUNT 0 = until killed)
  storage_worker.py hook TOWN RIG POLECAT ID… -> "hooked ID" or "refused ID" per bead
  storage_worker.py send TOWN ADDRESS COUNT   -> READY, then each message id once stored
"""

from __future__ import annotations

import sys
import time

from gastown_tui.town.errors import GtError, StoreCorrupt
from gastown_tui.town.town import Town


def read(town: Town, rig: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    reads = torn = decreasing = 0
    last = -1
    counts: list[int] = []
    while time.monotonic() < deadline:
        try:
            count = sum(1 for _ in town.storage.beads.docs(rig))
        except StoreCorrupt:
            torn += 1
            continue
        if count < last:
            decreasing += 1
        last = count
        counts.append(count)
        reads += 1
    print(
        f"reads={reads} torn={torn} min={min(counts, default=0)} max={max(counts, default=0)} "
        f"decreasing={decreasing}"
    )


def create(town: Town, rig: str, count: int) -> None:
    print("READY", flush=True)
    n = 0
    while count == 0 or n < count:
        bead = town.beads.create(f"bead {n} from writer", rig=rig, priority=n % 5)
        # Printed only after create() returned, i.e. after the commit: a reported id must exist.
        print(bead.id, flush=True)
        n += 1


def hook(town: Town, rig: str, polecat: str, bead_ids: list[str]) -> None:
    for bead_id in bead_ids:
        try:
            town.beads.update(bead_id, status="hooked", assignee=f"{rig}/{polecat}")
        except GtError:
            print(f"refused {bead_id}", flush=True)
        else:
            print(f"hooked {bead_id}", flush=True)


def send(town: Town, address: str, count: int) -> None:
    print("READY", flush=True)
    n = 0
    while count == 0 or n < count:
        (stored,) = town.mail.send([address], f"message {n}", "body", sender="overseer")
        print(stored.id, flush=True)
        n += 1


def main() -> None:
    mode, root = sys.argv[1], sys.argv[2]
    town = Town.open(root)
    args = sys.argv[3:]
    if mode == "read":
        read(town, args[0], float(args[1]))
    elif mode == "create":
        create(town, args[0], int(args[1]))
    elif mode == "hook":
        hook(town, args[0], args[1], args[2:])
    elif mode == "send":
        send(town, args[0], int(args[1]))
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main()
