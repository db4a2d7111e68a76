"""Scale benchmarks (issue 12): does the town stay fast as it grows? Prints its figures.

    .venv/bin/python bench/bench_scale.py                   # both parts, every size
    BENCH_SCALE_AGENTS=25,50 .venv/bin/python bench/bench_scale.py agents
    BENCH_SCALE_BEADS=1000,10000 .venv/bin/python bench/bench_scale.py writes

Part `agents`: one table for 25/50/100/200 demo agents (BENCH_SCALE_AGENTS), each figure
beside its 25-agent figure (the first size) so the growth shows. A town is one git rig,
`alpha`, with N beads slung onto N polecats of the `demo` runtime, GT_DEMO_STEP=3600 (they
stay `working`, paused between steps), on its own tmux socket (GT_TMUX_CONF=/dev/null). The
app is a fresh process on a pseudo-terminal of our own, 160x48, TERM=xterm-256color, driven by
Textual's real Linux driver (bench/bench_app.py: Terminal); a thread drains the terminal and
notes the moment given texts first reach it. The app runs as `gt` runs it (`make_app(Town.open
(root), supervise=True).run()`, watcher on) while `gt daemon`, started first, holds the
supervisor lease: the app is a viewer, contending for the lease every second to take over
should the daemon die, as a person with a daemon-run town has it. Rows:

- all agents shown working after app start: spawn -> the status line shows `<working glyph>N`.
- app idle CPU: after SETTLE s, utime+stime of the app process (all threads) and its reaped
  children (tmux clients it runs) over IDLE s without input, % of one core.
- key -> repaint: `down` written to the terminal in the Rigs tree (rig row, then polecat after
  polecat), timed until the moved selection has been painted: the Preview pane's title
  `Preview · alpha/<that polecat>` reaching the terminal. KEYS presses 0.2-0.5 s apart
  (random, so not phase-locked with timers); median and p95. A bare tmux echo round trip is
  about 10 ms here.
- prompt starts waiting -> shown waiting in the app: the demo runtime's waiting prompt text
  (`Do you want to proceed?`, runtimes/presets.py) typed into one agent's pane with
  `tmux send-keys -l` (the pane's tty echoes it at once, and the demo agent echoes it back as
  a line), timed from just before the send until the app's status line counts one more waiting
  agent (`<waiting glyph>k`). WAITS probes, each on a different agent, 1-2 s apart; median/p95.
- one full patrol: `gt daemon --once` (every patrol once) as a child process, CPU
  (utime+stime, the process and its children) from getrusage(RUSAGE_CHILDREN); before the
  long-running daemon starts, so it holds the lease.
- `gt daemon` idle CPU: the long-running daemon (its patrols on their schedule) over IDLE s,
  after SETTLE s, % of one core, its reaped children included.
- memory: the town's own share at the end of the run: the town's tmux server and the tmux
  control clients of the app and the daemon + the app + the daemon + the command server the
  daemon runs (cmdserver.py) and its spare process; agents (the demo agent is a ~15 MB Python
  process each) excluded. The figure is the physical memory they hold together: the union of
  the page frames resident in them (/proc/PID/pagemap, root only), each page once, pages they
  share with the agents (the interpreter, libc) in full. Also per agent; and the sums of their
  RSS (the spare is a fork of the server: RSS counts the ~14 MB they share in both) and of
  their PSS (a page shared with agents is split among them all), and both for each part.

Part `writes`: app CPU per store write at 1k/10k/100k beads (BENCH_SCALE_BEADS). A town with
one rig `gastown` holding N beads cloned from the real Gas Town ledger in
tests/data/gastown-beads: issues.jsonl cycled (copy k of bead `gt-abc` is `gt-abc-sk`), with
its labels and dependencies, imported by the real importer (town/interop.py: open beads into
the rig file, closed ones into the archive, as `gt bead import` does), so the mix of statuses
is the real one (about 5 % open). BENCH_SCALE_ALL_OPEN=1 opens every bead: the worst case, all
of them in the one rig file a write rewrites. The app (watcher on; supervision off, as its
patrols' CPU is not what this measures) runs on a pty as above. After SETTLE s its idle rate is
measured over IDLE_WRITES s; then, WRITES times, this script (another process) changes the
title of the first ready bead (`town.beads.update`, one store write) to a unique marker, waits
until the marker is painted in the Rigs tree and the app has gone quiet again (no CPU used for
QUIET s), and charges the app's CPU over that window minus its idle rate. CPU ms per write: all
the CPU the app used over the writes' windows less its idle rate over them, divided by the
writes (/proc counts in 10 ms ticks, so one write's own figure is coarse; their median is
printed beside it), and the write -> painted latency.
"""

from __future__ import annotations

import compileall
import contextlib
import json
import os
import random
import resource
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(BENCH))

from bench_app import APP, Terminal, child_env, proc_cpu  # noqa: E402
from benchlib import pct  # noqa: E402

from gastown_tui.dispatch.sling import sling_many  # noqa: E402
from gastown_tui.dispatch.tmuxfor import tmux_for  # noqa: E402
from gastown_tui.supervise.lease import current_holder  # noqa: E402
from gastown_tui.town.interop import import_beads  # noqa: E402
from gastown_tui.town.town import Town  # noqa: E402
from gastown_tui.tui.format import glyph  # noqa: E402

DATA = ROOT / "tests" / "data" / "gastown-beads"
AGENTS = [int(n) for n in os.environ.get("BENCH_SCALE_AGENTS", "25,50,100,200").split(",")]
# 100,000 imports in ~10 s here (the archive took max + 1 per closed bead, hours, until
# file_backend.py's put_beads numbered them from one max).
BEADS = [int(n) for n in os.environ.get("BENCH_SCALE_BEADS", "1000,10000,100000").split(",")]
SETTLE = float(os.environ.get("BENCH_SCALE_SETTLE", "10"))
IDLE = float(os.environ.get("BENCH_SCALE_IDLE", "20"))
IDLE_WRITES = float(os.environ.get("BENCH_SCALE_IDLE_WRITES", "10"))
KEYS = int(os.environ.get("BENCH_SCALE_KEYS", "20"))
WAITS = int(os.environ.get("BENCH_SCALE_WAITS", "8"))
WRITES = int(os.environ.get("BENCH_SCALE_WRITES", "24"))
ALL_OPEN = os.environ.get("BENCH_SCALE_ALL_OPEN") == "1"  # every bead open: the worst case
QUIET = 0.6
WAIT_TIMEOUT = 240.0
WAITING_TEXT = "Do you want to proceed?"


# -- small helpers ----------------------------------------------------------------------------
def rss_mb(pid: int) -> float:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return 0.0  # it ended between the listing and this look: it holds nothing now
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def pss_mb(pid: int) -> float:
    """Proportional set size: pages shared with other processes counted by share."""
    try:
        rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except FileNotFoundError:
        return 0.0
    for line in rollup.splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) / 1024
    return float("nan")


PAGE = os.sysconf("SC_PAGE_SIZE")
FRAME_MASK = (1 << 55) - 1


def resident_frames(pid: int) -> set[int] | None:
    """The physical page frames `pid` has resident (/proc/PID/pagemap: bit 63 present, bits
    0-54 the frame). None without the privilege to read frames (they read as 0)."""
    frames: set[int] = set()
    with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/pagemap", "rb") as pagemap:
        for line in maps:
            start, end = (int(part, 16) for part in line.split()[0].split("-"))
            if line.rstrip().endswith("[vsyscall]"):
                continue
            pagemap.seek(start // PAGE * 8)
            for (entry,) in struct.iter_unpack("Q", pagemap.read((end - start) // PAGE * 8)):
                if entry >> 63:
                    frames.add(entry & FRAME_MASK)
    if frames == {0}:
        return None
    return frames


def unique_mb(pids: list[int]) -> float:
    """The physical memory the processes hold together, each page once however many of them
    map it (a forked spare shares most of its pages with its parent; RSS counts them in
    both). Pages they share with other processes (the agents) count in full."""
    union: set[int] = set()
    for pid in pids:
        try:
            frames = resident_frames(pid)
        except FileNotFoundError:
            continue  # ended since it was listed
        if frames is None:
            return float("nan")
        union |= frames
    return len(union) * PAGE / 2**20


def children(pid: int) -> list[int]:
    """The processes `pid` started, from any of its threads."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):  # a thread that just ended
            found += [int(p) for p in (task / "children").read_text().split()]
    return found


def command_servers(parent: int) -> list[int]:
    """The town's command server among `parent`'s children (supervise/command_server.py),
    and its own processes (the spare)."""
    found = []
    for pid in children(parent):
        with contextlib.suppress(OSError):
            if b"gastown_tui.cmdserver" in Path(f"/proc/{pid}/cmdline").read_bytes():
                found += [pid, *children(pid)]
    return found


def tmux_clients(parents: list[int]) -> list[int]:
    """The tmux client processes `parents` run: the control clients their commands and the
    observer go through (tmux/control.py), part of the town's tmux share."""
    found = []
    for parent in parents:
        for pid in children(parent):
            with contextlib.suppress(OSError):
                if Path(f"/proc/{pid}/exe").resolve().name == "tmux":
                    found.append(pid)
    return found


def cpu_rate(pid: int, seconds: float) -> float:
    """% of one core a process (+ its reaped children) used over `seconds`."""
    before, start = proc_cpu(pid), time.monotonic()
    time.sleep(seconds)
    return 100 * (proc_cpu(pid) - before) / (time.monotonic() - start)


def wait_quiet(pid: int, quiet: float = QUIET, limit: float = 30.0) -> None:
    """Until the process used no CPU for `quiet` seconds (one clock tick is noise)."""
    tick = 1 / os.sysconf("SC_CLK_TCK")
    deadline = time.monotonic() + limit
    last = proc_cpu(pid)
    while time.monotonic() < deadline:
        time.sleep(quiet)
        now = proc_cpu(pid)
        if now - last <= tick:
            return
        last = now


def gt_env(town: Town) -> dict[str, str]:
    env = child_env()
    env["GT_TOWN"] = str(town.root)
    return env


def app_argv(tmp: Path, town: Town, *, supervise: bool) -> list[str]:
    script = tmp / "app.py"
    script.write_text(APP)
    return [sys.executable, str(script), str(town.root), "1" if supervise else "0"]


# -- part 1: the table for N demo agents -------------------------------------------------------
def build_agent_town(root: Path, agents: int) -> Town:
    for key, value in (("GIT_AUTHOR_NAME", "bench"), ("GIT_AUTHOR_EMAIL", "b@x")):
        os.environ[key] = value
        os.environ[key.replace("AUTHOR", "COMMITTER")] = value
    repo = root / "repo"
    repo.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=repo, check=True)
    (repo / "README.md").write_text("bench\n")
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    subprocess.run(["git", "commit", "-qm", "init"], cwd=repo, check=True)
    town = Town.init(root / "town", name="scaletown", runtime="demo")
    town.rigs.add("alpha", str(repo), prefix="al")
    beads = [town.beads.create(f"job {n}", rig="alpha").id for n in range(agents)]
    started = time.monotonic()
    batch = sling_many(town, tmux_for(town), beads, "alpha", runtime="demo")
    assert not batch.failures, batch.failures
    print(f"  ({agents} agents slung in {time.monotonic() - started:.1f} s)", flush=True)
    return town


def wait_holder(town: Town, pid: int, limit: float = 30.0) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        holder = current_holder(town)
        if holder is not None and holder.pid == pid:
            return
        time.sleep(0.05)
    raise AssertionError(f"pid {pid} did not take the supervisor lease in {limit:.0f} s")


def daemon_once_cpu(town: Town) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(
        [sys.executable, "-m", "gastown_tui", "daemon", "--once", "--town", str(town.root)],
        env=gt_env(town),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=True,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def measure_agents(tmp: Path, agents: int) -> dict[str, float]:
    town = build_agent_town(tmp / f"agents{agents}", agents)
    tmux = tmux_for(town)
    figures: dict[str, float] = {}
    daemon: subprocess.Popen[bytes] | None = None
    term: Terminal | None = None
    try:
        figures["patrol"] = daemon_once_cpu(town)
        daemon = subprocess.Popen(
            [sys.executable, "-m", "gastown_tui", "daemon", "--town", str(town.root)],
            env=gt_env(town),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_holder(town, daemon.pid)  # the app opens on a town the daemon supervises
        working = f"{glyph('working')}{agents}"
        term = Terminal(app_argv(tmp, town, supervise=True), child_env(), (working,))
        figures["working"] = term.wait(working, timeout=WAIT_TIMEOUT) - term.spawned
        time.sleep(SETTLE)
        figures["daemon_idle"] = cpu_rate(daemon.pid, IDLE)
        figures["app_idle"] = cpu_rate(term.proc.pid, IDLE)
        figures["key"], figures["key95"] = key_latency(term, town)
        figures["wait"], figures["wait95"] = waiting_latency(term, town)
        server = int(tmux.query("display-message", "-p", "#{pid}")[0])
        # The daemon holds the lease, so it runs the town's command server (cmdserver.py),
        # with its spare process.
        parts = {
            "tmux": [server, *tmux_clients([term.proc.pid, daemon.pid])],
            "app": [term.proc.pid],
            "daemon": [daemon.pid],
            "cmdserver": command_servers(daemon.pid),
        }
        # A process listed a moment ago may have ended since (a tmux client, a call's
        # process of the command server): only those still there are measured.
        parts = {part: [pid for pid in pids if Path(f"/proc/{pid}").exists()]
                 for part, pids in parts.items()}  # fmt: skip
        for part, pids in parts.items():
            figures[f"rss_{part}"] = sum(rss_mb(pid) for pid in pids)
            figures[f"pss_{part}"] = sum(pss_mb(pid) for pid in pids)
        figures["mem"] = sum(figures[f"rss_{part}"] for part in parts)
        figures["pss"] = sum(figures[f"pss_{part}"] for part in parts)
        figures["unique"] = unique_mb([pid for pids in parts.values() for pid in pids])
        assert daemon.poll() is None, "gt daemon exited during the run"
    finally:
        if term is not None:
            term.close()
        if daemon is not None:
            daemon.terminate()
            try:
                daemon.wait(15)
            except subprocess.TimeoutExpired:
                daemon.kill()
                daemon.wait(5)
        tmux.kill_server()
    return figures


def polecat_names(town: Town) -> list[str]:
    return sorted(p.name for p, _ in town.polecats.list_with_hooks())


def key_latency(term: Terminal, town: Town) -> tuple[float, float]:
    """`down` in the Rigs tree until the newly selected polecat's Preview title is painted."""
    names = polecat_names(town)
    rng = random.Random(7)
    lags = []
    for name in names[: min(KEYS, len(names))]:
        text = f"Preview · alpha/{name}"
        term.expect(text)
        before = time.monotonic()
        os.write(term.master, b"\x1b[B")
        lags.append(term.wait(text, timeout=30) - before)
        time.sleep(rng.uniform(0.2, 0.5))
    return pct(lags, 0.5) * 1000, pct(lags, 0.95) * 1000


def waiting_latency(term: Terminal, town: Town) -> tuple[float, float]:
    """The demo runtime's waiting prompt shows in a pane -> the status line counts it."""
    tmux = tmux_for(town)
    panes = [w.pane_id for w in tmux.list_windows("gt-alpha") if w.pane_id]
    rng = random.Random(3)
    lags = []
    # From the end of the list: the key probes moved the Preview onto the first polecats, and
    # a pane on screen in the Preview is captured anyway.
    for count, pane in enumerate(reversed(panes[-WAITS:]), 1):
        text = f"{glyph('waiting')}{count}"
        term.expect(text)
        before = time.monotonic()
        tmux.run("send-keys", "-t", pane, "-l", WAITING_TEXT)
        tmux.run("send-keys", "-t", pane, "Enter")
        lags.append(term.wait(text, timeout=WAIT_TIMEOUT) - before)
        time.sleep(rng.uniform(1.0, 2.0))
    return pct(lags, 0.5), pct(lags, 0.95)


ROWS = [
    # key, label, format, unit, target at 200
    ("wait", "a prompt starts waiting -> shown waiting in the app, median", "{:.1f}", "s", ""),
    ("wait95", "  same, p95", "{:.1f}", "s", "<= 2 s"),
    ("key", "key -> repaint (160x48), median", "{:.0f}", "ms", "<= 50 ms"),
    ("key95", "  same, p95", "{:.0f}", "ms", "<= 100 ms"),
    ("app_idle", "app idle CPU, % of a core", "{:.1f}", "%", "<= 5 %"),
    ("patrol", "one full patrol (gt daemon --once), CPU", "{:.2f}", "s", "<= 0.5 s"),
    ("daemon_idle", "gt daemon idle CPU, % of a core", "{:.1f}", "%", "<= 2 %"),
    ("working", "all agents shown working after app start", "{:.1f}", "s", ""),
    ("unique", "town's own memory (tmux, app, daemon, cmdserver)", "{:.0f}", "MB", "< 100 MB"),
    ("mem_per", "  same, per agent", "{:.2f}", "MB", ""),
    ("mem", "  sum of their RSS (a shared page counted in each)", "{:.0f}", "MB", ""),
    ("pss", "  sum of their PSS (a shared page split among sharers)", "{:.0f}", "MB", ""),
    *(
        (f"{kind}_{part}", f"    {part}, {kind.upper()}", "{:.1f}", "MB", "")
        for part in ("tmux", "app", "daemon", "cmdserver")
        for kind in ("rss", "pss")
    ),
]


def print_table(results: dict[int, dict[str, float]]) -> None:
    sizes = sorted(results)
    base = sizes[0]
    for n, figures in results.items():
        figures["mem_per"] = figures["unique"] / n
    head = f"{'agents':<62}" + "".join(f"{n:>22}" for n in sizes) + "   target at 200"
    print(head)
    for key, label, fmt, unit, target in ROWS:
        cells = []
        for n in sizes:
            value = results[n][key]
            cell = f"{fmt.format(value)} {unit}"
            if n != base:
                ratio = value / results[base][key] if results[base][key] else float("nan")
                cell += f" ({ratio:.1f}x)"
            cells.append(f"{cell:>22}")
        print(f"{label:<62}" + "".join(cells) + f"   {target}")
    print(f"(each ratio is the figure over its {base}-agent figure)")


def part_agents(tmp: Path) -> None:
    print(
        f"== scale: {'/'.join(map(str, AGENTS))} demo agents, app viewer on a 160x48 pty, "
        f"`gt daemon` supervising; idle over {IDLE:.0f} s after {SETTLE:.0f} s, {KEYS} keys, "
        f"{WAITS} waiting prompts",
        flush=True,
    )
    results: dict[int, dict[str, float]] = {}
    for agents in AGENTS:
        results[agents] = measure_agents(tmp, agents)
        rounded = {k: round(v, 3) for k, v in results[agents].items()}
        print(f"  {agents} agents: {json.dumps(rounded)}", flush=True)
    print_table(results)


# -- part 2: app CPU per store write -----------------------------------------------------------
def build_ledger_town(root: Path, count: int) -> Town:
    """A town whose rig `gastown` holds `count` beads cloned from the real ledger and
    imported as `gt bead import` imports them (see the module docstring)."""
    source = root / "ledger"
    source.mkdir(parents=True)
    rows = [json.loads(line) for line in (DATA / "issues.jsonl").open() if line.strip()]
    copies = -(-count // len(rows))

    def renamed(old: str, copy: int) -> str:
        return f"{old}-s{copy}"

    with (source / "issues.jsonl").open("w") as out:
        for n in range(count):
            copy, row = divmod(n, len(rows))
            fresh = {**rows[row], "id": renamed(rows[row]["id"], copy)}
            if ALL_OPEN:
                fresh.update(status="open", assignee=None, closed_at=None)
            out.write(json.dumps(fresh) + "\n")
    ids = {row["id"]: n for n, row in enumerate(rows)}
    for name, keys in (("dependencies", ("issue_id", "depends_on_id")), ("labels", ("issue_id",))):
        related = [json.loads(line) for line in (DATA / f"{name}.jsonl").open() if line.strip()]
        with (source / f"{name}.jsonl").open("w") as out:
            for copy in range(copies):
                for rel in related:
                    if any(rel.get(k) not in ids for k in keys):
                        continue
                    if any(copy * len(rows) + ids[rel[k]] >= count for k in keys):
                        continue
                    out.write(json.dumps({**rel, **{k: renamed(rel[k], copy) for k in keys}}))
                    out.write("\n")
    for name in ("comments", "events", "config"):
        (source / f"{name}.jsonl").write_text("")
    town = Town.init(root / "town", name="ledgertown")
    (root / "gastown").mkdir()
    town.rigs.add("gastown", str(root / "gastown"), prefix="gt", no_git=True)
    import_beads(town, source, rig="gastown", skip_bad=True)
    shutil.rmtree(source)
    return town


def measure_writes(tmp: Path, count: int) -> dict[str, float]:
    town = build_ledger_town(tmp / f"ledger{count}", count)
    first = town.beads.ready("gastown")[0]
    marker0 = f"wprobe{count}a"
    town.beads.update(first.id, title=marker0)
    term = Terminal(app_argv(tmp, town, supervise=False), child_env(), (marker0,))
    cpus, lags, spent, windows = [], [], 0.0, 0.0
    try:
        start_paint = term.wait(marker0, timeout=WAIT_TIMEOUT) - term.spawned
        time.sleep(SETTLE)
        pid = term.proc.pid
        idle = cpu_rate(pid, IDLE_WRITES) / 100  # seconds of CPU per second
        for n in range(WRITES):
            marker = f"wprobe{count}n{n}"
            term.expect(marker)
            wait_quiet(pid)
            cpu0, t0 = proc_cpu(pid), time.monotonic()
            town.beads.update(first.id, title=marker)
            lags.append(term.wait(marker, timeout=WAIT_TIMEOUT) - t0)
            wait_quiet(pid)
            window = time.monotonic() - t0 - QUIET
            used = proc_cpu(pid) - cpu0
            spent, windows = spent + used, windows + window
            cpus.append(max(0.0, used - idle * window))
    finally:
        term.close()
    return {
        "open": len(town.beads.list_docs(rig="gastown")),
        # /proc counts CPU in 10 ms ticks: one write's figure is a few ticks, so the mean
        # over every write (all the CPU less the idle rate, over the writes) is the figure;
        # the median of the per-write figures is printed beside it.
        "cpu": max(0.0, spent - idle * windows) / WRITES * 1000,
        "cpu_median": statistics.median(cpus) * 1000,
        "cpu_max": max(cpus) * 1000,
        "lag": statistics.median(lags) * 1000,
        "start": start_paint,
        "idle": idle * 100,
    }


def part_writes(tmp: Path) -> None:
    print(
        f"== app CPU per store write (viewer app on a 160x48 pty; {WRITES} writes of one bead's "
        "title by another process, each until painted and the app quiet again; idle rate "
        "subtracted)",
        flush=True,
    )
    for count in BEADS:
        f = measure_writes(tmp, count)
        target = {10_000: "  (target <= 20 ms)", 100_000: "  (target <= 50 ms)"}.get(count, "")
        print(
            f"{count:>7,} beads ({f['open']:,} open): app CPU per write {f['cpu']:.0f} ms "
            f"(median {f['cpu_median']:.0f}, max {f['cpu_max']:.0f} ms){target}; "
            f"write -> painted median {f['lag']:.0f} ms; app "
            f"start -> ledger painted {f['start']:.1f} s; app idle {f['idle']:.1f} % of a core",
            flush=True,
        )


def main() -> None:
    compileall.compile_dir(str(ROOT / "gastown_tui"), quiet=1)
    os.environ["GT_TMUX_CONF"] = os.devnull
    os.environ["GT_DEMO_STEP"] = "3600"
    parts = sys.argv[1:] or ["writes", "agents"]
    unknown = [p for p in parts if p not in ("writes", "agents")]
    if unknown:
        raise SystemExit(f"bench_scale: unknown part {unknown[0]!r}: use `writes` or `agents`")
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        if "writes" in parts:
            part_writes(tmp)
        if "agents" in parts:
            part_agents(tmp)


if __name__ == "__main__":
    main()
