"""The mayor's costs (issue 14). Prints its figures; run with `make bench`.

A throwaway town with a small git rig and the DEMO MAYOR in its real tmux window:

- CPU of the idle mayor process over 10 s (it polls its inbox; the target is near zero:
  a supervisor agent must not burn the machine while nothing happens);
- `gt mayor tell "what's going on?"` until its answer is in the overseer's inbox, p50;
- a one-line goal until its four beads, convoy and two slings are made and answered;
- `gt prime` as the mayor (what Claude Code's SessionStart hook runs), p50.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gastown_tui.dispatch import mayor as dispatch_mayor  # noqa: E402
from gastown_tui.dispatch.tmuxfor import tmux_for  # noqa: E402
from gastown_tui.town.mayor import MAYOR, OVERSEER  # noqa: E402
from gastown_tui.town.town import Town  # noqa: E402


def gt(town: Town, *args: str, agent: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GT_TOWN": str(town.root)}
    if agent:
        env["GT_AGENT"] = agent
    return subprocess.run(
        [sys.executable, "-m", "gastown_tui", *args], env=env, capture_output=True, text=True
    )


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def answers(town: Town) -> int:
    return sum(1 for m in town.mail.inbox(OVERSEER) if m.sender == MAYOR)


def wait_answers(town: Town, count: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while answers(town) < count:
        if time.monotonic() > deadline:
            raise SystemExit("the mayor did not answer in time")
        time.sleep(0.02)


def main() -> int:
    os.environ.setdefault("GT_TMUX_CONF", os.devnull)
    os.environ.setdefault("GT_DEMO_STEP", "0.05")
    with tempfile.TemporaryDirectory(prefix="gt-bench-mayor-") as tmp:
        repo = Path(tmp) / "upstream"
        subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
        (repo / "README.md").write_text("# bench\n")
        subprocess.run(["git", "-C", str(repo), "add", "-A"], check=True)
        subprocess.run(
            ["git", "-C", str(repo), "-c", "user.name=b", "-c", "user.email=b@b",
             "commit", "-q", "-m", "init"], check=True,
        )  # fmt: skip
        town = Town.init(Path(tmp) / "town", name="bench", runtime="demo")
        town.rigs.add("alpha", str(repo), prefix="al")
        tmux = tmux_for(town)
        try:
            dispatch_mayor.start(town, tmux, "demo")
            info = dispatch_mayor.find(tmux)
            assert info is not None
            time.sleep(1.0)
            before = cpu_seconds(info.pane_pid)
            time.sleep(10.0)
            idle = cpu_seconds(info.pane_pid) - before
            print(f"idle DEMO MAYOR: {idle:.3f} s CPU in 10 s ({idle * 10:.1f}% of a core)")
            laps = []
            for n in range(1, 6):
                started = time.monotonic()
                gt(town, "mayor", "tell", "what's going on?")
                wait_answers(town, n)
                laps.append(time.monotonic() - started)
            p50 = statistics.median(laps) * 1000
            print(f"tell 'what's going on?' -> answer in the inbox: p50 {p50:.0f} ms (n=5)")
            started = time.monotonic()
            gt(town, "mayor", "tell", "Add a greeting command")
            wait_answers(town, 6)
            made = len(town.beads.list(include_closed=True))
            print(f"one-line goal -> {made} beads, a convoy, 2 slings, answered: "
                  f"{time.monotonic() - started:.2f} s")  # fmt: skip
            laps = []
            for _ in range(5):
                started = time.monotonic()
                gt(town, "prime", agent=MAYOR)
                laps.append(time.monotonic() - started)
            print(f"gt prime as the mayor: p50 {statistics.median(laps) * 1000:.0f} ms (n=5)")
        finally:
            tmux.kill_server()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
