"""What an agent's `gt` call costs, beside its floor (issue 12, point 5). Prints figures; run
with `.venv/bin/python bench/bench_cli.py [--runs 20]`.

One run, one throwaway town (a git rig, a cheap agent program `sh -c 'echo READY; exec cat'`
so the figures measure our machinery, not an agent), every command timed as a whole process,
all of them interleaved round by round so each sees the same machine load:

- `gt prime`, `gt hook`, `gt mail send`, `gt bead create` against a bare `python -c pass`
  (target: each p50 <= 3x);
- `gt sling BEAD RIG` (a fresh polecat: worktree, window, confirmed up) against its raw parts,
  `git worktree add` + `tmux new-window` of the same program (target <= 3x);
- `gt nudge AGENT TEXT` (typed, Enter, both verified) against its raw parts, `tmux send-keys
  -l`, `send-keys Enter`, `capture-pane` (target <= 4x);
- `gt done` and `gt --help` for information.

Every `gt` line is timed three ways. First as agents of a supervised town run it: the town's
own `gt` script that their PATH starts with (dispatch/agents.py `agent_bin`), through the
town's command server (gastown_tui/cmdserver.py, started here as the supervisor starts it);
the targets are read off these. Then the installed `gt` (pip's wrapper, which also imports
`re`) through the server, as a person's call is run ("installed gt"); and the installed `gt`
in its own process (`GT_COMMAND_SERVER=off`, "own process"), as when no supervisor runs.

Each figure is given as wall time and as CPU time (user + system of the timed processes and
of everything they ran: tmux and git clients included, and the command server's own and its
reaped processes', in the clock ticks the kernel counts them in), p50 and the ratio to the
floor: on a machine shared with other work the CPU figures move much less than the wall-clock ones.

The package is byte-compiled first and the timed processes run without
PYTHONDONTWRITEBYTECODE, as an installed `gt` does: otherwise every process would recompile
every module it imports.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchlib import compile_package, pct  # noqa: E402

from gastown_tui.cmdserver import SPARES  # noqa: E402
from gastown_tui.dispatch.sling import sling  # noqa: E402
from gastown_tui.dispatch.tmuxfor import tmux_for  # noqa: E402
from gastown_tui.town.town import Town  # noqa: E402

AGENT = "alpha/nux"
GIT_ENV = {
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@gastown.invalid",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@gastown.invalid",
}
OWN = " (own process)"
INSTALLED = " (installed gt)"
# (label, floor label, target ratio)
TARGETS = {
    "gt prime": ("python -c pass", 3.0),
    "gt hook": ("python -c pass", 3.0),
    "gt mail send": ("python -c pass", 3.0),
    "gt bead create": ("python -c pass", 3.0),
    "gt done": ("python -c pass", None),
    "gt --help": ("python -c pass", None),
    "gt sling": ("raw sling (git worktree add + tmux new-window)", 3.0),
    "gt nudge": ("raw nudge (send-keys -l, send-keys Enter, capture-pane)", 4.0),
}


def make_repo(path: Path) -> Path:
    env = {**os.environ, **GIT_ENV}
    path.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True, env=env)
    for n in range(20):
        (path / f"src_{n}.py").write_text(f"VALUE = {n}\n" * 50)
    subprocess.run(["git", "add", "-A"], cwd=path, check=True, env=env)
    subprocess.run(["git", "commit", "-q", "-m", "init"], cwd=path, check=True, env=env)
    return path


def build_town(root: Path) -> Town:
    town = Town.init(root / "town", name="bench")
    with open(town.paths.town_toml, "a") as handle:
        # A program that says it is up and echoes what is typed: the cheapest "agent".
        handle.write(
            '\n[runtimes.reader]\ncommand = ["sh", "-c", "echo READY; exec cat"]\n'
            'prompt = "none"\nstarted = "READY"\n'
        )
    town.rigs.add("alpha", str(make_repo(root / "alpha-upstream")), prefix="al")
    return Town.open(town.root)


SERVER: list[int] = []  # the command server's pid, once started
TICK = os.sysconf("SC_CLK_TCK")


def children_cpu() -> float:
    """CPU seconds of the finished child processes so far (and of their children), and of the
    command server's reaped calls."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    served = 0.0
    for pid in SERVER:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            fields = handle.read().rsplit(b")", 1)[1].split()
        served += sum(int(field) for field in fields[11:15]) / TICK  # its own, and reaped
    return usage.ru_utime + usage.ru_stime + served


def server_settled() -> None:
    """Wait until the server has reaped the process that ran the last call (it answers its
    caller just before it ends), so that its CPU is counted in this call's figure."""
    for pid in SERVER:
        deadline = time.monotonic() + 5.0
        children = Path(f"/proc/{pid}/task/{pid}/children")
        while len(call_processes(children)) > SPARES and time.monotonic() < deadline:
            time.sleep(0.0005)


def call_processes(children: Path) -> list[str]:
    """The server's children that run calls (or wait to): not its own tmux control client
    (cmdserver.py `shared_client`)."""
    calls = []
    for child in children.read_text().split():
        try:
            if not Path(f"/proc/{child}/comm").read_text().startswith(("tmux", "setpriv")):
                calls.append(child)
        except OSError:
            continue
    return calls


class Stopwatch:
    """Wall and CPU time (ms) of the processes run between start and stop."""

    def __init__(self) -> None:
        self.wall = time.perf_counter()
        self.cpu = children_cpu()

    def stop(self) -> tuple[float, float]:
        return (
            (time.perf_counter() - self.wall) * 1000,
            (children_cpu() - self.cpu) * 1000,
        )


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    watch = Stopwatch()
    subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, check=True)
    wall = (time.perf_counter() - watch.wall) * 1000
    server_settled()
    return wall, watch.stop()[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="rounds (each times every command)")
    args = parser.parse_args()
    compile_package()
    os.environ.setdefault("GT_TMUX_CONF", os.devnull)
    tmux_exe = shutil.which("tmux") or "tmux"
    git_exe = shutil.which("git") or "git"

    with tempfile.TemporaryDirectory(prefix="gt-bench-cli-") as folder:
        tmp = Path(folder)
        town = build_town(tmp)
        tmux = tmux_for(town)
        try:
            # The agent the agent-side commands run as, with a bead on its hook and a window.
            first = town.beads.create("bench: the hooked bead", rig="alpha")
            sling(town, tmux, first.id, "alpha", runtime="reader", to="nux")
            info = tmux.find_window("gt-alpha", "nux")
            assert info is not None
            done_agent = "alpha/dune"  # slung in-process before each timed `gt done`
            env = {**os.environ, **GIT_ENV, "GT_TOWN": str(town.root), "GT_AGENT": AGENT}
            env.pop("PYTHONDONTWRITEBYTECODE", None)  # measure as installed: with bytecode
            gt = [str(Path(sys.executable).with_name("gt"))]
            if not Path(gt[0]).exists():
                gt = [sys.executable, "-m", "gastown_tui"]
            # The town's command server, as the supervisor holding the lease runs it.
            server = subprocess.Popen(
                [sys.executable, "-m", "gastown_tui.cmdserver", "--town", str(town.root)],
                env=env,
                cwd="/",
            )
            while not town.paths.command_socket.exists():
                time.sleep(0.01)
            SERVER.append(server.pid)
            own = {**env, "GT_COMMAND_SERVER": "off"}
            socket = str(town.paths.tmux_socket)
            rig_repo = Path(town.rigs.get("alpha").path)
            raw_tree = tmp / "raw-trees"
            counter = iter(range(1_000_000))

            def raw_sling() -> tuple[float, float]:
                n = next(counter)
                watch = Stopwatch()
                subprocess.run(
                    [
                        git_exe,
                        "-C",
                        str(rig_repo),
                        "worktree",
                        "add",
                        "-q",
                        "-b",
                        f"raw-{n}",
                        str(raw_tree / f"raw-{n}"),
                    ],
                    env=env,
                    check=True,
                    stdout=subprocess.DEVNULL,
                )
                subprocess.run(
                    [
                        tmux_exe,
                        "-L",
                        socket,
                        "new-window",
                        "-d",
                        "-t",
                        "=gt-alpha:",
                        "-n",
                        f"raw-{n}",
                        "-c",
                        str(raw_tree / f"raw-{n}"),
                        "sh -c 'echo READY; exec cat'",
                    ],
                    env=env,
                    check=True,
                )
                return watch.stop()

            def raw_nudge() -> tuple[float, float]:
                n = next(counter)
                watch = Stopwatch()
                base = [tmux_exe, "-L", socket]
                subprocess.run([*base, "send-keys", "-t", info.pane_id, "-l", f"raw {n}"], env=env)
                subprocess.run([*base, "send-keys", "-t", info.pane_id, "Enter"], env=env)
                subprocess.run(
                    [*base, "capture-pane", "-p", "-t", info.pane_id],
                    env=env,
                    stdout=subprocess.DEVNULL,
                )
                return watch.stop()

            def gt_sling(program: list[str], with_env: dict[str, str]) -> tuple[float, float]:
                n = next(counter)
                bead = town.beads.create(f"bench sling {n}", rig="alpha")
                # --to a new name: a fresh worktree every time, like the raw parts
                words = ["sling", bead.id, "alpha", "--agent", "reader", "--to", f"s{n}"]
                return timed([*program, *words], with_env)

            def gt_done(program: list[str], with_env: dict[str, str]) -> tuple[float, float]:
                fresh = Town.open(town.root)  # it sees what the `gt done` before it wrote
                bead = fresh.beads.create(f"bench done {next(counter)}", rig="alpha")
                sling(fresh, tmux, bead.id, "alpha", runtime="reader", to="dune")
                agent = {**with_env, "GT_AGENT": done_agent}
                return timed([*program, "done", "-m", "bench"], agent)

            agent_gt = [str(town.paths.runtime / "bin" / "gt")]  # written by the sling above
            assert Path(agent_gt[0]).exists()

            def both(
                label: str, run: Callable[[list[str], dict[str, str]], tuple[float, float]]
            ) -> list[tuple[str, Callable[[], tuple[float, float]]]]:
                return [
                    (label, lambda: run(agent_gt, env)),
                    (label + INSTALLED, lambda: run(gt, env)),
                    (label + OWN, lambda: run(gt, own)),
                ]

            def line(*words: str) -> Callable[[list[str], dict[str, str]], tuple[float, float]]:
                return lambda program, with_env: timed([*program, *words], with_env)

            cases: list[tuple[str, Callable[[], tuple[float, float]]]] = [
                ("python -c pass", lambda: timed([sys.executable, "-c", "pass"], env)),
                ("gt --help", lambda: timed([*gt, "--help"], env)),
                *both("gt prime", line("prime")),
                *both("gt hook", line("hook")),
                *both("gt mail send", line("mail", "send", "mayor", "-s", "bench", "-m", "a body")),
                *both("gt bead create", line("bead", "create", "bench bead", "--rig", "alpha")),
                *both("gt done", gt_done),
                ("raw sling (git worktree add + tmux new-window)", raw_sling),
                *both("gt sling", gt_sling),
                ("raw nudge (send-keys -l, send-keys Enter, capture-pane)", raw_nudge),
                *both("gt nudge", line("nudge", AGENT, "bench nudge")),
            ]
            for _, run in cases:  # warm-up: caches, the tmux server, git's index
                run()
            figures: dict[str, list[float]] = {label: [] for label, _ in cases}
            cpu: dict[str, list[float]] = {label: [] for label, _ in cases}
            for _ in range(args.runs):
                for label, run in cases:
                    wall_ms, cpu_ms = run()
                    figures[label].append(wall_ms)
                    cpu[label].append(cpu_ms)
        finally:
            if SERVER:
                server.terminate()
                server.wait(30)
            tmux.kill_server()
            tmux.socket_path().unlink(missing_ok=True)

    print(
        f"bench_cli: {args.runs} interleaved rounds; bytecode compiled, PYTHONDONTWRITEBYTECODE "
        f"unset for the timed processes; load average {os.getloadavg()[0]:.1f} on "
        f"{os.cpu_count()} CPUs"
    )
    p50 = {label: statistics.median(values) for label, values in figures.items()}
    cpu50 = {label: statistics.median(values) for label, values in cpu.items()}
    for label, values in figures.items():
        line = (
            f"  {label:<58} p50={p50[label]:6.1f} ms  p95={pct(values, 0.95):6.1f} ms"
            f"  cpu p50={cpu50[label]:6.1f} ms"
        )
        variant = label.endswith((OWN, INSTALLED))
        target_label = label.removesuffix(OWN).removesuffix(INSTALLED)
        if target_label in TARGETS:
            floor, target = TARGETS[target_label]
            if variant:
                target = None  # targets are read off the agents' calls
            ratio = p50[label] / p50[floor]
            cpu_ratio = cpu50[label] / cpu50[floor]
            line += f"  {ratio:4.1f}x floor (cpu {cpu_ratio:4.1f}x)"
            if target is not None:
                line += f" (target <= {target:.0f}x: {'OK' if ratio <= target else 'MISSED'})"
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
