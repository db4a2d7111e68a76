"""`make screenshots`: SVGs of the real app on a freshly built demo town, for the README.

    python -m gastown_tui.tui.screenshots [OUT_DIR]

Builds the demo town in a temporary folder, starts its DEMO AGENTS in the town's own tmux
server (when tmux is there), lets them work for a few seconds, then takes: the default
layout, compact at 80x24, the problems view, the sling dialog and the light theme. The tmux
server is stopped afterwards.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from gastown_tui.tui.app import GasTownApp, make_app
from gastown_tui.tui.demo_town import build_demo_town

WARM_UP = 3.0  # seconds for the agents to start and say something
STEP = 1.0  # the demo agents' pace while the pictures are taken

Shot = tuple[str, tuple[int, int], str, str | None, Callable[[GasTownApp], Awaitable[None]] | None]


async def _show_first_polecat(app: GasTownApp) -> None:
    working = [p for p in app.polecats if p.state == "working"] or app.polecats
    if working:
        app.rigs_pane.select_polecat(working[0].address)


SHOTS: list[Shot] = [
    ("town", (140, 42), "default", None, _show_first_polecat),
    ("compact-80x24", (80, 24), "compact", None, None),
    ("problems", (140, 42), "default", None, None),
    ("sling", (140, 42), "default", None, None),
    ("salt-flats", (140, 42), "default", "salt-flats", _show_first_polecat),
]


async def _take(town: Any, out: Path, shot: Shot) -> Path:
    name, size, layout, theme, prepare = shot
    app = make_app(town, layout=layout, theme=theme, watch=False)
    app.animation_level = "none"
    async with app.run_test(size=size) as pilot:
        deadline = time.monotonic() + 20
        while not app.loaded and time.monotonic() < deadline:
            await pilot.pause(0.05)
        await pilot.pause(0.2)
        if prepare is not None:
            await prepare(app)
        if name == "problems":
            await pilot.press("p")
        elif name == "sling":
            await pilot.press("s")
        await pilot.pause(0.5)
        path = out / f"{name}.svg"
        path.write_text(app.export_screenshot(title=f"Gas Town: {name}"), encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    out = Path(args[0] if args else "screenshots").absolute()
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="gt-shots-") as tmp:
        report = build_demo_town(Path(tmp) / "fury-road", step_seconds=STEP)
        for note in report.notes:
            print(f"note: {note}", file=sys.stderr)
        try:
            if report.slung:
                time.sleep(WARM_UP)
            for shot in SHOTS:
                path = asyncio.run(_take(report.town, out, shot))
                print(path)
        finally:
            from gastown_tui.views.queries import default_tmux

            tmux = default_tmux(report.town)
            if tmux is not None:
                tmux.kill_server()
                tmux.socket_path().unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
