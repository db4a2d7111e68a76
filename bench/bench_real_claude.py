"""Real Claude Code start-up through the town (issue 9). Prints its figures; run with
`make bench` (after `make agent-clis`; without the pinned program it says so and stops).

A throwaway town with a git rig whose folder is trusted, a returning user's HOME and a scripted
Messages API server on 127.0.0.1 (tests/realcli.py, tests/model_servers.py):

- sling -> the program's first model request, p50 and p95 (target p50 <= 3 s), each sling a
  new bead on a new polecat (a fresh worktree);
- a bare `claude --version` in the same run, and the ratio of the two p50s;
- a waiting start-up screen (Claude Code's trust question in a folder nobody trusted yet) ->
  shown as waiting in the app (headless, watching), p50 and p95 (target p95 <= 2 s), timed
  from the first capture of the pane that shows the question.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchlib import pct, time_process  # noqa: E402

from gastown_tui.dispatch.sling import sling  # noqa: E402
from gastown_tui.dispatch.tmuxfor import tmux_for  # noqa: E402
from gastown_tui.town.town import Town  # noqa: E402
from tests import agent_clis  # noqa: E402
from tests.conftest import GIT_IDENTITY, make_git_repo  # noqa: E402
from tests.model_servers import say, serving  # noqa: E402
from tests.realcli import claude_env, claude_home, write_town_env  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    exe = agent_clis.installed("claude")
    if exe is None:
        hint = agent_clis.how_to_install()
        print(f"bench_real_claude: skipped, Claude Code is not installed ({hint})")
        return 0
    for name in ("IS_SANDBOX", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "GT_TOWN", "TMUX"):
        os.environ.pop(name, None)
    os.environ.update(GIT_IDENTITY)
    os.environ["GT_TMUX_CONF"] = os.devnull
    os.environ["PATH"] = str(exe.parent) + os.pathsep + os.environ["PATH"]
    with tempfile.TemporaryDirectory(prefix="gt-bench-claude-") as tmp:
        base = Path(tmp)
        town = Town.init(base / "town", name="bench")
        repo = make_git_repo(base / "upstream")
        town.rigs.add("alpha", str(repo), prefix="al")
        home = base / "home"
        (home / "tmp").mkdir(parents=True)
        claude_home(home, [base])
        tmux = tmux_for(town)
        first_request: list[float] = []
        returned: list[float] = []
        try:
            with serving("claude", [say("ok") for _ in range(args.runs * 2)]) as server:
                write_town_env(town, claude_env(home, server.url, home / "tmp"))
                for n in range(args.runs):
                    bead = town.beads.create(f"bench {n}", rig="alpha")
                    before = len(server.main_requests())
                    start = time.monotonic()
                    sling(town, tmux, bead.id, "alpha", runtime="claude")
                    returned.append((time.monotonic() - start) * 1000)
                    deadline = start + 60
                    while len(server.main_requests()) <= before and time.monotonic() < deadline:
                        time.sleep(0.01)
                    requests = server.main_requests()
                    if len(requests) <= before:
                        print(f"run {n}: no model request within 60 s")
                        return 1
                    first_request.append((requests[before].at - start) * 1000)
        finally:
            tmux.kill_server()
        version = time_process([str(exe), "--version"], dict(os.environ), args.runs)
        waiting = measure_waiting(base, exe, args.runs)
    p50, p95 = pct(first_request, 0.5), pct(first_request, 0.95)
    v50 = pct(version, 0.5)
    print(f"claude {agent_clis.PINS['claude'][1]}, {args.runs} runs")
    print(f"sling -> first model request: p50 {p50:.0f} ms, p95 {p95:.0f} ms (target p50 <= 3000)")
    print(f"gt sling returned (the program's screen is up): p50 {pct(returned, 0.5):.0f} ms")
    print(f"bare `claude --version`: p50 {v50:.0f} ms; ratio {p50 / v50:.1f}x")
    w50, w95 = pct(waiting, 0.5), pct(waiting, 0.95)
    print(
        f"trust question on the pane -> waiting in the app: p50 {w50:.0f} ms, "
        f"p95 {w95:.0f} ms over {len(waiting)} runs (target p95 <= 2000)"
    )
    return 0


def measure_waiting(base: Path, exe: Path, runs: int) -> list[float]:
    """Each run: a new polecat in a rig no one has trusted; when the pane first shows the trust
    question, how long until the app shows the polecat as waiting."""
    from gastown_tui.tui.app import make_app

    town = Town.init(base / "town2", name="bench2")
    repo = make_git_repo(base / "upstream2")
    town.rigs.add("beta", str(repo), prefix="be")
    home = base / "home2"
    (home / "tmp").mkdir(parents=True)
    tmux = tmux_for(town)
    delays: list[float] = []

    async def run(server_url: str) -> None:
        write_town_env(town, claude_env(home, server_url, home / "tmp"))
        app = make_app(town, tmux)
        async with app.run_test(size=(160, 48)):
            for n in range(runs):
                claude_home(home, [])  # nothing trusted: the question comes up again
                bead = town.beads.create(f"wait {n}", rig="beta")
                result = await asyncio.to_thread(
                    sling, town, tmux, bead.id, "beta", runtime="claude"
                )
                shown = await _when(lambda r=result: "trust" in tmux.capture(r.pane_id), 60)
                seen = await _when(
                    lambda r=result: (
                        (row := app.polecat(r.address)) is not None and row.state == "waiting"
                    ),
                    20,
                )
                delays.append((seen - shown) * 1000)
                tmux.kill_window("gt-beta", result.address.split("/", 1)[1])

    try:
        with serving("claude", [say("ok") for _ in range(runs * 2)]) as server:
            asyncio.run(run(server.url))
    finally:
        tmux.kill_server()
    return delays


async def _when(probe: object, timeout: float) -> float:
    """The monotonic time at which `probe()` first held (polled every 20 ms)."""
    deadline = time.monotonic() + timeout
    while True:
        if probe():  # type: ignore[operator]
            return time.monotonic()
        if time.monotonic() > deadline:
            raise SystemExit(f"bench_real_claude: timed out after {timeout:.0f}s")
        await asyncio.sleep(0.02)


if __name__ == "__main__":
    sys.exit(main())
