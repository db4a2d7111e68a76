"""The town's own memory (issue 12): what the long-running processes (`gt daemon`, the app)
keep loaded, and the pieces drawn cheaply in their place. Each process runs in a subprocess
of its own: this test process has imported far more than either would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console
from textual.renderables.bar import Bar as BarRenderable

from gastown_tui.town.clock import FakeClock
from gastown_tui.town.digest import sha1_hex, sha256_hex
from gastown_tui.town.models import Event
from gastown_tui.town.town import Town
from gastown_tui.tui.app import make_app
from gastown_tui.tui.widgets.convoys import BAR_CELLS, progress_bar
from gastown_tui.tui.widgets.feed import STRIPS_KEPT, FeedPane
from gastown_tui.views.actions import TownData
from tests.tmux_helpers import needs_tmux
from tests.tui_fixtures import anyio_backend, settle

__all__ = ["anyio_backend"]  # fixture, used by name

ROOT = Path(__file__).resolve().parent.parent

# Never wanted in a long-running process of a town that uses no built-in agent: the Anthropic
# SDK (+ httpx, pydantic), urllib.request (ssl, http, email) for a webhook nobody set up,
# hashlib's OpenSSL (libcrypto mapped in; town/digest.py does without).
HEAVY = ("anthropic", "httpx", "pydantic", "urllib.request", "http.client", "email.parser")
NOT_IN_DAEMON = (*HEAVY, "_hashlib", "textual", "rich")

DUMP = """\
import atexit, json, sys
atexit.register(lambda: open(sys.argv[1], "w").write(json.dumps(sorted(sys.modules))))
"""

DAEMON = (
    DUMP
    + """\
from gastown_tui.cli import main
sys.exit(main(["daemon", "--once", "--town", sys.argv[2]]))
"""
)

APP = (
    DUMP
    + """\
import asyncio, time
from gastown_tui.town.town import Town
from gastown_tui.tui.app import make_app

async def run() -> None:
    # As `gt tui` runs it when no daemon holds the lease: supervising, patrols included.
    app = make_app(Town.open(sys.argv[2]), supervise=True)
    async with app.run_test(size=(160, 48)) as pilot:
        deadline = time.monotonic() + 30
        while not app.loaded:
            assert time.monotonic() < deadline, "the app did not load in time"
            await pilot.pause(0.05)
        await pilot.pause(1.0)  # a patrol tick or two

asyncio.run(run())
"""
)

# As `gt tui` starts it (commands/app.py): nothing has imported asyncio before the app's package.
# The modules are written before the script imports ssl itself, which must still work: a
# webhook's urllib needs it (supervise/notify_route.py).
APP_AS_GT = """\
import json, sys, threading, time
from gastown_tui.town.town import Town
from gastown_tui.tui.app import make_app

app = make_app(Town.open(sys.argv[2]), supervise=True)

def leave_once_loaded() -> None:
    deadline = time.monotonic() + 30
    while not app.loaded and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.0)  # the watcher's first steps, a patrol tick
    app.call_from_thread(app.exit)

threading.Thread(target=leave_once_loaded, daemon=True).start()
app.run(headless=True)
assert app.loaded, "the app did not load in time"
open(sys.argv[1], "w").write(json.dumps(sorted(sys.modules)))
import ssl
ssl.create_default_context()
"""


def modules_after(script: str, town: Town, tmp_path: Path) -> set[str]:
    out = tmp_path / "modules.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEXTUAL", "TMUX"))}
    env |= {"PYTHONPATH": str(ROOT), "GT_TMUX_CONF": os.devnull, "GT_TOWN": str(town.root)}
    result = subprocess.run(
        [sys.executable, "-c", script, str(out), str(town.root)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return set(json.loads(out.read_text()))


def plain_town(tmp_path: Path) -> Town:
    """Agents on an outside program (claude), the mayor not built in, one rig."""
    town = Town.init(tmp_path / "town", name="memtown", runtime="claude")
    (tmp_path / "alpha").mkdir()
    town.rigs.add("alpha", str(tmp_path / "alpha"), prefix="al", no_git=True)
    town.beads.create("a job", rig="alpha")
    return town


@needs_tmux
def test_gt_daemon_loads_nothing_a_plain_town_does_not_use(tmp_path: Path) -> None:
    loaded = modules_after(DAEMON, plain_town(tmp_path), tmp_path)
    assert "gastown_tui.supervise.daemon" in loaded  # it did run
    assert sorted(loaded & set(NOT_IN_DAEMON)) == []


@needs_tmux
def test_the_app_loads_no_agent_sdk_for_a_plain_town(tmp_path: Path) -> None:
    town = plain_town(tmp_path)
    town.convoys.create("a convoy", [town.beads.list()[0].id])
    loaded = modules_after(APP, town, tmp_path)
    assert "gastown_tui.tui.widgets.convoys" in loaded
    assert sorted(loaded & set(HEAVY)) == []
    # No [keymap] in town.toml: the dialogs are imported when opened, not to check its ids.
    assert "gastown_tui.tui.screens.review" not in loaded


@needs_tmux
def test_the_app_as_gt_starts_it_loads_no_tls(tmp_path: Path) -> None:
    """asyncio loads without ssl, and the store watcher runs without anyio's asyncio backend
    (which imports ssl): OpenSSL is ~6 MB resident the app never uses (tui/__init__.py)."""
    loaded = modules_after(APP_AS_GT, plain_town(tmp_path), tmp_path)
    assert {"asyncio", "watchfiles", "gastown_tui.supervise.host"} <= loaded  # it supervised
    assert sorted(loaded & {"ssl", "_ssl", "anyio._backends._asyncio"}) == []


def textual_bar(done: int, total: int) -> str:
    """What ProgressBar(total).update(progress=done) draws in a Bar BAR_CELLS wide."""
    share = min(done / max(total, 1), 1.0)
    share = int(share * 2 * BAR_CELLS) / (2 * BAR_CELLS)  # Bar._validate_percentage
    console = Console(width=BAR_CELLS, color_system=None, legacy_windows=False)
    with console.capture() as capture:
        console.print(
            BarRenderable(highlight_range=(0, BAR_CELLS * share), background_style="red"),
            end="",
        )
    return capture.get()


@pytest.mark.parametrize(
    ("done", "total"),
    [(0, 1), (0, 5), (1, 5), (1, 3), (2, 3), (3, 3), (1, 48), (47, 48), (7, 9), (9, 7), (5, 0)],
)
def test_convoy_bar_draws_the_cells_textual_progress_bar_draws(done: int, total: int) -> None:
    drawn = progress_bar(done, total).plain
    assert len(drawn) == BAR_CELLS
    assert drawn == textual_bar(done, total)


def test_digests_are_hashlibs() -> None:
    import hashlib

    for data in (b"", b"pane text", "ünïcode ✔".encode() * 500):
        assert sha1_hex(data) == hashlib.sha1(data).hexdigest()
        assert sha256_hex(data) == hashlib.sha256(data).hexdigest()


@pytest.mark.anyio
async def test_the_feed_keeps_a_few_screens_of_drawn_lines(tmp_path: Path) -> None:
    """Read back through a long feed: the drawn lines kept stay bounded (each held ~6 KB
    with what the compositor derived from it), and a line drawn again is the same line."""
    town = Town.init(tmp_path / "town", name="feedtown", clock=FakeClock())
    app = make_app(town, watch=False, data=TownData(town, None, observe=list))
    app.animation_level = "none"
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        feed = app.query_one(FeedPane)
        view = feed.view
        count = 4 * STRIPS_KEPT
        feed.add(
            [
                Event(f"2026-11-18T12:{n // 60 % 60:02d}:{n % 60:02d}Z", "bead.updated", f"x{n}")
                for n in range(count)
            ]
        )
        await pilot.pause()
        first = view.render_line(0).text
        height = view.scrollable_content_region.height
        for top in range(0, count, height):
            view.scroll_to(y=top, animate=False, immediate=True)
            await pilot.pause()
            assert len(view._strips) <= STRIPS_KEPT
        assert len(view._strips) == STRIPS_KEPT  # it did draw every screen on the way
        view.scroll_home(animate=False, immediate=True)
        await pilot.pause()
        assert view.render_line(0).text == first
