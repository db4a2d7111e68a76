"""Store benchmarks (issue: town core). Prints its figures; run with `make bench`.

Town: the real Gas Town ledger (tests/data/gastown-beads) imported, plus generated beads up to
10,000 in all, with 2,000 open in one rig (the rest closed, in the archive).
Targets: in-process create/update/close p50 <= 5 ms, p95 <= 15 ms; a whole `gt bead create`
process p50 <= 80 ms; `gt bead list --json` of 2,000 open beads <= 150 ms.
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchlib import compile_package, pct, time_process  # noqa: E402

from gastown_tui.town.clock import iso  # noqa: E402
from gastown_tui.town.interop import import_beads  # noqa: E402
from gastown_tui.town.models import Bead  # noqa: E402
from gastown_tui.town.town import Town  # noqa: E402

DATA = ROOT / "tests" / "data" / "gastown-beads"
TOTAL = 10_000
OPEN_IN_RIG = 2_000


def build_town(root: Path) -> Town:
    town = Town.init(root / "town")
    (root / "work").mkdir()
    town.rigs.add("alpha", str(root / "work"), no_git=True, prefix="al")
    import_beads(town, DATA, rig="alpha")
    real = [b for b in town.beads.list(include_closed=True, include_archive=True)]
    rng = random.Random(7)
    have_open = len(town.beads.list(rig="alpha"))
    have_total = len(real)
    now = time.time()
    open_docs, closed_docs, ids = [], [], []
    for n in range(TOTAL - have_total):
        template = rng.choice(real)
        bead_id = f"al-g{n:04d}"
        bead = Bead(
            id=bead_id,
            title=template.title,
            rig="alpha",
            description=template.description[:1500],
            priority=rng.randint(0, 4),
            type=template.type,
            labels=list(template.labels),
            created_at=iso(now - rng.uniform(0, 90 * 86400)),
        )
        bead.updated_at = bead.created_at
        if have_open + len(open_docs) < OPEN_IN_RIG:
            open_docs.append(bead)
        else:
            bead.status = "closed"
            bead.closed_at = iso(now - rng.uniform(0, 90 * 86400))
            closed_docs.append(bead.to_dict())
        ids.append((bead_id, "alpha"))
    town.beads.archive_docs(closed_docs)
    with town.beads.rig_txn("alpha") as tx:
        for bead in open_docs:
            tx.put_bead(bead)
    town.ids.record(ids)
    return town


def main() -> None:
    compile_package()
    with tempfile.TemporaryDirectory() as tmp:
        town = build_town(Path(tmp))
        beads_total = len(town.ids.all())
        open_now = len(town.beads.list(rig="alpha"))
        size = town.paths.rig_file("alpha").stat().st_size
        print(f"town: {beads_total} beads, {open_now} open in rig alpha ({size / 1e6:.1f} MB file)")

        town = Town.open(town.root)
        timings: dict[str, list[float]] = {"create": [], "update": [], "close": []}
        created = []
        for n in range(200):
            start = time.perf_counter()
            created.append(town.beads.create(f"bench bead {n}", rig="alpha", priority=n % 5))
            timings["create"].append((time.perf_counter() - start) * 1000)
        for bead in created:
            start = time.perf_counter()
            town.beads.update(bead.id, priority=(bead.priority + 1) % 5)
            timings["update"].append((time.perf_counter() - start) * 1000)
        for bead in created:
            start = time.perf_counter()
            town.beads.close(bead.id, reason="bench")
            timings["close"].append((time.perf_counter() - start) * 1000)
        for name, values in timings.items():
            print(
                f"in-process {name:6s}: p50={statistics.median(values):.2f} ms "
                f"p95={pct(values, 0.95):.2f} ms (n={len(values)}; target p50<=5 p95<=15)"
            )

        env = {**os.environ, "GT_TOWN": str(town.root)}
        bare = time_process([sys.executable, "-c", "pass"], env, 20)
        # The `gt` console script, as a user runs it (bytecode compiled, as pip installs it).
        gt = str(Path(sys.executable).with_name("gt"))
        create = time_process([gt, "bead", "create", "from a process"], env, 30)
        ratio = statistics.median(create) / statistics.median(bare)
        print(
            f"process `gt bead create`: p50={statistics.median(create):.1f} ms "
            f"p95={pct(create, 0.95):.1f} ms (target p50<=80); bare `python -c pass` "
            f"p50={statistics.median(bare):.1f} ms; ratio {ratio:.1f}x"
        )
        listing = time_process([gt, "bead", "list", "--json"], env, 15)
        print(
            f"process `gt bead list --json` ({open_now} open): p50={statistics.median(listing):.1f}"
            f" ms p95={pct(listing, 0.95):.1f} ms (target <=150)"
        )


if __name__ == "__main__":
    main()
