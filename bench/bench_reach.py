"""Reach benchmarks (issue 16); prints its figures: `.venv/bin/python bench/bench_reach.py`.

1. The `notify` patrol (it runs every 2 s in the supervisor): cost of one patrol with no new
   events, with no sinks and with a webhook sink; then the cost of a patrol that routes 100
   new `convoy.landed` events (claims included), and the time from the patrol to the 100th
   POST received by a local HTTP server on 127.0.0.1 (delivery happens on the sink's thread).
2. `gt watch --once` as a whole process at 40 columns (COLUMNS=40, output not a terminal) on
   a town with tests/data/gastown-beads imported, beside a bare `python -c pass`; and one
   frame rendered in-process.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchlib import compile_package, pct, time_process  # noqa: E402

from gastown_tui.commands.watch import frame  # noqa: E402
from gastown_tui.supervise.notify_route import NotifyRouter  # noqa: E402
from gastown_tui.town.interop import import_beads  # noqa: E402
from gastown_tui.town.town import Town  # noqa: E402

RUNS = 20
EVENTS = 100


def serve_hook() -> tuple[ThreadingHTTPServer, list[float]]:
    received: list[float] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            received.append(time.perf_counter())
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, received


def patrol_ms(router: NotifyRouter, runs: int) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        router.patrol()
        samples.append((time.perf_counter() - start) * 1000)
    return pct(samples, 0.5)


def bench_notify(tmp: Path) -> None:
    town = Town.init(tmp / "quiet", name="quiet")
    router = NotifyRouter(town)
    router.patrol()
    print(f"notify patrol, no sinks, nothing new: p50 {patrol_ms(router, 200):.3f} ms")
    server, received = serve_hook()
    town = Town.init(tmp / "loud", name="loud")
    toml = town.paths.town_toml
    url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    toml.write_text(toml.read_text() + f'\n[notify.sinks.chat]\ntype = "webhook"\nurl = "{url}"\n')
    town = Town.open(town.root)
    router = NotifyRouter(town)
    router.patrol()
    print(f"notify patrol, one webhook, nothing new: p50 {patrol_ms(router, 200):.3f} ms")
    for n in range(EVENTS):
        town.events.append("convoy.landed", actor="deacon", msg=f"convoy {n}", convoy=f"c{n}")
    start = time.perf_counter()
    router.patrol()
    routed = (time.perf_counter() - start) * 1000
    while len(received) < EVENTS and time.perf_counter() - start < 60:
        time.sleep(0.01)
    last = (received[-1] - start) * 1000 if len(received) == EVENTS else float("nan")
    router.close()
    server.shutdown()
    print(
        f"notify patrol routing {EVENTS} new events: {routed:.1f} ms "
        f"({routed / EVENTS:.2f} ms each); all {len(received)} POSTs received after {last:.0f} ms"
    )


def bench_watch(tmp: Path) -> None:
    compile_package()
    town = Town.init(tmp / "beads", name="beads")
    folder = tmp / "gastown"
    folder.mkdir()
    town.rigs.add("gastown", str(folder), prefix="gt", no_git=True)
    import_beads(town, ROOT / "tests" / "data" / "gastown-beads", rig="gastown")
    env = {**os.environ, "GT_TOWN": str(town.root), "COLUMNS": "40"}
    bare = time_process([sys.executable, "-c", "pass"], env, RUNS)
    watch = time_process([sys.executable, "-m", "gastown_tui", "watch", "--once"], env, RUNS)
    start = time.perf_counter()
    for _ in range(RUNS):
        frame(town, 40, None)
    one = (time.perf_counter() - start) * 1000 / RUNS
    beads = len(list(town.storage.beads.docs("gastown")))
    print(
        f"gt watch --once ({beads} beads, 40 columns): p50 {pct(watch, 0.5):.0f} ms "
        f"(python -c pass: {pct(bare, 0.5):.0f} ms); one frame in-process {one:.1f} ms"
    )


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        bench_notify(tmp)
        bench_watch(tmp)


if __name__ == "__main__":
    main()
