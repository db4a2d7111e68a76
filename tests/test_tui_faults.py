"""The app against faults: data changing under a refresh, keys typed in bursts, hostile text."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import shutil
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from gastown_tui.town.clock import FakeClock
from gastown_tui.town.town import Town
from gastown_tui.tui.app import GasTownApp, make_app
from gastown_tui.tui.widgets.convoys import ConvoysPane
from gastown_tui.views.actions import TownData
from gastown_tui.views.rows import ConvoyRow, ConvoysSnapshot
from tests.tui_fixtures import anyio_backend, settle, utc

__all__ = ["anyio_backend", "utc"]  # fixtures, used by name

pytestmark = pytest.mark.anyio
SIZE = (120, 40)


@pytest.fixture
def small_town(tmp_path: Path) -> Town:
    town = Town.init(tmp_path / "town", name="testtown", clock=FakeClock())
    folder = tmp_path / "alpha"
    folder.mkdir()
    town.rigs.add("alpha", str(folder), prefix="al", no_git=True)
    for title in ("Fix the login bug", "Write the docs"):
        town.beads.create(title, rig="alpha")
    return town


def app_for(town: Town, **kwargs: Any) -> GasTownApp:
    kwargs.setdefault("watch", False)
    app = make_app(town, data=TownData(town, None), **kwargs)
    app.animation_level = "none"
    return app


def _convoys(n: int, landed: int = 0) -> ConvoysSnapshot:
    flying = tuple(ConvoyRow(f"cv-f{n}{i}", f"flight {n}.{i}", i, 3) for i in range(n % 3 + 1))
    done = tuple(
        ConvoyRow(f"cv-l{n}{i}", f"landed {n}.{i}", 3, 3, "landed", "2026-11-18T11:00:00Z")
        for i in range(landed)
    )
    return ConvoysSnapshot(flying, done)


async def test_convoys_changing_during_the_age_refresh_never_crash_the_app(
    small_town: Town,
) -> None:
    # `gt convoy create; gt convoy close` in a loop while the 20 s age refresh runs: the list
    # is rebuilt (old items being removed, new ones not composed yet) when the refresh
    # updates the items in place. It raised NoMatches ('.convoy-count') and ended the app.
    app = app_for(small_town)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app._loaded.add("convoys")
        pane = app.town_screen.query_one(ConvoysPane)
        for n in range(40):
            snapshot = _convoys(n, landed=n % 2)
            app.convoys = snapshot
            pane.show(snapshot, app.now)  # a new shape: the list is rebuilt
            app._refresh_ages()  # the refresh, before the new items are composed
            if n % 5 == 0:
                await pilot.pause()
            app._refresh_ages()
        await settle(pilot)
        assert app.return_code is None and app._exception is None
        shown = [item.row.id for item in pane.query("ConvoyItem")]  # type: ignore[attr-defined]
        assert shown == [r.id for r in (*app.convoys.in_flight, *app.convoys.landed)]


async def test_an_error_in_the_age_refresh_does_not_end_the_app(small_town: Town) -> None:
    app = app_for(small_town)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app._loaded.add("convoys")

        pane = app.town_screen.query_one(ConvoysPane)

        def broken(*_args: Any) -> None:
            raise RuntimeError("a display bug")

        pane.show = broken  # type: ignore[method-assign]
        app._refresh_ages()
        await pilot.pause()
        assert app._exception is None and app.is_running


# -- keys in bursts (over SSH keys arrive many per read) ----------------------------------------
def burst(app: GasTownApp, keys: list[str]) -> None:
    """Send keys as a terminal delivers a burst: all queued at once, none waiting for the
    previous one to be handled (Pilot.press waits for idle between keys)."""
    import unicodedata

    from textual import events
    from textual.keys import _character_to_key, _get_unicode_name_from_key

    driver = app._driver
    assert driver is not None
    for key in keys:
        if len(key) == 1 and not key.isalnum():
            key = _character_to_key(key)
        try:
            char: str | None = unicodedata.lookup(_get_unicode_name_from_key(key))
        except KeyError:
            char = key if len(key) == 1 else None
        event = events.Key(key, char)
        event.set_sender(app)
        driver.send_message(event)


def chars(text: str) -> list[str]:
    return [{" ": "space"}.get(c, c) for c in text]


async def test_a_burst_into_the_compose_dialog_lands_in_each_field(small_town: Town) -> None:
    from textual.widgets import Input

    from gastown_tui.tui.screens.mail import ComposeScreen

    app = app_for(small_town)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        burst(app, ["m", *chars("mayor"), "tab", *chars("subj")])
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ComposeScreen)
        assert screen.query_one("#mail-to", Input).value == "mayor"
        assert screen.query_one("#mail-subject", Input).value == "subj"


async def test_a_burst_after_the_feed_search_reaches_the_next_binding(small_town: Town) -> None:
    from gastown_tui.tui.screens.feed_filter import FilterScreen

    app = app_for(small_town)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        burst(app, ["slash", *chars("hook"), "enter", "f"])
        await settle(pilot)
        assert app.feed_pane.view.filter.text == "hook"
        assert isinstance(app.screen, FilterScreen), "the `f` after the search was lost"


async def test_bursts_through_the_palette_and_from_dialog_to_dialog(small_town: Town) -> None:
    from textual.widgets import Input

    from gastown_tui.tui.screens.sling import SlingScreen

    app = app_for(small_town)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        burst(app, ["ctrl+p", *chars("theme")])  # Textual's own palette screen
        await settle(pilot)
        assert getattr(app.focused, "value", None) == "theme"
        burst(app, ["escape", "s", *chars("abc")])  # close it, open the sling dialog, type
        await settle(pilot)
        assert isinstance(app.screen, SlingScreen)
        assert app.screen.query_one("#sling-target", Input).value == "abc"


# -- a real terminal: `gt tui --tmux` at 80x24, keys sent in bursts by tmux ----------------------
def _lines_with(text: str, word: str) -> list[str]:
    return [line for line in text.splitlines() if word in line]


@pytest.mark.tmux
@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_tui_tmux_opens_at_80x24_and_takes_bursts_of_keys(tmp_path: Path) -> None:
    """README: over SSH use `gt tui --tmux` in an 80x24 terminal. The town's tmux status line
    left the app 80x23 and it refused to start. Then keys sent in one burst (one `send-keys`)
    must each land where they were aimed."""
    from gastown_tui.views.queries import default_tmux
    from tests.conftest import wait_until

    town = Town.init(tmp_path / "town", name="testtown")
    folder = tmp_path / "alpha"
    folder.mkdir()
    town.rigs.add("alpha", str(folder), prefix="al", no_git=True)
    town.events.append("bead.note", actor="overseer", rig="alpha", msg="the hook is set")
    tmux = default_tmux(town)
    assert tmux is not None
    primary, secondary = pty.openpty()
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("GT_AGENT", "TMUX", "TMUX_PANE")}
    env.update(TERM="xterm-256color", GT_TOWN=str(town.root), GT_TMUX_CONF=os.devnull)
    proc = subprocess.Popen(
        [sys.executable, "-m", "gastown_tui", "tui", "--tmux"],
        stdin=secondary,
        stdout=secondary,
        stderr=secondary,
        env=env,
        close_fds=True,
    )
    os.close(secondary)
    stop = threading.Event()

    def drain() -> None:  # the attached client must never block on a full pty
        while not stop.is_set():
            ready, _, _ = select.select([primary], [], [], 0.05)
            if ready:
                try:
                    os.read(primary, 65536)
                except OSError:
                    return

    drainer = threading.Thread(target=drain, daemon=True)
    drainer.start()
    try:
        window = wait_until(lambda: tmux.find_window("gt-hq", "app"), 30, "the app window")
        pane = window.pane_id

        def screen() -> str:
            return tmux.capture(pane)

        wait_until(lambda: "GAS TOWN" in screen(), 30, "the app to draw")
        size = tmux.run("display-message", "-p", "-t", pane, "#{pane_width}x#{pane_height}")
        assert size.stdout.strip() == "80x24"
        assert "needs at least" not in screen()

        tmux.run("send-keys", "-t", pane, "m", "mayor", "Tab", "subj")  # one burst
        text = wait_until(lambda: (s := screen()) and "subj" in s and s, 10, "the subject")
        assert "New mail" in text
        to_line = [line for line in _lines_with(text, "mayor") if "subject" not in line]
        assert to_line and "subj" not in to_line[0], text
        assert any("subj" in line for line in _lines_with(text, "subject")), text
        assert "mayorsubj" not in text

        tmux.run("send-keys", "-t", pane, "Escape")
        wait_until(lambda: "New mail" not in screen(), 10, "the dialog to close")
        tmux.run("send-keys", "-t", pane, "/", "hook", "Enter", "f")  # one burst
        wait_until(lambda: "Filter the feed" in screen(), 10, "the filter dialog (the `f`)")
        tmux.run("send-keys", "-t", pane, "Escape")
        wait_until(lambda: "Filter the feed" not in screen(), 10, "the filter to close")
        tmux.run("send-keys", "-t", pane, "q")
        wait_until(lambda: "Quit Gas Town?" in screen(), 10, "the quit question")
        tmux.run("send-keys", "-t", pane, "y")
        wait_until(
            lambda: (w := tmux.find_window("gt-hq", "app")) is None or w.pane_dead,
            30,
            "the app to quit",
        )
        tmux.run("detach-client", "-s", "gt-hq", check=False)
        deadline = time.monotonic() + 30
        while proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert proc.returncode == 0
    finally:
        stop.set()
        if proc.poll() is None:
            proc.kill()
        drainer.join(2)
        os.close(primary)
        tmux.kill_server()
        tmux.socket_path().unlink(missing_ok=True)


# -- hostile text in the app: shown as written, never as markup, never obeyed --------------------
MARKUP = "[bold]B[/bold] [link=https://x.invalid]L[/link] [red]R"
OSC = "\x1b]2;PWNED\x07"


def screen_text(app: GasTownApp) -> str:
    """The text of what the app shows (its SVG screenshot without the markup of the SVG)."""
    import html
    import re

    svg = app.export_screenshot()
    parts = re.findall(r"<text[^>]*>(.*?)</text>", svg, re.S)
    return html.unescape("".join(parts)).replace("\xa0", " ")


async def test_stored_markup_and_controls_show_as_written(small_town: Town) -> None:
    town = small_town
    bead = town.beads.create(MARKUP, rig="alpha", description="plain")
    town.convoys.create(f"convoy {MARKUP}", [bead.id])
    town.mail.send(["overseer"], f"mail {MARKUP}", "body", sender="mayor")

    def hostile(b: Any) -> str:  # written straight to the store, as by an older version
        b.description = f"desc {OSC} [bold]D[/bold] \u202eRTL"
        return "hostile"

    town.beads.mutate(bead.id, hostile)
    town.events.append("bead.note", actor="x", rig="alpha", msg=f"event {OSC} [bold]E[/bold]")
    app = app_for(town)
    async with app.run_test(size=(160, 50)) as pilot:
        await settle(pilot)
        text = screen_text(app)
        assert "[bold]B[/bold]" in text  # in the rigs tree, the convoys and the mail panes
        assert f"convoy {MARKUP}"[:30] in text
        assert "mail [bold]B[/bold]" in text
        assert "[bold]E[/bold]" in text and "\\x1b]2;PWNED\\x07" in text  # the feed
        app.action_show_bead(bead.id)
        await settle(pilot)
        text = screen_text(app)
        assert f"{bead.id} {MARKUP}" in text  # the dialog's title
        assert "[bold]D[/bold]" in text and "\\x1b]2;PWNED\\x07" in text and "\\u202e" in text
        app.notify(f"notice {MARKUP} {OSC}")
        await settle(pilot)
        notice = list(app._notifications)[-1]
        assert not notice.markup and notice.message == f"notice {MARKUP} \\x1b]2;PWNED\\x07"
        assert app._exception is None
