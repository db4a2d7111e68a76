"""App benchmarks (issue: the town app). Prints its figures; run with `make bench`.

Every app here is a fresh process on a pseudo-terminal of our own (`pty`, 160x48,
TERM=xterm-256color), driven by Textual's real Linux driver, exactly as a person's terminal
would run it; a thread of this script drains the terminal and notes the moment given texts
first arrive on it. No real terminal is needed, so it runs headless (CI). The town is a
throwaway one in a temp folder with its own tmux socket (GT_TMUX_CONF=/dev/null), killed at
the end.

1. Start to first painted frame. Town: tests/data/gastown-beads imported into rig `gastown`,
   plus 10,000 extra events in events.jsonl. The app is started as `gt tui` starts it
   (`make_app(Town.open(root)).run()`, real tmux handle, watcher on) but with supervision
   off, so no patrols compete with start-up; a second figure starts the real CLI, `python -m
   gastown_tui tui` (supervising), for reference. The bare app is Textual's hello world (an
   App whose compose yields `Static("Hello, world")`). For both, the clock starts just before
   the process is spawned (interpreter start and imports count) and stops when the frame's
   text has reached the terminal: "Hello, world" for the bare app; for ours, the frame that
   shows the town's data, i.e. both the rig's "<n> open" line of the Rigs tree (n = open
   beads imported) and the newest event's text in the Feed. (The first frame of the app's
   screen before its data loads, the town name in the status bar, is printed too.) One
   warm-up round, then RUNS rounds of the three (hello world, app, `gt tui`), each a fresh
   process; p50 of each and the ratio to hello world. A supervising app logs events of its
   own, so the marker event is appended again before each run to stay the newest.
2. Event appended by another process -> visible in the Feed: the app (supervision off,
   watcher on) runs on the same town; this script, another process, appends 50 events with
   EventLog.append (one at a time, 150-450 ms apart at random so the watcher's debounce is
   not phase-locked) and times from just before each append until the event's unique text has
   been painted in the Feed pane on the terminal. p50 and p95.
3. Idle CPU and memory: a town with one git rig and 20 polecats slung with the `demo` runtime
   and GT_DEMO_STEP=3600 (they stay `working`, paused between steps; the bench waits for the
   app's status line to count 20 working). After SETTLE seconds (start-up, first looks at the
   polecats) the app is measured for IDLE seconds without input: CPU = utime+stime of the app
   process (all its threads) plus its reaped children (the tmux clients it runs to observe
   the polecats and capture the preview), from /proc/<pid>/stat, as % of one core; memory =
   the app process's peak RSS (VmHWM). Measured for the app as a viewer (supervision off),
   then in the same process with a polecat selected (the Preview captures its pane twice a
   second), and for the app as `gt tui` runs it (holding the supervisor lease and running
   the witness, refinery and deacon patrols itself). The tmux server and the agents are not
   counted: they run whether the app is open or not.
"""

from __future__ import annotations

import compileall
import fcntl
import os
import pty
import random
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gastown_tui.dispatch.sling import sling_many  # noqa: E402
from gastown_tui.dispatch.tmuxfor import tmux_for  # noqa: E402
from gastown_tui.town.clock import iso  # noqa: E402
from gastown_tui.town.interop import import_beads  # noqa: E402
from gastown_tui.town.models import Event  # noqa: E402
from gastown_tui.town.town import Town  # noqa: E402
from gastown_tui.tui.format import glyph  # noqa: E402

DATA = ROOT / "tests" / "data" / "gastown-beads"
COLS, ROWS = 160, 48
RUNS = int(os.environ.get("BENCH_APP_RUNS", "7"))
EXTRA_EVENTS = 10_000
PROBES = 50
POLECATS = 20
SETTLE = float(os.environ.get("BENCH_APP_SETTLE", "15"))
IDLE = float(os.environ.get("BENCH_IDLE_SECONDS", "30"))
TIMEOUT = 60.0
TOWN_NAME = "benchtown"
NEWEST = "bench-newest"  # the text of the newest of the 10,000 events

HELLO = """\
from textual.app import App, ComposeResult
from textual.widgets import Static


class Hello(App):
    def compose(self) -> ComposeResult:
        yield Static("Hello, world")


Hello().run()
"""

# How `gt tui` builds and runs the app (gastown_tui/commands/app.py: run_app), with a switch
# for supervision.
APP = """\
import sys

from gastown_tui.town.town import Town
from gastown_tui.tui.app import make_app

app = make_app(Town.open(sys.argv[1]), supervise=sys.argv[2] == "1")
app.run()
"""


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


class Terminal:
    """A process on a pseudo-terminal of its own. A thread drains the terminal and notes when
    each text we `expect` first reaches it (time.monotonic, the same clock in every process)."""

    def __init__(self, argv: list[str], env: dict[str, str], expect: tuple[str, ...] = ()):
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLS, 0, 0))
        self.master = master
        self.buffer = bytearray()
        self.cond = threading.Condition()
        self.wanted: set[bytes] = {t.encode() for t in expect}
        self.seen: dict[bytes, float] = {}
        self.closed = False
        self.spawned = time.monotonic()
        self.proc = subprocess.Popen(
            argv, stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True
        )
        os.close(slave)
        self.thread = threading.Thread(target=self._drain, daemon=True)
        self.thread.start()

    def _drain(self) -> None:
        while True:
            try:
                chunk = os.read(self.master, 1 << 16)
            except OSError:
                chunk = b""
            now = time.monotonic()
            with self.cond:
                if not chunk:
                    self.closed = True
                    self.cond.notify_all()
                    return
                start = max(0, len(self.buffer) - 64)
                self.buffer += chunk
                for text in [t for t in self.wanted if self.buffer.find(t, start) >= 0]:
                    self.wanted.discard(text)
                    self.seen[text] = now
                self.cond.notify_all()

    def expect(self, text: str) -> None:
        with self.cond:
            raw = text.encode()
            if raw not in self.seen:
                self.wanted.add(raw)

    def wait(self, *texts: str, timeout: float = TIMEOUT) -> float:
        """When the last of `texts` first appeared on the terminal."""
        raws = [t.encode() for t in texts]
        deadline = time.monotonic() + timeout
        with self.cond:
            while not all(r in self.seen for r in raws):
                left = deadline - time.monotonic()
                if left <= 0 or self.closed:
                    missing = [r.decode() for r in raws if r not in self.seen]
                    dump = Path(tempfile.gettempdir()) / "bench_app_terminal.out"
                    dump.write_bytes(bytes(self.buffer))
                    raise SystemExit(
                        f"bench_app: {missing!r} did not appear on the terminal of "
                        f"{self.proc.args!r} (exit status {self.proc.poll()}); what it showed "
                        f"is in {dump}"
                    )
                self.cond.wait(left)
            return max(self.seen[r] for r in raws)

    def close(self) -> None:
        """Quit as a person would (ctrl+q); kill if that does not work."""
        if self.proc.poll() is None:
            try:
                os.write(self.master, b"\x11")
                self.proc.wait(10)
            except (OSError, subprocess.TimeoutExpired):
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        os.close(self.master)
        self.thread.join(5)


def child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEXTUAL")}
    for name in ("COLUMNS", "LINES", "TMUX", "TMUX_PANE"):
        env.pop(name, None)
    env["TERM"] = "xterm-256color"
    env["PYTHONPATH"] = str(ROOT)
    return env


def proc_cpu(pid: int) -> float:
    """utime+stime of a process (all threads) and its reaped children, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = sum(int(fields[i]) for i in (11, 12, 13, 14))
    return ticks / os.sysconf("SC_CLK_TCK")


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# -- towns -------------------------------------------------------------------------------------
def build_data_town(root: Path) -> tuple[Town, int]:
    """The real ledger imported into rig `gastown`, plus 10,000 events. Returns the town and
    how many open beads its rig has."""
    town = Town.init(root / "town", name=TOWN_NAME)
    (root / "gastown").mkdir()
    town.rigs.add("gastown", str(root / "gastown"), prefix="gt", no_git=True)
    import_beads(town, DATA, rig="gastown")
    open_count = len(town.beads.list(rig="gastown"))
    bead_ids = [b.id for b in town.beads.list(rig="gastown", include_closed=True)]
    rng = random.Random(11)
    kinds = ["bead.created", "bead.updated", "bead.closed", "polecat.started", "mail.sent"]
    kinds += ["nudge.delivered", "convoy.created", "polecat.done", "merge.merged"]
    actors = [f"gastown/{n}" for n in ("furiosa", "nux", "slit", "toast", "capable")]
    actors += ["mayor", "deacon", "gastown/witness", "gastown/refinery", "overseer"]
    words = [
        "fuel",
        "water",
        "guzzoline",
        "convoy",
        "rig",
        "war",
        "boy",
        "citadel",
        "road",
        "fury",
        "chrome",
        "shiny",
    ]
    now = time.time()
    docs = []
    for n in range(EXTRA_EVENTS):
        msg = " ".join(rng.choices(words, k=rng.randint(3, 9)))
        if n == EXTRA_EVENTS - 1:
            msg = NEWEST
        ts = iso(now - 86400 + 86400 * n / EXTRA_EVENTS - 60)
        event = Event(ts, rng.choice(kinds), rng.choice(actors), "gastown", rng.choice(bead_ids))
        event.msg = msg
        docs.append(event.to_dict())
    town.events.append_raw(docs)
    return town, open_count


def build_polecat_town(root: Path, polecats: int) -> Town:
    """One git rig and `polecats` demo agents slung, working slowly (GT_DEMO_STEP)."""
    for key, value in (("GIT_AUTHOR_NAME", "bench"), ("GIT_AUTHOR_EMAIL", "b@x")):
        os.environ[key] = value
        os.environ[key.replace("AUTHOR", "COMMITTER")] = value
    repo = root / "repo"
    repo.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=repo, check=True)
    (repo / "README.md").write_text("bench\n")
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    subprocess.run(["git", "commit", "-qm", "init"], cwd=repo, check=True)
    town = Town.init(root / "town", name=TOWN_NAME, runtime="demo")
    town.rigs.add("alpha", str(repo), prefix="al")
    beads = [town.beads.create(f"job {n}", rig="alpha").id for n in range(polecats)]
    batch = sling_many(town, tmux_for(town), beads, "alpha", runtime="demo")
    assert not batch.failures, batch.failures
    return town


# -- figures -----------------------------------------------------------------------------------
def start_times(tmp: Path, town: Town, open_count: int) -> None:
    hello = tmp / "hello.py"
    hello.write_text(HELLO)
    app = tmp / "app.py"
    app.write_text(APP)
    env = child_env()
    rig_line, root = f"{open_count} open", str(town.root)
    cases = {
        "hello": ([sys.executable, str(hello)], ("Hello, world",)),
        "app": ([sys.executable, str(app), root, "0"], (TOWN_NAME, rig_line, NEWEST)),
        "gt": ([sys.executable, "-m", "gastown_tui", "tui", "--town", root], (rig_line, NEWEST)),
    }
    times: dict[str, list[float]] = {name: [] for name in cases}
    chrome: list[float] = []
    for run in range(RUNS + 1):  # run 0 warms the disk cache and is not counted
        for name, (argv, texts) in cases.items():
            if NEWEST in texts:
                # The supervising app logs its own events: make ours the newest again.
                town.events.append("bench.newest", actor="mayor", rig="gastown", msg=NEWEST)
            term = Terminal(argv, env, texts)
            try:
                done = term.wait(*texts) - term.spawned
                if run and name == "app":
                    chrome.append(term.wait(TOWN_NAME) - term.spawned)
            finally:
                term.close()
            if run:
                times[name].append(done)
    p50 = {name: statistics.median(values) * 1000 for name, values in times.items()}
    print(
        f"start to first painted frame, bare Textual hello world: p50 {p50['hello']:.0f} ms "
        f"(fresh process, {RUNS} runs)"
    )
    print(
        f"start to first frame with the town's data (Rigs '{rig_line}' + newest of "
        f"{EXTRA_EVENTS:,} events in the Feed), app with supervision off: p50 {p50['app']:.0f}"
        f" ms = {p50['app'] / p50['hello']:.2f}x hello world (target <= 3x); its first frame "
        f"before the data: p50 {statistics.median(chrome) * 1000:.0f} ms"
    )
    print(
        f"same, the real `gt tui` command (supervising): p50 {p50['gt']:.0f} ms = "
        f"{p50['gt'] / p50['hello']:.2f}x hello world"
    )


def feed_latency(tmp: Path, town: Town) -> None:
    app = tmp / "app.py"
    term = Terminal([sys.executable, str(app), str(town.root), "0"], child_env(), (NEWEST,))
    try:
        term.wait(NEWEST)
        time.sleep(1.0)  # the watcher is up
        rng = random.Random(5)
        lags = []
        for n in range(PROBES):
            text = f"probe#{n:02d}"
            term.expect(text)
            before = time.monotonic()
            town.events.append("bench.probe", actor="gastown/furiosa", rig="gastown", msg=text)
            lags.append(term.wait(text, timeout=10) - before)
            time.sleep(rng.uniform(0.15, 0.45))
        rss = peak_rss_mb(term.proc.pid)
    finally:
        term.close()
    print(
        f"event appended by another process -> painted in the Feed: p50 "
        f"{pct(lags, 0.5) * 1000:.0f} ms, p95 {pct(lags, 0.95) * 1000:.0f} ms, max "
        f"{max(lags) * 1000:.0f} ms over {PROBES} events (target p95 <= 250 ms); the app's "
        f"peak RSS on this town: {rss:.0f} MB"
    )


def idle_cost(tmp: Path, town: Town, supervise: bool) -> None:
    app = tmp / "app.py"
    argv = [sys.executable, str(app), str(town.root), "1" if supervise else "0"]
    working = f"{glyph('working')}{POLECATS}"  # the status line: 20 polecats, all working
    term = Terminal(argv, child_env(), (working,))
    mode = "supervising (as `gt tui`)" if supervise else "viewer (supervision off)"
    try:
        term.wait(working)
        figures = [measure_idle(term, f"idle app, {POLECATS} working demo polecats, {mode}")]
        if not supervise:
            # A person watching one agent: the Preview captures its pane twice a second.
            term.expect("Preview · alpha/")
            os.write(term.master, b"\x1b[B")  # down: from the rig to its first polecat
            term.wait("Preview · alpha/")
            figures.append(measure_idle(term, "same, a polecat selected (Preview live)"))
    finally:
        term.close()
    for line in figures:
        print(line)


def measure_idle(term: Terminal, what: str) -> str:
    time.sleep(SETTLE)
    pid = term.proc.pid
    cpu, start = proc_cpu(pid), time.monotonic()
    time.sleep(IDLE)
    used, elapsed = proc_cpu(pid) - cpu, time.monotonic() - start
    rss = peak_rss_mb(pid)
    assert term.proc.poll() is None, "the app exited during the idle measurement"
    return (
        f"{what}: CPU {100 * used / elapsed:.2f}% of one core over {elapsed:.0f} s (app "
        f"process, all threads, + its reaped children: the tmux clients it runs; target <= 3%);"
        f" peak RSS {rss:.0f} MB (app process; target <= 150 MB)"
    )


def main() -> None:
    compileall.compile_dir(str(ROOT / "gastown_tui"), quiet=1)
    os.environ["GT_TMUX_CONF"] = os.devnull
    os.environ["GT_DEMO_STEP"] = "3600"
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        town, open_count = build_data_town(tmp / "data")
        try:
            start_times(tmp, town, open_count)
            feed_latency(tmp, town)
        finally:
            tmux_for(town).kill_server()
        town = build_polecat_town(tmp / "polecats", POLECATS)
        try:
            idle_cost(tmp, town, supervise=False)
            idle_cost(tmp, town, supervise=True)
        finally:
            tmux_for(town).kill_server()


if __name__ == "__main__":
    main()
