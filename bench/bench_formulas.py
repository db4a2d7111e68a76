"""Formula and scheduler benchmarks (issue 13). Prints its figures; run with `make bench`.

1. A step closed -> its dependent step's agent window up, p50, in a town supervised by
   `gt daemon`; printed beside the deacon interval and the p50 of a plain sling (the target:
   within one deacon interval plus the sling time).
2. 50 slings (racing processes) into a town with `[scheduler] max_polecats = 10` and DEMO
   AGENTS under `gt daemon`: the agents holding work and the live agent windows, sampled every
   100 ms, never above 10; all 50 done; none done twice.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402
from benchlib import pct  # noqa: E402

from gastown_tui.dispatch.sling import sling  # noqa: E402
from gastown_tui.dispatch.tmuxfor import tmux_for  # noqa: E402
from gastown_tui.town.formulas import run_formula  # noqa: E402
from gastown_tui.town.paths import session_for  # noqa: E402
from gastown_tui.town.scheduler import holdings, lock_path  # noqa: E402
from gastown_tui.town.storage.files import flocked  # noqa: E402
from gastown_tui.town.town import Town  # noqa: E402

# An agent that waits (it never finishes on its own): the bench closes steps itself.
WAITER = """\
import sys, time
sys.stdout.write("READY\\n")
sys.stdout.flush()
time.sleep(3600)
"""
TWO_STEPS = """\
description = "bench: a then b"
[[steps]]
id = "a"
role = "worker"
title = "step a"
[[steps]]
id = "b"
role = "worker"
needs = ["a"]
title = "step b"
"""


def make_repo(path: Path) -> Path:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "bench",
        "GIT_AUTHOR_EMAIL": "bench@gastown.invalid",
        "GIT_COMMITTER_NAME": "bench",
        "GIT_COMMITTER_EMAIL": "bench@gastown.invalid",
    }
    path.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=path, check=True, env=env)
    (path / "README.md").write_text("# bench\n")
    subprocess.run(["git", "add", "-A"], cwd=path, check=True, env=env)
    subprocess.run(["git", "commit", "-q", "-m", "init"], cwd=path, check=True, env=env)
    return path


def make_town(root: Path, toml_extra: str, deacon: float) -> Town:
    town = Town.init(root / "town", name="bench", runtime="demo")
    town.rigs.add("alpha", str(make_repo(root / "upstream")), prefix="al")
    toml = town.paths.town_toml.read_text(encoding="utf-8")
    toml = toml.replace('deacon_interval = "60s"', f'deacon_interval = "{deacon}s"')
    town.paths.town_toml.write_text(toml + toml_extra, encoding="utf-8")
    town.__dict__.pop("config", None)
    return town


def start_daemon(town: Town) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "gastown_tui", "daemon"],
        cwd=ROOT,
        env={**os.environ, "GT_TOWN": str(town.root)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while not (town.paths.runtime / "supervisor.json").exists():
        if time.monotonic() > deadline:
            raise SystemExit("gt daemon did not start")
        time.sleep(0.05)
    return proc


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


def window_up(town: Town, tmux: object, bead_id: str) -> bool:
    bead = town.beads.find(bead_id)
    if bead is None or not bead.assignee or bead.status not in ("hooked", "in_progress"):
        return False
    polecat = town.polecats.find(bead.assignee)
    if polecat is None or not polecat.window or polecat.starting:
        return False
    info = tmux.find_window(session_for(polecat.rig), polecat.name)  # type: ignore[attr-defined]
    return info is not None and not info.pane_dead


def bench_handoff(root: Path, runs: int, deacon: float) -> None:
    root.mkdir(parents=True)
    script = root / "waiter.py"
    script.write_text(WAITER)
    town = make_town(
        root,
        f'\n[runtimes.waiter]\ncommand = ["{sys.executable}", "{script}"]\nprompt = "none"\n'
        'ready = "READY"\n\n[roles.worker]\nruntime = "waiter"\ncapacity = 50\n',
        deacon,
    )
    (town.root / "formulas").mkdir()
    (town.root / "formulas" / "two.toml").write_text(TWO_STEPS)
    tmux = tmux_for(town)
    slings: list[float] = []
    for n in range(3):  # a plain sling on the same machinery, for comparison
        bead = town.beads.create(f"plain {n}", rig="alpha")
        started = time.perf_counter()
        result = sling(town, tmux, bead.id, "alpha", runtime="waiter")
        slings.append((time.perf_counter() - started) * 1000)
        town.beads.close(bead.id, "bench")
        tmux.kill_window(result.session, result.window)
    daemon = start_daemon(town)
    latencies: list[float] = []
    try:
        for _ in range(runs):
            run = run_formula(town, "two", {}, rig="alpha")
            a, b = run.beads["a"], run.beads["b"]
            deadline = time.monotonic() + deacon * 3 + 30
            while not window_up(town, tmux, a):
                if time.monotonic() > deadline:
                    raise SystemExit("step a was never dispatched")
                time.sleep(0.02)
            holder = town.beads.get(a).assignee or ""
            started = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "gastown_tui", "done", "-m", "handed over"],
                cwd=ROOT,
                env={**os.environ, "GT_TOWN": str(town.root), "GT_AGENT": holder},
                check=True,
                stdout=subprocess.DEVNULL,
            )
            while not window_up(town, tmux, b):
                if time.monotonic() > deadline:
                    raise SystemExit("step b was never dispatched")
                time.sleep(0.01)
            latencies.append((time.perf_counter() - started) * 1000)
            town.beads.update(b, status="open", assignee=None)
            town.beads.close(b, "bench")
            for window in tmux.list_windows():
                tmux.kill_window(window.session, window.window)
    finally:
        stop(daemon)
        tmux.kill_server()
    sling_p50 = statistics.median(slings)
    p50 = statistics.median(latencies)
    budget = deacon * 1000 + sling_p50
    print(
        f"step closed -> dependent step's window up: p50={p50:.0f} ms "
        f"p95={pct(latencies, 0.95):.0f} ms max={max(latencies):.0f} ms (n={len(latencies)}); "
        f"deacon interval {deacon * 1000:.0f} ms, sling p50 {sling_p50:.0f} ms; "
        f"target <= {budget:.0f} ms: {'OK' if p50 <= budget else 'MISSED'}",
        flush=True,
    )


def bench_capacity(root: Path, count: int, limit: int) -> None:
    town = make_town(
        root,
        f"\n[scheduler]\nmax_polecats = {limit}\n",
        1.0,
    )
    tmux = tmux_for(town)
    env = {**os.environ, "GT_TOWN": str(town.root), "GT_DEMO_STEP": "0.1"}
    daemon = start_daemon(town)
    most_holding = most_live = samples = 0
    started = time.perf_counter()
    try:
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "gastown_tui", "sling", f"task {n}", "alpha", "--json"],
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            for n in range(count)
        ]
        ids: set[str] = set()
        failed: list[str] = []
        deadline = time.monotonic() + 600
        while True:
            with flocked(lock_path(town)):  # a consistent count across the rig files
                held = holdings(town).total
            live = sum(1 for w in tmux.list_windows() if not w.pane_dead) if tmux.available() else 0
            most_holding, most_live = max(most_holding, held), max(most_live, live)
            samples += 1
            if len(ids) + len(failed) < count:
                for proc in procs:
                    if (
                        proc.poll() is not None
                        and proc.stdout is not None
                        and not proc.stdout.closed
                    ):
                        out = orjson.loads(proc.stdout.read() or b"{}")
                        proc.stdout.close()
                        if proc.returncode != 0 or out.get("failed"):
                            error = proc.stderr.read().decode() if proc.stderr else ""
                            failed.append(f"{out.get('failed')} {error.strip()}")
                        ids.update(r["bead"] for r in out.get("slung", []))
                        ids.update(r["bead"] for r in out.get("queued", []))
            closed = {d["id"] for d in town.beads.list_docs(statuses=["closed"])}
            if len(ids) + len(failed) == count and ids <= closed:
                break
            if time.monotonic() > deadline:
                raise SystemExit(
                    f"only {len(ids & closed)}/{count} done after 600 s; failed: {failed}"
                )
            time.sleep(0.1)
    finally:
        stop(daemon)
        tmux.kill_server()
    elapsed = time.perf_counter() - started
    done = [
        doc["bead"]
        for doc in map(
            orjson.loads, filter(None, (town.root / "events.jsonl").read_bytes().splitlines())
        )
        if doc.get("type") == "polecat.done"
    ]
    twice = sorted({b for b in done if done.count(b) > 1})
    ok = most_holding <= limit and most_live <= limit and not twice and not failed
    print(
        f"{count} slings into max_polecats={limit}: most holding work {most_holding}, most live "
        f"agent windows {most_live} (sampled every 100 ms, n={samples}); "
        f"{len(set(done) & ids)}/{count} done in {elapsed:.1f} s; done twice: {twice or 'none'}; "
        f"slings that failed: {failed or 'none'}; "
        f"{'OK' if ok else 'MISSED'}",
        flush=True,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=8)
    parser.add_argument("--deacon", type=float, default=5.0, help="deacon interval, seconds")
    parser.add_argument("--slings", type=int, default=50)
    parser.add_argument("--max", type=int, default=10)
    args = parser.parse_args()
    os.environ.setdefault("GT_TMUX_CONF", os.devnull)
    # Background `gt schedule` passes may still be writing when a part ends.
    with tempfile.TemporaryDirectory(
        prefix="gt-bench-formulas-", ignore_cleanup_errors=True
    ) as tmp:
        if args.runs:
            bench_handoff(Path(tmp) / "handoff", args.runs, args.deacon)
        bench_capacity(Path(tmp) / "capacity", args.slings, args.max)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
