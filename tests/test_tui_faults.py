"""The app against faults: data changing under a refresh, keys typed in bursts, hostile text."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gastown_tui.town.clock import FakeClock
from gastown_tui.town.town import Town
from gastown_tui.tui.app import GasTownApp, make_app
from gastown_tui.tui.data import ConvoyRow, ConvoysSnapshot, TownData
from gastown_tui.tui.widgets.convoys import ConvoysPane
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
