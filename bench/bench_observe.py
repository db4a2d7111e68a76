"""Observation benchmarks (issue 12): how soon a waiting agent is seen, and what watching a
town of demo agents costs. Prints its figures; run with `make bench` or

    .venv/bin/python bench/bench_observe.py [25,50,100,200]   (or BENCH_SIZES=25,50)

One town with one git rig; demo agents (`--agent demo`, GT_DEMO_STEP=3600: each stays at its
first step, reading typed lines) are added up to each size in turn. At each size:

1. full patrol: `gt daemon --once` as a separate process (the witness, refinery, deacon and
   dogs over every polecat, the observer's first look included), CPU = utime+stime of it and
   its reaped children (tmux clients, git);
   and, in this process, one witness patrol reading a running observer: wall time (p50 of 3);
2. then `gt daemon` runs in the background (holding the lease, with the town's one observer);
   idle CPU over IDLE seconds (default 40: at least one witness round) = the daemon process
   and its live children (the tmux control clients), as % of one core; the tmux server's
   own CPU over the same window is printed beside it;
3. waiting seen: TRIALS times, a random agent is sent the line `[demo] ask` (it prints a
   Claude-like permission question at once: runtimes/demo_agent.py). From just before the
   keys are sent: until `.runtime/live.json` shows it waiting ("observer"), and until a
   `gt polecat list --json` started then has returned showing it ("gt polecat list": the
   observer's delay plus one CLI call); p50/p95. It is answered, and seen working again,
   before the next trial;
4. stalled: with the daemon stopped, one witness patrol in this process an hour ahead (a fake
   `now`), when every agent is stalled and is nudged: wall time and CPU (this process and
   its children). The witness nudges PARALLEL agents at a time (supervise/witness.py);
5. memory: RSS of the tmux server, of the daemon (with its control clients) and of the app
   (`gt tui`, a viewer beside the daemon, in a 160x48 window of a tmux server of its own,
   after APP_SETTLE seconds), total and per agent. The demo agents themselves (a ~15 MB
   Python process each) are not the town's share.

Functions are importable (bench/bench_scale.py uses them): make_town, add_agents,
full_patrol_cpu, witness_patrol_wall, start_daemon, stop_daemon, idle_cpu, waiting_latency,
stalled_patrol, town_memory.
"""

from __future__ import annotations

import json
import os
import random
import resource
import shlex
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from benchlib import compile_package, pct  # noqa: E402

from gastown_tui.dispatch.live import LiveObserver, read_live  # noqa: E402
from gastown_tui.dispatch.sling import sling_many  # noqa: E402
from gastown_tui.dispatch.tmuxfor import tmux_for  # noqa: E402
from gastown_tui.runtimes.demo_agent import ASK_LINE  # noqa: E402
from gastown_tui.supervise.witness import Witness  # noqa: E402
from gastown_tui.tmux import TownTmux  # noqa: E402
from gastown_tui.town.town import Town  # noqa: E402

SIZES = [25, 50, 100, 200]
IDLE = float(os.environ.get("BENCH_IDLE_SECONDS", "40"))
TRIALS = int(os.environ.get("BENCH_TRIALS", "20"))
APP_SETTLE = float(os.environ.get("BENCH_APP_SETTLE", "10"))
TICKS = os.sysconf("SC_CLK_TCK")
GIT_ENV = {
    "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@gastown.invalid",
    "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@gastown.invalid",
}  # fmt: skip


# -- processes ---------------------------------------------------------------------------------
def _stat(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def proc_cpu(pid: int, reaped: bool = True) -> float:
    """utime+stime of a process (and its reaped children), in seconds."""
    fields = _stat(pid)
    idx = (11, 12, 13, 14) if reaped else (11, 12)
    return sum(int(fields[i]) for i in idx) / TICKS


def children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int(_stat(int(entry.name))[1]) == pid:
                    out.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    return out


def tree_cpu(pid: int) -> float:
    """A process, its reaped children and its live children (the control clients)."""
    total = proc_cpu(pid)
    for child in children(pid):
        try:
            total += proc_cpu(child)
        except OSError:
            pass
    return total


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def tmux_server_pid(tmux: TownTmux) -> int:
    return int(tmux.run("display-message", "-p", "#{pid}").stdout.strip())


def child_env(town: Town) -> dict[str, str]:
    env = dict(os.environ)
    env.update(GIT_ENV, GT_TOWN=str(town.root), GT_TMUX_CONF=os.devnull, GT_DEMO_STEP="3600")
    env.pop("TMUX", None)
    return env


def gt_argv(town: Town, *args: str) -> list[str]:
    return [sys.executable, "-m", "gastown_tui", "--town", str(town.root), *args]


# -- the town ----------------------------------------------------------------------------------
def make_town(root: Path) -> Town:
    os.environ.update(GIT_ENV, GT_TMUX_CONF=os.devnull, GT_DEMO_STEP="3600")
    repo = root / "repo"
    repo.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=repo, check=True)
    (repo / "README.md").write_text("bench\n")
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    subprocess.run(["git", "commit", "-qm", "init"], cwd=repo, check=True)
    town = Town.init(root / "town")
    with open(town.paths.town_toml, "a") as handle:
        handle.write("\n[demo]\nstep_seconds = 3600\n")
    town = Town.open(town.root)
    town.rigs.add("alpha", str(repo), prefix="al")
    return town


def add_agents(town: Town, total: int) -> list[str]:
    """Sling demo agents until `total` hold work; returns every agent's address."""
    tmux = tmux_for(town)
    have = [p for p, b in town.polecats.list_with_hooks("alpha") if b is not None]
    missing = total - len(have)
    if missing > 0:
        beads = [town.beads.create(f"job {len(have) + n}", rig="alpha").id for n in range(missing)]
        for start in range(0, len(beads), 25):
            batch = sling_many(town, tmux, beads[start : start + 25], "alpha", runtime="demo")
            assert not batch.failures, batch.failures
    return [p.address for p, b in town.polecats.list_with_hooks("alpha") if b is not None]


# -- 1. a full patrol ---------------------------------------------------------------------------
def full_patrol_cpu(town: Town) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of `gt daemon --once` with its children."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    subprocess.run(
        gt_argv(town, "daemon", "--once"), env=child_env(town), check=True,
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, wall


def witness_patrol_wall(town: Town, runs: int = 3) -> float:
    """p50 wall seconds of one witness patrol of the rig, in process, with an observer."""
    tmux = tmux_for(town)
    observer = LiveObserver(town, tmux)
    observer.start()
    try:
        observer.ready.wait(30)
        witness = Witness(town, tmux, "alpha", live=observer.snapshot)
        walls = []
        for _ in range(runs):
            start = time.monotonic()
            witness.patrol()
            walls.append(time.monotonic() - start)
        return pct(walls, 0.5)
    finally:
        observer.stop()


# -- 2. the daemon ------------------------------------------------------------------------------
def start_daemon(town: Town, timeout: float = 60.0) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        gt_argv(town, "daemon"), env=child_env(town),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + timeout
    while read_live(town) is None or read_live(town).pid != proc.pid:  # type: ignore[union-attr]
        if time.monotonic() > deadline or proc.poll() is not None:
            raise RuntimeError("gt daemon did not start observing")
        time.sleep(0.1)
    return proc


def stop_daemon(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def idle_cpu(town: Town, daemon: subprocess.Popen[bytes], seconds: float) -> tuple[float, float]:
    """(% of one core for the daemon and its control clients, % for the tmux server)."""
    server = tmux_server_pid(tmux_for(town))
    d0, s0, t0 = tree_cpu(daemon.pid), proc_cpu(server, reaped=False), time.monotonic()
    time.sleep(seconds)
    d1, s1, t1 = tree_cpu(daemon.pid), proc_cpu(server, reaped=False), time.monotonic()
    return 100 * (d1 - d0) / (t1 - t0), 100 * (s1 - s0) / (t1 - t0)


# -- 3. waiting seen ----------------------------------------------------------------------------
def live_state_of(town: Town, address: str) -> str | None:
    """The agent's state as live.json says (waiting or not), without asking tmux."""
    live = read_live(town)
    if live is None:
        return None
    for window in live.windows:
        if window.info.agent == address:
            return "waiting" if window.prompt is not None and window.alive else "working"
    return None


def polecat_list_state(town: Town, address: str) -> str:
    out = subprocess.run(
        gt_argv(town, "polecat", "list", "--json"), env=child_env(town),
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    rows = json.loads(out.stdout)
    rows = rows["polecats"] if isinstance(rows, dict) else rows
    return next((r["state"] for r in rows if r["address"] == address), "?")


def waiting_latency(
    town: Town, addresses: list[str], trials: int
) -> tuple[list[float], list[float], list[float]]:
    """(observer seconds, `gt polecat list` seconds, CLI call seconds) per trial."""
    tmux = tmux_for(town)
    panes = {w.agent: w.pane_id for w in tmux.list_windows("gt-alpha")}
    observer, listed, calls = [], [], []
    rng = random.Random(12)
    for _ in range(trials):
        address = rng.choice(addresses)
        pane = panes[address]
        start = time.monotonic()
        tmux.send_literal(pane, ASK_LINE)
        tmux.send_enter(pane)
        while live_state_of(town, address) != "waiting":
            if time.monotonic() - start > 30:
                raise RuntimeError(f"{address} never seen waiting")
            time.sleep(0.01)
        seen = time.monotonic()
        state = polecat_list_state(town, address)
        done = time.monotonic()
        if state != "waiting":
            raise RuntimeError(f"gt polecat list says {state} for {address}")
        observer.append(seen - start)
        calls.append(done - seen)
        listed.append(done - start)
        tmux.send_literal(pane, "1")
        tmux.send_enter(pane)
        while live_state_of(town, address) != "working":
            time.sleep(0.02)
    return observer, listed, calls


# -- 4. stalled agents -------------------------------------------------------------------------
def cpu_self_and_children() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def stalled_patrol(town: Town) -> tuple[float, float, int]:
    """(wall s, CPU s, agents nudged) of one witness patrol an hour ahead: all stalled. It
    reads an observer, as the daemon's witness does (its screen-change times are real ones,
    which an hour-ahead clock sees as an hour old)."""
    # What earlier rounds' nudges left in the witness's memory would spare those agents.
    (town.paths.runtime / "witness" / "alpha.json").unlink(missing_ok=True)
    tmux = tmux_for(town)
    observer = LiveObserver(town, tmux)
    observer.start()
    try:
        observer.ready.wait(30)
        witness = Witness(town, tmux, "alpha", live=observer.snapshot)
        cpu, start = cpu_self_and_children(), time.monotonic()
        actions = witness.patrol(now=town.clock.now() + 3600)
        wall = time.monotonic() - start
    finally:
        observer.stop()
    nudged = sum(1 for a in actions if "no activity for" in a)
    return wall, cpu_self_and_children() - cpu, nudged


# -- 5. memory ----------------------------------------------------------------------------------
def app_rss(town: Town, settle: float) -> float:
    """RSS (MB) of `gt tui` on the town (a viewer: the daemon supervises), in a 160x48
    window of a tmux server of its own, after `settle` seconds."""
    own = TownTmux(f"gt-bench-app-{uuid.uuid4().hex[:8]}", town.paths.locks,
                   config_file=Path(os.devnull))  # fmt: skip
    try:
        # The server (and the app) get this process's environment (make_town set it).
        own.run("new-session", "-d", "-x", "160", "-y", "48", "-s", "app",
                shlex.join(gt_argv(town, "tui")))  # fmt: skip
        pid = int(own.run("display-message", "-p", "-t", "app", "#{pane_pid}").stdout)
        time.sleep(settle)
        return rss_mb(pid)
    finally:
        own.kill_server()


def town_memory(town: Town, daemon: subprocess.Popen[bytes], with_app: bool = True) -> dict:
    tmux = tmux_for(town)
    mem = {
        "tmux": rss_mb(tmux_server_pid(tmux)),
        "daemon": rss_mb(daemon.pid) + sum(rss_mb(c) for c in children(daemon.pid)),
    }
    if with_app:
        mem["app"] = app_rss(town, APP_SETTLE)
    return mem


# -- the table ---------------------------------------------------------------------------------
def main() -> None:
    arg = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("BENCH_SIZES", "")
    sizes = [int(s) for s in arg.split(",") if s.strip()] or SIZES
    compile_package()
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="bench-observe-") as tmp:
        town = make_town(Path(tmp))
        try:
            for size in sizes:
                started = time.monotonic()
                addresses = add_agents(town, size)
                print(f"-- {size} demo agents up ({time.monotonic() - started:.0f}s to add)")
                patrol, patrol_wall = full_patrol_cpu(town)
                witness_wall = witness_patrol_wall(town)
                daemon = start_daemon(town)
                try:
                    time.sleep(3)  # its recovery round and first patrols
                    idle, server = idle_cpu(town, daemon, IDLE)
                    observer, listed, calls = waiting_latency(town, addresses, TRIALS)
                    mem = town_memory(town, daemon)
                finally:
                    stop_daemon(daemon)
                stalled_wall, stalled_cpu, nudged = stalled_patrol(town)
                row = {
                    "agents": size, "patrol_cpu": patrol, "patrol_wall": patrol_wall,
                    "witness_wall": witness_wall,
                    "idle": idle, "server": server,
                    "obs50": pct(observer, 0.5), "obs95": pct(observer, 0.95),
                    "list50": pct(listed, 0.5), "list95": pct(listed, 0.95),
                    "call50": pct(calls, 0.5), "stalled_wall": stalled_wall,
                    "stalled_cpu": stalled_cpu, "nudged": nudged, **mem,
                }  # fmt: skip
                rows.append(row)
                report([row])
        finally:
            tmux_for(town).kill_server()
    print()
    print("== bench_observe: all sizes (targets at 200: waiting seen <= 2 s p95, daemon idle")
    print("   <= 2 % of a core, full patrol <= 0.5 s CPU, town's memory < 100 MB)")
    report(rows)


def report(rows: list[dict]) -> None:
    print(f"{'agents':>6} | {'waiting seen: observer p50/p95':>30}"
          f" | {'gt polecat list p50/p95':>23} | {'patrol CPU (wall)':>17} | witness"
          f" | {'daemon idle':>11} | {'tmux idle':>9}"
          f" | {'memory tmux+daemon+app = total (per agent)':>44}"
          f" | {'all stalled: nudged in (CPU)':>28}")  # fmt: skip
    for r in rows:
        app = r.get("app", 0.0)
        total = r["tmux"] + r["daemon"] + app
        print(
            f"{r['agents']:>6} | {r['obs50']:>13.2f} s / {r['obs95']:.2f} s      "
            f" | {r['list50']:>9.2f} s / {r['list95']:.2f} s"
            f" | {r['patrol_cpu']:>6.2f} s ({r['patrol_wall']:.1f} s)"
            f" | {1000 * r['witness_wall']:>4.0f} ms"
            f" | {r['idle']:>9.2f} %"
            f" | {r['server']:>7.2f} %"
            f" | {r['tmux']:>5.1f} + {r['daemon']:.1f} + {app:.1f} = {total:.0f} MB"
            f" ({total / r['agents']:.2f} MB)"
            f" | {r['nudged']:>4} in {r['stalled_wall']:.1f} s ({r['stalled_cpu']:.1f} s)"
        )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
