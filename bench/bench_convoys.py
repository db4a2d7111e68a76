"""Convoy benchmark (issue 4). Prints its figures: `.venv/bin/python bench/bench_convoys.py`.

Town: rigs `alpha` (1,000 open beads) and `beta` (500), 30 other convoys in town.json, and a
200-bead convoy spread over both rigs with a mix of statuses, assignees and blocking deps.
Target: a whole `gt convoy status ID` process p50 <= 150 ms (text and --json), beside the p50 of
a bare `python -c pass`. Also timed: one landing check after a bead close, in-process.
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

from benchlib import pct, time_process  # noqa: E402

from gastown_tui.town.clock import iso  # noqa: E402
from gastown_tui.town.models import Bead, Dependency  # noqa: E402
from gastown_tui.town.town import Town  # noqa: E402

RIG_BEADS = {"alpha": 1_000, "beta": 500}
CONVOY_BEADS = 200
OTHER_CONVOYS = 30
RUNS = 30
STATUSES = ["open", "open", "hooked", "in_progress", "in_progress", "blocked", "closed"]


def build_town(root: Path) -> tuple[Town, str]:
    town = Town.init(root / "town")
    rng = random.Random(9)
    now = time.time()
    ids: dict[str, list[str]] = {}
    for rig, count in RIG_BEADS.items():
        (root / rig).mkdir()
        record = town.rigs.add(rig, str(root / rig), no_git=True)
        ids[rig] = []
        with town.beads.rig_txn(rig) as tx:
            for name in ("furiosa", "nux", "slit", "capable"):
                tx.put_polecat({"name": name, "rig": rig, "state": "working"})
            for n in range(count):
                stamp = iso(now - rng.uniform(0, 20 * 86400))
                status = rng.choice(STATUSES)
                bead = Bead(
                    id=f"{record.prefix}-b{n:04d}",
                    title=f"{rig} bead {n}: make the {rng.choice(['store', 'tui', 'mail'])} faster",
                    rig=rig,
                    description="Context, acceptance criteria and notes. " * 20,
                    status=status,
                    priority=rng.randint(0, 4),
                    assignee=f"{rig}/furiosa" if status in ("hooked", "in_progress") else None,
                    created_at=stamp,
                    updated_at=stamp,
                    closed_at=stamp if status == "closed" else None,
                )
                if n and rng.random() < 0.2:
                    bead.deps.append(Dependency(f"{record.prefix}-b{n - 1:04d}"))
                tx.put_bead(bead)
                ids[rig].append(bead.id)
        town.ids.record((b, rig) for b in ids[rig])
    for n in range(OTHER_CONVOYS):
        picks = rng.sample(ids["alpha"], 5) + rng.sample(ids["beta"], 5)
        town.convoys.create(f"other convoy {n}", picks)
    tracked = ids["alpha"][:100] + ids["beta"][:100]
    convoy = town.convoys.create("Big release", tracked, notify=["mayor"])
    return town, convoy.id


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        town, convoy_id = build_town(Path(tmp))
        status = town.convoys.status(convoy_id)
        print(
            f"town: rigs {RIG_BEADS}; {OTHER_CONVOYS + 1} convoys; {convoy_id} tracks "
            f"{status['total']} beads ({status['done']} done, {status['blocked']} blocked)"
        )
        env = {**os.environ, "GT_TOWN": str(town.root)}
        # Measure as installed: with bytecode caches (see bench_mail.py).
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(Path(tmp) / "pycache")
        gt = [str(Path(sys.executable).with_name("gt"))]
        if not Path(gt[0]).exists():
            gt = [sys.executable, "-m", "gastown_tui"]
        time_process([*gt, "convoy", "status", convoy_id, "--json"], env, 2)  # warm-up
        bare: list[float] = []
        for extra in ([], ["--json"]):
            runs: list[float] = []
            for _ in range(RUNS):  # interleaved with a bare interpreter: same machine load
                bare += time_process([sys.executable, "-c", "pass"], env, 1)
                runs += time_process([*gt, "convoy", "status", convoy_id, *extra], env, 1)
            p50 = statistics.median(runs)
            label = " ".join(["gt convoy status", *extra])
            print(
                f"process `{label}` ({CONVOY_BEADS} beads): p50={p50:.1f} ms "
                f"p95={pct(runs, 0.95):.1f} ms min={min(runs):.1f} ms (n={RUNS}; "
                f"target p50<=150: {'PASS' if p50 <= 150 else 'FAIL'})"
            )
        print(
            f"bare `python -c pass`, interleaved: p50={statistics.median(bare):.1f} ms; "
            f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
        )
        listing = time_process([*gt, "convoy", "list"], env, 15)
        print(
            f"process `gt convoy list` ({OTHER_CONVOYS + 1} convoys): "
            f"p50={statistics.median(listing):.1f} ms"
        )
        town = Town.open(town.root)
        open_ids = [r["id"] for r in status["beads"] if r["status"] != "closed"][:20]
        checks = []
        for bead_id in open_ids:
            town.beads.close(bead_id)  # the close itself runs the landing check once
            start = time.perf_counter()
            town.convoys.check_landings([bead_id])
            checks.append((time.perf_counter() - start) * 1000)
        print(
            f"in-process check_landings after a close: p50={statistics.median(checks):.2f} ms "
            f"p95={pct(checks, 0.95):.2f} ms (n={len(checks)})"
        )


if __name__ == "__main__":
    main()
