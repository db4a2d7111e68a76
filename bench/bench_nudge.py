"""Latency of a nudge that was delivered *and verified*, into a real program in real tmux.

Run from a checkout: `python bench/bench_nudge.py [--n 30]`. It starts a throwaway tmux
server, runs a program that reads lines from its terminal and records them, nudges it `n`
times with a short line and a few times with a ~3 KB multibyte one, checks every line arrived
exactly once, prints the figures and kills the server. Target: p50 <= 1.5 s.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the checkout, not an install

from benchlib import pct

from gastown_tui.tmux import TownTmux, nudge

READER = """\
import sys
out = open(sys.argv[1], "ab", buffering=0)
sys.stdout.write("READY\\n")
sys.stdout.flush()
for line in sys.stdin.buffer:
    out.write(line)
"""


def measure(tmux: TownTmux, pane_id: str, lock: Path, messages: list[str]) -> list[float]:
    latencies: list[float] = []
    for message in messages:
        started = time.perf_counter()
        result = nudge(tmux, pane_id, message, lock_path=lock)
        elapsed = time.perf_counter() - started
        if not result.delivered:
            raise SystemExit(f"nudge not delivered: {result.detail}")
        latencies.append(elapsed * 1000)
    return latencies


def report(label: str, latencies: list[float]) -> None:
    print(
        f"{label}: p50={statistics.median(latencies):.0f} ms "
        f"p95={pct(latencies, 0.95):.0f} ms (n={len(latencies)})"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=30, help="short nudges to time")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="gt-bench-nudge-") as folder:
        tmp = Path(folder)
        tmux = TownTmux(f"gt-bench-{uuid.uuid4().hex[:10]}", tmp / "locks", config_file=None)
        tmux.require()
        try:
            script = tmp / "reader.py"
            script.write_text(READER)
            received = tmp / "received"
            received.write_bytes(b"")
            info = tmux.start_window(
                "gt-bench",
                "reader",
                [sys.executable, str(script), str(received)],
                start_dir=tmp,
                env={"GT_AGENT": "bench/reader"},
            )
            deadline = time.monotonic() + 10
            while "READY" not in tmux.capture(info.pane_id):
                if time.monotonic() > deadline:
                    raise SystemExit("the reader program did not start")
                time.sleep(0.01)

            lock = tmp / "locks" / "reader.nudge.lock"
            short = [f"nudge {i}: check your hook, then run gt prime" for i in range(args.n)]
            words = "héllo wörld 日本語 → ✓ naïve "
            long_text = (words * (3000 // len(words.encode()) + 1)).strip()
            long = [f"{i} {long_text}" for i in range(5)]

            short_ms = measure(tmux, info.pane_id, lock, short)
            long_ms = measure(tmux, info.pane_id, lock, long)

            lines = received.read_bytes().decode("utf-8").split("\n")[:-1]
            if lines != short + long:
                raise SystemExit("received lines differ from the nudges sent (lost or doubled)")
            report("nudge delivered+verified", short_ms)
            report(f"nudge delivered+verified, {len(long[0].encode())} B multibyte", long_ms)
            print(f"all {len(lines)} nudges arrived exactly once")
        finally:
            tmux.kill_server()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
