"""`gt daemon`: the patrols without the app, in the foreground; `gt up` / `gt down`.

The daemon runs the supervisor loop of supervise/loop.py, the same as the app's: it contends
for the supervisor lease at every tick; while another process (an app or another daemon) holds
it, this one only waits, so when that holder dies it takes over within one tick. On taking the
lease it first recovers the town (restarts what a reboot killed).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from gastown_tui.supervise.host import Patrol
from gastown_tui.supervise.lease import Holder, current_holder
from gastown_tui.supervise.loop import TICK, SupervisorLoop
from gastown_tui.town.errors import GtError, GtFailure

if TYPE_CHECKING:
    from gastown_tui.tmux import TownTmux
    from gastown_tui.town.town import Town

DAEMON_SESSION = "gt-hq"
DAEMON_WINDOW = "daemon"


class _DaemonLog:
    """The loop's news as the daemon's log lines."""

    def __init__(self, root: Path, log: Callable[[str], None]) -> None:
        self.root = root  # all it needs of the town
        self.log = log
        self.announced_viewer = False

    def took_over(self, pid: int) -> None:
        self.log(f"supervising {self.root} (pid {pid})")

    def recovered(self, actions: list[str]) -> None:
        for action in actions:
            self.log(f"recover: {action}")

    def stepped_down(self, reason: str | None) -> None:
        if reason:
            self.log(f"stopped supervising: {reason}")

    def viewer(self, holder: Holder | None) -> None:
        if not self.announced_viewer:
            who = holder.describe() if holder else "another process"
            self.log(f"the town is {who}; waiting to take over if it stops")
            self.announced_viewer = True


def run_daemon(
    town: Town,
    tmux: TownTmux,
    *,
    once: bool = False,
    stop: threading.Event | None = None,
    log: Callable[[str], None] = print,
    tick: float = TICK,
) -> int:
    """The supervisor loop (supervise/loop.py) in the foreground, patrols run in turn."""
    stop = stop or threading.Event()

    def run_patrols(patrols: list[Patrol]) -> None:
        for result in loop.run_in_turn(patrols):
            for action in result.actions:
                log(f"{result.name}: {action}")
            if result.error:
                log(f"{result.name}: FAILED {result.error}")

    loop = SupervisorLoop(
        town,
        tmux,
        "daemon",
        report=_DaemonLog(town.root, log),
        run_patrols=run_patrols,
        tick=tick,
        serve_commands=not once,
    )
    if not once:
        loop.run(stop)
        return 0
    try:
        if not loop.step(every_patrol=True):
            holder = current_holder(town)
            who = holder.describe() if holder else "another process"
            raise GtFailure(f"the town is already {who}", hint="it patrols; nothing to do")
    finally:
        loop.close()
    return 0


def install_signal_handlers(stop: threading.Event) -> None:
    def handler(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    if hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, handler)


def start_detached(town: Town, tmux: TownTmux, timeout: float = 15.0) -> str:
    """`gt up`: run `gt daemon` in the town's own tmux server (survives an SSH drop)."""
    holder = current_holder(town)
    if holder is not None:
        return f"already {holder.describe()}"
    tmux.require()
    existing = tmux.find_window(DAEMON_SESSION, DAEMON_WINDOW)
    if existing is not None and not existing.pane_dead:
        raise GtFailure(
            f"a daemon window exists ({DAEMON_SESSION}:{DAEMON_WINDOW}) but holds no lease",
            hint=f"look at it with `tmux -L {town.paths.tmux_socket} attach -t {DAEMON_SESSION}`",
        )
    env = {"GT_TOWN": str(town.root), "PATH": os.environ.get("PATH", "")}
    bindir = os.path.dirname(sys.executable)
    env["PATH"] = bindir + os.pathsep + env["PATH"]
    command = [sys.executable, "-m", "gastown_tui", "--town", str(town.root), "daemon"]
    tmux.start_window(DAEMON_SESSION, DAEMON_WINDOW, command, start_dir=town.root, env=env)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        holder = current_holder(town)
        if holder is not None:
            return f"daemon started: {holder.describe()} (tmux window {DAEMON_SESSION}:daemon)"
        time.sleep(0.1)
    raise GtFailure(
        "the daemon did not take the supervisor lease in time",
        hint=f"see its window: tmux -L {town.paths.tmux_socket} attach -t {DAEMON_SESSION}",
    )


def stop_daemon(town: Town, tmux: TownTmux | None, timeout: float = 15.0) -> str:
    """`gt down`: stop the daemon. Agents are never touched: they keep running in tmux."""
    holder = current_holder(town)
    if holder is None:
        return "no supervisor is running"
    if holder.kind != "daemon":
        raise GtError(
            f"the town is {holder.describe()}, not by a daemon",
            hint="quit that app to stop its supervision",
        )
    try:
        os.kill(holder.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    except PermissionError:
        raise GtFailure(f"not allowed to stop pid {holder.pid}") from None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and current_holder(town) is not None:
        time.sleep(0.1)
    if current_holder(town) is not None:
        raise GtFailure(f"daemon pid {holder.pid} did not stop within {timeout:.0f}s")
    if tmux is not None and tmux.available():
        info = tmux.find_window(DAEMON_SESSION, DAEMON_WINDOW)
        if info is not None:
            tmux.kill_window(DAEMON_SESSION, DAEMON_WINDOW)
    return f"daemon pid {holder.pid} stopped; agents keep running"
