"""Cost of issue 10's guards (hostile text, bursts of keys). Prints its figures; `make bench`.

1. `safe()` (town/display.py), which every output path calls: ns per call on a clean
   60-character title (the fast path: one regex search, no copy) and on a hostile one.
2. `gt bead list --all` on tests/data/gastown-beads (677 beads) in-process through
   `gastown_tui.cli.main`, stdout to /dev/null: p50 of RUNS, with every cell and line
   escaped as shipped.
3. A burst of keys into the app (Textual pilot, headless): 200 characters sent at once into
   the compose dialog's subject, as a terminal delivers a paste or an SSH burst; the time until
   the last one is in the field, and per key. The app hands keys on one at a time
   (tui/keys.py) so each lands where it was aimed; for reference, the same burst with every
   key handed straight to the focused widget (Textual's own behaviour, which misroutes keys
   that follow one that opens a dialog).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

RUNS = 15


def bench_safe() -> None:
    from gastown_tui.town.display import safe

    clean = "Fix the login redirect loop when the session cookie expires (P1)"[:60]
    hostile = "Fix \x1b]0;pwned\x07 the \u202elogin\x9b2J redirect loop when the cookie"
    for label, text in (("clean", clean), ("hostile", hostile)):
        n = 200_000
        start = time.perf_counter()
        for _ in range(n):
            safe(text)
        per = (time.perf_counter() - start) / n * 1e9
        print(f"safe() on a {len(text)}-char {label} title: {per:.0f} ns per call")


def bench_bead_list() -> None:
    import contextlib
    import io

    from gastown_tui.cli import main
    from gastown_tui.town.interop import import_beads
    from gastown_tui.town.town import Town

    with tempfile.TemporaryDirectory() as tmp:
        town = Town.init(Path(tmp) / "town", name="bench")
        folder = Path(tmp) / "gastown"
        folder.mkdir()
        town.rigs.add("gastown", str(folder), prefix="gt", no_git=True)
        import_beads(town, ROOT / "tests" / "data" / "gastown-beads", rig="gastown")
        os.environ["GT_TOWN"] = str(town.root)
        times = []
        for _ in range(RUNS + 1):
            sink = io.StringIO()
            start = time.perf_counter()
            with contextlib.redirect_stdout(sink):
                main(["bead", "list", "--all"])
            times.append(time.perf_counter() - start)
        lines = sink.getvalue().count("\n")
        p50 = statistics.median(times[1:]) * 1000
        print(f"gt bead list --all ({lines} lines, in-process): p50 {p50:.1f} ms")


async def _burst(hand_off: bool) -> None:
    from textual.widgets import Input

    from gastown_tui.town.clock import FakeClock
    from gastown_tui.town.town import Town
    from gastown_tui.tui.app import make_app
    from gastown_tui.views.actions import TownData
    from tests.test_tui_faults import burst, chars
    from tests.tui_fixtures import settle

    with tempfile.TemporaryDirectory() as tmp:
        town = Town.init(Path(tmp) / "town", name="bench", clock=FakeClock())
        folder = Path(tmp) / "alpha"
        folder.mkdir()
        town.rigs.add("alpha", str(folder), prefix="al", no_git=True)
        app = make_app(town, data=TownData(town, None), watch=False)
        app.animation_level = "none"
        if not hand_off:  # for reference: every key straight to the focused widget, as before
            app.held_keys.hold = lambda event: False  # type: ignore[method-assign]
            app.held_keys.follow = lambda target, event=None: None  # type: ignore[method-assign]
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            burst(app, ["m", *chars("mayor"), "tab"])
            await settle(pilot)
            text = ("the quick brown fox jumps over the lazy dog " * 5)[:200]
            start = time.perf_counter()
            burst(app, chars(text))
            subject = app.screen.query_one("#mail-subject", Input)
            while subject.value != text:
                await asyncio.sleep(0.001)
                if time.perf_counter() - start > 30:
                    raise SystemExit(f"burst not handled: {subject.value!r}")
            took = time.perf_counter() - start
            how = "one at a time (as shipped)" if hand_off else "straight through (reference)"
            print(
                f"burst of {len(text)} keys into a dialog, {how}: all in the field after "
                f"{took * 1000:.0f} ms ({took / len(text) * 1000:.2f} ms per key)"
            )
            # Keys that are not text (each may run a binding): 100 cursor moves in a list.
            burst(app, ["escape"])
            await settle(pilot)
            moves = ["down", "up"] * 50
            start = time.perf_counter()
            burst(app, moves)
            await settle(pilot)
            took = time.perf_counter() - start
            print(
                f"burst of {len(moves)} cursor keys in the Rigs tree, {how}: handled after "
                f"{took * 1000:.0f} ms ({took / len(moves) * 1000:.2f} ms per key, settle included)"
            )


def main() -> None:
    bench_safe()
    bench_bead_list()
    asyncio.run(_burst(hand_off=True))
    asyncio.run(_burst(hand_off=False))


if __name__ == "__main__":
    main()
