"""Supervision benchmarks (issue: supervision). Prints its figures; run with `make bench`.

- one full patrol (the witness over 50 working polecats + the deacon): CPU time of this
  process AND of the tmux/git children it runs (target <= 200 ms);
- an idle town with 20 polecats and `gt daemon` supervising: CPU of the daemon and its
  children over 65 s (two witness rounds), as % of one core (target <= 3%).
Polecats run a cheap stand-in agent (`sleep`) so the figures measure our machinery.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchlib import compile_package  # noqa: E402

from gastown_tui.dispatch.sling import sling_many  # noqa: E402
from gastown_tui.dispatch.tmuxfor import tmux_for  # noqa: E402
from gastown_tui.supervise.deacon import Deacon  # noqa: E402
from gastown_tui.supervise.witness import Witness  # noqa: E402
from gastown_tui.town.town import Town  # noqa: E402

IDLE_SECONDS = float(os.environ.get("BENCH_IDLE_SECONDS", "65"))


def cpu_now() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def proc_cpu(pid: int) -> float:
    """utime+stime of a process and its reaped children, in seconds (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = sum(int(fields[i]) for i in (11, 12, 13, 14))
    return ticks / os.sysconf("SC_CLK_TCK")


def make_town(root: Path, polecats: int) -> Town:
    env = {**os.environ, "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "b@x",
           "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "b@x"}  # fmt: skip
    os.environ.update(env)
    repo = root / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=repo, check=True)
    (repo / "README.md").write_text("bench\n")
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    subprocess.run(["git", "commit", "-qm", "init"], cwd=repo, check=True)
    town = Town.init(root / "town")
    with open(town.paths.town_toml, "a") as handle:
        handle.write(
            '\n[runtimes.sleeper]\ncommand = ["sh", "-c", "echo working; exec sleep 3600"]\n'
        )
        handle.write('prompt = "none"\nresumable = true\n')
    town = Town.open(town.root)
    town.rigs.add("alpha", str(repo), prefix="al")
    beads = [town.beads.create(f"job {n}", rig="alpha").id for n in range(polecats)]
    tmux = tmux_for(town)
    batch = sling_many(town, tmux, beads, "alpha", runtime="sleeper")
    assert not batch.failures, batch.failures
    return town


def main() -> None:
    compile_package()
    os.environ["GT_TMUX_CONF"] = os.devnull
    with tempfile.TemporaryDirectory() as tmp:
        town = make_town(Path(tmp), 50)
        tmux = tmux_for(town)
        try:
            witness, deacon = Witness(town, tmux, "alpha"), Deacon(town, tmux)
            witness.patrol()  # first look writes the activity files; measure steady state
            deacon.patrol()
            samples = []
            for _ in range(5):
                before, wall = cpu_now(), time.perf_counter()
                witness.patrol()
                deacon.patrol()
                samples.append((cpu_now() - before, time.perf_counter() - wall))
            cpu = sorted(s[0] for s in samples)[len(samples) // 2] * 1000
            wall = sorted(s[1] for s in samples)[len(samples) // 2] * 1000
            print(
                f"full patrol (witness over 50 polecats + deacon): CPU {cpu:.0f} ms incl. "
                f"tmux/git children, wall {wall:.0f} ms (median of 5; target CPU <= 200 ms)"
            )
        finally:
            tmux.kill_server()

    with tempfile.TemporaryDirectory() as tmp:
        town = make_town(Path(tmp), 20)
        tmux = tmux_for(town)
        daemon = subprocess.Popen(
            [sys.executable, "-m", "gastown_tui", "--town", str(town.root), "daemon"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            time.sleep(5)  # start-up and the first round of patrols
            start_cpu, start = proc_cpu(daemon.pid), time.monotonic()
            time.sleep(IDLE_SECONDS)
            used = proc_cpu(daemon.pid) - start_cpu
            elapsed = time.monotonic() - start
            print(
                f"idle town, 20 polecats, gt daemon supervising: {100 * used / elapsed:.2f}% of "
                f"one core over {elapsed:.0f} s (daemon + its children; target <= 3%)"
            )
        finally:
            daemon.terminate()
            daemon.wait(30)
            tmux.kill_server()


if __name__ == "__main__":
    main()
