"""Snapshots of what issue 15 changed, at 80x24 and 200x50: the main screen as it fits itself
(the compact layout at 80x24 although the default is chosen; the merges pane beside the feed at
200x50), the merges pane with a request awaiting review, and a dialog whose dropdown opens
inside it with the focused field marked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gastown_tui.town.town import Town
from tests.test_tui_review import build_review_town, fixed_git_dates
from tests.tui_fixtures import _strip_paths, build_snapshot_town, run_before, snapshot_app, utc

__all__ = ["fixed_git_dates", "utc"]  # fixtures, used by name
SIZES = {"80x24": (80, 24), "200x50": (200, 50)}


@pytest.fixture
def snap_town(tmp_path: Path, utc: None) -> Town:
    return build_snapshot_town(tmp_path)


@pytest.mark.parametrize("size", SIZES)
def test_main_screen_fits_the_terminal(snap_compare: Any, snap_town: Town, size: str) -> None:
    app = snapshot_app(snap_town)  # the default layout chosen
    assert snap_compare(app, terminal_size=SIZES[size], run_before=run_before())


@pytest.mark.parametrize("size", SIZES)
def test_merges_pane_with_a_request_to_review(
    snap_compare: Any, tmp_path: Path, fixed_git_dates: None, utc: None, size: str
) -> None:
    town, _ = build_review_town(tmp_path)
    _strip_paths(town, tmp_path)  # the feed shows where the rig came from: a fixed folder
    app = snapshot_app(town, polecats=[])
    assert snap_compare(app, terminal_size=SIZES[size], run_before=run_before("6"))


def test_a_dropdown_opens_inside_its_dialog(snap_compare: Any, snap_town: Town) -> None:
    app = snapshot_app(snap_town)
    steps = run_before("s", "tab", "tab", "enter")
    assert snap_compare(app, terminal_size=(80, 24), run_before=steps)
