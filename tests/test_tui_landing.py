"""Issue 15, landing in the app: the verify's output streams into the review while the refinery
merges, the merge queue as a pane of the main screen, and refusals (a merged request rejected,
an agent that is gone) shown in the app with nothing changed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gastown_tui.town.merge_requests import MergeRequests
from gastown_tui.town.town import Town
from gastown_tui.tui.screens.review import ReviewScreen
from tests.test_tui_review import build_review_town, fixed_git_dates
from tests.tui_fixtures import anyio_backend, settle, snapshot_app, utc, wait_for

pytest_plugins = ["tests.polecat_fixtures"]
__all__ = ["anyio_backend", "fixed_git_dates", "utc"]  # fixtures, used by name


def _state(town: Town, mr_id: str) -> str:
    return MergeRequests(town).get(mr_id).state


def _set_verify(town: Town, command: str) -> Town:
    path = town.paths.town_toml
    text = path.read_text().replace('verify = "echo verified"', f"verify = {command!r}")
    path.write_text(text)
    return Town.open(town.root, clock=town.clock)


@pytest.fixture
def gated_town(tmp_path: Path, fixed_git_dates: None, utc: None) -> tuple[Town, str, Path]:
    """A review town whose verify prints a line, then waits for a gate file the test creates:
    the test sees the output while the verify runs, with no sleep of its own."""
    town, mr_id = build_review_town(tmp_path)
    gate = tmp_path / "gate"
    command = (
        f"echo checking the gauges; while [ ! -e '{gate}' ]; do sleep 0.05; done; echo all good"
    )
    return _set_verify(town, command), mr_id, gate


@pytest.mark.anyio
async def test_approve_streams_the_verify_output_into_the_review(
    gated_town: tuple[Town, str, Path],
) -> None:
    town, mr_id, gate = gated_town
    app = snapshot_app(town, polecats=[])
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.push_screen(ReviewScreen(town, mr_id=mr_id))
        review = await wait_for(pilot, lambda: isinstance(app.screen, ReviewScreen) and app.screen)
        await wait_for(pilot, lambda: review.data is not None, what="the review")
        await pilot.press("a")
        log = review.query_one("#review-log")
        try:
            # The output's own line (the log starts with the command, which names both lines).
            await wait_for(
                pilot,
                lambda: str(log.render()).rstrip().splitlines()[-1] == "checking the gauges",
                what="streamed output",
            )
            assert _state(town, mr_id) == "verifying", "the output shows while the verify runs"
        finally:
            gate.touch()  # never leave the verify (and the app's worker) waiting
        await wait_for(pilot, lambda: _state(town, mr_id) == "merged", what="the merge")
        await wait_for(pilot, lambda: "passed" in str(log.render()), what="the stored log")
        assert "all good" in str(log.render())
    assert not list((town.paths.runtime / "verify").glob("*.log")), "the live log is removed"


# -- bad input: a clear message in the app, nothing changed ----------------------------------
@pytest.fixture
def review_town(tmp_path: Path, fixed_git_dates: None, utc: None) -> tuple[Town, str]:
    return build_review_town(tmp_path)


async def _open(pilot: Any, app: Any, town: Town, mr_id: str) -> ReviewScreen:
    app.push_screen(ReviewScreen(town, mr_id=mr_id))
    review = await wait_for(pilot, lambda: isinstance(app.screen, ReviewScreen) and app.screen)
    await wait_for(pilot, lambda: review.data is not None, what="the review")
    return review


@pytest.mark.anyio
async def test_rejecting_a_request_merged_meanwhile_is_refused_and_nothing_changes(
    review_town: tuple[Town, str],
) -> None:
    from gastown_tui.supervise.refinery import Refinery
    from gastown_tui.tui.screens.review import RejectScreen
    from tests.conftest import snapshot_files

    town, mr_id = review_town
    app = snapshot_app(town, polecats=[])
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        review = await _open(pilot, app, town, mr_id)
        # Another process (the CLI, a second screen) approves and merges it meanwhile.
        MergeRequests(town).approve(mr_id, "overseer")
        Refinery(town, "war-rig").merge_now(mr_id)
        assert _state(town, mr_id) == "merged"
        before = snapshot_files(town.root)
        await pilot.press("x")
        dialog = await wait_for(pilot, lambda: isinstance(app.screen, RejectScreen) and app.screen)
        await pilot.press(*"not needed", "enter")
        error = dialog.query_one(".form-error")
        await wait_for(pilot, lambda: "already merged" in str(error.render()), what="the refusal")
        assert snapshot_files(town.root) == before
        # Back on the review, now showing it merged: x says there is nothing to reject.
        await pilot.press("escape")
        review.reload()
        await wait_for(pilot, lambda: review.data.mr["state"] == "merged")
        await pilot.press("x")
        await wait_for(
            pilot,
            lambda: any("nothing to reject" in n.message for n in app._notifications),
            what="the message",
        )
        assert app.screen is review
    assert _state(town, mr_id) == "merged"


@pytest.mark.anyio
async def test_an_action_on_an_agent_that_is_gone_is_refused_and_nothing_changes(
    review_town: tuple[Town, str],
) -> None:
    from gastown_tui.tui.screens.control import ControlScreen
    from tests.conftest import snapshot_files

    town, _ = review_town
    app = snapshot_app(town, polecats=[])
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        before = snapshot_files(town.root)
        for key in ("s", "k", "r", "e", "p"):
            dialog = ControlScreen(town, None, "war-rig/ghost", "idle")
            app.push_screen(dialog)
            await wait_for(pilot, lambda d=dialog: app.screen is d)
            await pilot.press(key)
            error = dialog.query_one(".form-error")
            await wait_for(pilot, lambda e=error: str(e.render()).strip(), what=f"{key}: refusal")
            assert "war-rig/ghost" in str(error.render()), str(error.render())
            assert "Traceback" not in str(error.render())
            await pilot.press("escape")
            await wait_for(pilot, lambda d=dialog: app.screen is not d)
        assert snapshot_files(town.root) == before
