"""A writer process for the concurrency tests: creates beads, printing each id once committed.

usage: bead_writer.py TOWN RIG COUNT   (COUNT 0 = until killed)
"""

from __future__ import annotations

import sys

from gastown_tui.town.town import Town


def main() -> None:
    town = Town.open(sys.argv[1])
    rig, count = sys.argv[2], int(sys.argv[3])
    n = 0
    print("READY", flush=True)
    while count == 0 or n < count:
        bead = town.beads.create(f"bead {n} from writer", rig=rig, priority=n % 5)
        # Printed only after create() returned, i.e. after the commit: a reported id must exist.
        print(bead.id, flush=True)
        n += 1


if __name__ == "__main__":
    main()
