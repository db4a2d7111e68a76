"""The town's command server as the supervisor runs it (the server: gastown_tui/cmdserver.py).

The process holding the lease runs one, as it runs the one observer: started when it takes
the town, restarted (at most every RESTART_GAP seconds) if it ended, as it does by itself when
its code changed on disk, and stopped when the supervisor lets go. It is started by module
name, not imported: it sits above this layer (docs/ARCHITECTURE.md#the-command-server).
`[supervise] command_server = false` in town.toml, or GT_COMMAND_SERVER=off in the
supervisor's environment, turns it off; `gt` then runs every call itself, as it does whenever
no server answers.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gastown_tui.town.town import Town

RESTART_GAP = 10.0
STOP_WAIT = 2.0
LOG_NAME = "command-server.log"  # under .runtime: why a server would not start


class CommandServerProcess:
    def __init__(self, town: Town) -> None:
        self.town = town
        self.process: subprocess.Popen[bytes] | None = None
        self._started_at = -RESTART_GAP

    def wanted(self) -> bool:
        if os.environ.get("GT_COMMAND_SERVER") == "off":
            return False
        return bool(self.town.config.supervise.command_server)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def ensure(self) -> None:
        """Start the server if it is wanted and not running (call while holding the lease)."""
        if self.running or not self.wanted():
            return
        now = time.monotonic()
        if now - self._started_at < RESTART_GAP:
            return
        self._started_at = now
        runtime = self.town.paths.runtime
        try:
            runtime.mkdir(mode=0o700, parents=True, exist_ok=True)
            with open(runtime / LOG_NAME, "ab") as log:
                self.process = subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "gastown_tui.cmdserver",
                        "--town",
                        str(self.town.root),
                        "--parent",
                        str(os.getpid()),
                    ],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=log,
                    cwd="/",
                    # Not in the terminal's process group: a Ctrl-C meant for the app does not
                    # cut short the calls it is running; it leaves when this process does.
                    start_new_session=True,
                )
        except OSError:
            self.process = None  # no server: every gt call runs itself, as before

    def stop(self) -> None:
        """Stop taking calls; the calls it is running finish on their own."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(STOP_WAIT)
        except subprocess.TimeoutExpired:
            pass  # still answering long calls (a sling waiting for its agent): it exits after
