"""Sling and nudge benchmarks (issue 3). Prints its figures; run with `make bench`.

A throwaway town with a small git rig and a cheap runtime (a Python program that reads its
terminal), so the figures measure our machinery (store, git worktree, tmux), not an agent:

- sling to a running agent window, p50: a fresh worktree (target <= 1 s) and reusing an idle
  polecat (target <= 300 ms), measured from the call until the window is confirmed up;
- 50 beads slung to 50 polecats in one call (all windows up), timed;
- a nudge delivered and verified through nudge_agent, p50 (target <= 1.5 s).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchlib import pct  # noqa: E402

from gastown_tui.dispatch.nudge import nudge_agent  # noqa: E402
from gastown_tui.dispatch.sling import sling, sling_many  # noqa: E402
from gastown_tui.dispatch.tmuxfor import tmux_for  # noqa: E402
from gastown_tui.town.town import Town  # noqa: E402
from gastown_tui.town.work import complete  # noqa: E402

READER = """\
import sys
sys.stdout.write("READY\\n")
sys.stdout.flush()
for line in sys.stdin:
    sys.stdout.write("got " + line)
    sys.stdout.flush()
"""


def report(label: str, values_ms: list[float], target_ms: float | None = None) -> None:
    p50 = statistics.median(values_ms)
    line = (
        f"{label}: p50={p50:.0f} ms p95={pct(values_ms, 0.95):.0f} ms "
        f"max={max(values_ms):.0f} ms (n={len(values_ms)})"
    )
    if target_ms is not None:
        line += f"  target <= {target_ms:.0f} ms: {'OK' if p50 <= target_ms else 'MISSED'}"
    print(line, flush=True)


def make_repo(path: Path, files: int = 20) -> Path:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "bench",
        "GIT_AUTHOR_EMAIL": "bench@gastown.invalid",
        "GIT_COMMITTER_NAME": "bench",
        "GIT_COMMITTER_EMAIL": "bench@gastown.invalid",
    }
    path.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True, env=env)
    for n in range(files):
        (path / f"src_{n}.py").write_text(f"VALUE = {n}\n" * 50)
    subprocess.run(["git", "add", "-A"], cwd=path, check=True, env=env)
    subprocess.run(["git", "commit", "-q", "-m", "init"], cwd=path, check=True, env=env)
    return path


def build_town(root: Path) -> Town:
    town = Town.init(root / "town", name="bench")
    script = root / "reader.py"
    script.write_text(READER)
    with open(town.paths.town_toml, "a") as handle:
        handle.write(
            f'\n[runtimes.reader]\ncommand = ["{sys.executable}", "{script}"]\nprompt = "none"\n'
            # Like every preset, it says when it is up: a sling returns then (without it, once
            # the program has lived start_grace seconds).
            'started = "READY"\n'
        )
    town.rigs.add("alpha", str(make_repo(root / "alpha-upstream")), prefix="al")
    town.rigs.add("bulk", str(make_repo(root / "bulk-upstream")), prefix="bk")
    return Town.open(town.root)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=15, help="slings per single-sling figure")
    parser.add_argument("--bulk", type=int, default=50, help="beads in the one-call figure")
    parser.add_argument("--nudges", type=int, default=20)
    args = parser.parse_args()
    os.environ.setdefault("GT_TMUX_CONF", os.devnull)

    with tempfile.TemporaryDirectory(prefix="gt-bench-sling-") as tmp:
        town = build_town(Path(tmp))
        tmux = tmux_for(town)
        try:
            # Warm-up: start the tmux server and the rig's session.
            warm = town.beads.create("warm up", rig="alpha")
            sling(town, tmux, warm.id, "alpha", runtime="reader", to="warmup")

            fresh: list[float] = []
            for n in range(args.n):
                bead = town.beads.create(f"fresh {n}", rig="alpha")
                started = time.perf_counter()
                result = sling(town, tmux, bead.id, "alpha", runtime="reader")
                fresh.append((time.perf_counter() - started) * 1000)
                assert result.created_polecat and result.pane_id
            report("sling, fresh worktree", fresh, 1000)

            # Free them all (gt done), then sling again: each reuses an idle polecat.
            for polecat in town.polecats.list("alpha"):
                complete(town, polecat.address, note="bench")
            reuse: list[float] = []
            for n in range(args.n):
                bead = town.beads.create(f"reuse {n}", rig="alpha")
                started = time.perf_counter()
                result = sling(town, tmux, bead.id, "alpha", runtime="reader")
                reuse.append((time.perf_counter() - started) * 1000)
                assert not result.created_polecat
            report("sling, reusing an idle polecat", reuse, 300)

            ids = [town.beads.create(f"bulk {n}", rig="bulk").id for n in range(args.bulk)]
            started = time.perf_counter()
            batch = sling_many(town, tmux, ids, "bulk", runtime="reader")
            elapsed = time.perf_counter() - started
            live = [w for w in tmux.list_windows("gt-bulk") if not w.pane_dead]
            assert batch.ok, batch.failures
            assert len(live) == args.bulk and len({r.address for r in batch.results}) == args.bulk
            print(
                f"{args.bulk} beads slung to {args.bulk} polecats in one call: "
                f"{elapsed:.2f} s, all {len(live)} windows up "
                f"({elapsed / args.bulk * 1000:.0f} ms per bead)",
                flush=True,
            )

            target = town.polecats.list("alpha")[0].address
            info = tmux.find_window("gt-alpha", target.split("/")[1])
            assert info is not None
            deadline = time.monotonic() + 10
            while "READY" not in tmux.capture(info.pane_id) and time.monotonic() < deadline:
                time.sleep(0.02)
            nudges: list[float] = []
            for n in range(args.nudges):
                started = time.perf_counter()
                outcome = nudge_agent(town, tmux, target, f"bench nudge number {n}")
                nudges.append((time.perf_counter() - started) * 1000)
                if outcome.status != "delivered":
                    raise SystemExit(f"nudge not delivered: {outcome.detail}")
            report("nudge delivered and verified (nudge_agent)", nudges, 1500)
        finally:
            tmux.kill_server()
            tmux.socket_path().unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
