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
