"""Opening the review of a 2,000-line diff, and scrolling it.

Builds a town whose rig has a branch changing ~1,000 lines of a Python file and adding a
1,000-line one (a diff of ~2,100 lines), records a merge request for it, and in the app
(headless, `App.run_test`, 200x50):

- first paint: from pushing the review screen to the diff on screen (the merge request read,
  git run for the commits, files and diff, the diff parsed, the visible rows highlighted and
  drawn). Target <= 300 ms.
- highlight ahead: after the first paint a thread highlights the rest of the diff; how long
  until every line is ready (the scrolling below starts after it, as a person reads the first
  page first).
- scrolling: per key (j, space = page down, n, ], k), p50 and p95 over many presses, of the CPU
  the app spent handling the key and redrawing (the process's CPU time), and of the wall time
  of `pilot.press`, which adds Pilot's own waiting for the screen (about 60 ms at rest, a
  constant of the harness, not of the app). Target: CPU p95 under a frame (16.7 ms). The same
  figures for f19, a key bound to nothing, are printed first: the floor of the harness in the
  same run.

Run: .venv/bin/python bench/bench_review.py
"""

from __future__ import annotations

import asyncio
import gc
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.benchlib import pct
from gastown_tui.town.clock import iso
from gastown_tui.town.town import Town

IDENTITY = {
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@gastown.invalid",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@gastown.invalid",
}
PRESSES = 60


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, **IDENTITY}
    return subprocess.run(
        ["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True
    ).stdout.strip()


def build(tmp: Path) -> tuple[Town, str, int]:
    repo = tmp / "src"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    old = [f"def f{i}(x):\n    return x + {i}\n" for i in range(500)]
    (repo / "engine.py").write_text("".join(old))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "engine")
    git(repo, "checkout", "-qb", "polecat/furiosa/wr-bench")
    new = [f"def f{i}(x):\n    return x * {i}  # faster\n" for i in range(500)]
    (repo / "engine.py").write_text("".join(new))
    (repo / "gauges.py").write_text(
        "".join(f"GAUGE_{i} = {{'level': {i}, 'name': \"g{i}\"}}\n" for i in range(1000))
    )
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "faster engine, gauges")
    commit = git(repo, "rev-parse", "HEAD")
    git(repo, "checkout", "-q", "main")
    diff_lines = len(git(repo, "diff", "main", commit).splitlines())

    town = Town.init(tmp / "town", name="bench", runtime="demo")
    town.rigs.add("war-rig", str(repo), prefix="wr", branch="main")
    rig = town.rigs.get("war-rig")
    bead = town.beads.create("Make the engine faster", rig="war-rig")
    with town.beads.rig_txn("war-rig") as tx:
        tx.add_merge_request(
            {
                "id": "mr-bench",
                "bead": bead.id,
                "branch": "polecat/furiosa/wr-bench",
                "commit": commit,
                "polecat": "",
                "rig": "war-rig",
                "created": iso(time.time()),
                "status": "pending",
            }
        )
    if Path(rig.path).resolve() != repo.resolve():
        # The rig cloned the source: give the clone the branch too.
        git(
            Path(rig.path),
            "fetch",
            "-q",
            str(repo),
            f"{commit}:refs/heads/polecat/furiosa/wr-bench",
        )
    return town, "mr-bench", diff_lines


async def measure(town: Town, mr_id: str, size: tuple[int, int]) -> dict[str, list[float]]:
    from gastown_tui.tui.app import make_app
    from gastown_tui.tui.screens.review import ReviewScreen
    from gastown_tui.tui.widgets.diff_view import DiffView
    from gastown_tui.views.actions import TownData

    data = TownData(town, None, observe=lambda: [])
    app = make_app(town, watch=False, data=data)
    app.animation_level = "none"
    out: dict[str, list[float]] = {"first paint": []}
    async with app.run_test(size=size) as pilot:
        while not app.loaded:
            await pilot.pause(0.02)
        # What the app does once loaded in a terminal (tui/app.py _freeze_startup_objects;
        # skipped headless, where a test process runs many apps): without it the collector's
        # full passes walk start-up's objects and land 35-50 ms on one key in ~50.
        await pilot.pause()
        gc.collect()
        gc.freeze()
        for _ in range(5):
            start = time.perf_counter()
            screen = ReviewScreen(town, mr_id=mr_id)
            app.push_screen(screen)
            deadline = time.monotonic() + 30
            while screen.data is None or not screen.query_one(DiffView)._cache:
                if time.monotonic() > deadline:
                    raise SystemExit(f"{size}: the review did not paint in 30 s")
                await asyncio.sleep(0.001)
            out["first paint"].append((time.perf_counter() - start) * 1000)
            await pilot.pause()
            if _ < 4:
                screen.dismiss(None)
                await pilot.pause()
        view = screen.query_one(DiffView)
        view.focus()
        start = time.perf_counter()
        while view.highlighted < len(view.diff.lines):
            await asyncio.sleep(0.005)
        out["highlight ahead"] = [(time.perf_counter() - start) * 1000]
        await pilot.pause()
        # f19 is bound to nothing: its figures are the floor of this harness (a key's trip
        # through Pilot, the app's key handling and a look for anything to redraw).
        for key in ("f19", "j", "space", "n", "right_square_bracket", "k"):
            times, cpu = [], []
            for _ in range(PRESSES):
                if (
                    key in ("space", "n", "right_square_bracket")
                    and view.scroll_y >= view.max_scroll_y
                ):
                    view.scroll_to(y=0, animate=False)
                    await pilot.pause()
                start, start_cpu = time.perf_counter(), time.process_time()
                await pilot.press(key)  # returns once the key is handled and the screen redrawn
                times.append((time.perf_counter() - start) * 1000)
                cpu.append((time.process_time() - start_cpu) * 1000)
            out[key] = times
            out[f"{key} cpu"] = cpu
    return out


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp_name:
        town, mr_id, lines = build(Path(tmp_name))
        print(f"review of a {lines}-line diff (2 files), headless App.run_test")
        for size in ((80, 24), (200, 50)):
            results = asyncio.run(measure(town, mr_id, size))
            paint = results.pop("first paint")
            ahead = results.pop("highlight ahead")[0]
            mode = "side by side" if size[0] >= 160 else "unified"
            print(
                f"  {size[0]}x{size[1]} ({mode}): first paint p50 {pct(paint, 0.5):.0f} ms, "
                f"first open {paint[0]:.0f} ms, max {max(paint):.0f} ms over {len(paint)} opens "
                f"(target <= 300 ms); the rest highlighted {ahead:.0f} ms later"
            )
            floor = pct(results["f19 cpu"], 0.5)
            for key, times in results.items():
                if key.endswith(" cpu"):
                    continue
                cpu = results[f"{key} cpu"]
                label = "f19 (unbound: floor)" if key == "f19" else key
                print(
                    f"    key {label:<22} wall p50 {pct(times, 0.5):5.1f} "
                    f"p95 {pct(times, 0.95):5.1f} ms"
                    f" · cpu p50 {pct(cpu, 0.5):4.1f} p95 {pct(cpu, 0.95):4.1f} ms"
                    f" ({pct(cpu, 0.5) / floor:.1f}x the floor's p50)"
                    f"  ({len(times)} presses; a frame is 16.7 ms)"
                )


if __name__ == "__main__":
    main()
