"""The review screen and the merge queue in the app: from a finished branch to merged with the
keyboard only, refusals shown and nothing changed, agent control from the app; snapshots at
80x24 and 200x50."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from gastown_tui.town.clock import FakeClock
from gastown_tui.town.town import Town
from gastown_tui.town.work import complete
from gastown_tui.tui.screens.review import MergeQueueScreen, ReviewScreen
from gastown_tui.tui.widgets.diff_view import DiffView, parse_diff
from tests.conftest import make_git_repo
from tests.polecat_fixtures import hook_without_window
from tests.tui_fixtures import (
    START,
    anyio_backend,
    fixed_ids,
    run_before,
    settle,
    snapshot_app,
    utc,
    wait_for,
)

pytest_plugins = ["tests.polecat_fixtures"]
__all__ = ["anyio_backend", "utc"]  # fixtures, used by name

OLD_PY = '''"""Fuel gauges of the war rig."""


def reading(tank: dict) -> float:
    return tank["level"] / tank["capacity"]


def empty(tank: dict) -> bool:
    return reading(tank) == 0
'''
NEW_PY = '''"""Fuel gauges of the war rig."""

GUZZOLINE = "guzzoline"


def reading(tank: dict) -> float:
    """The level as a fraction of the capacity (0 for a tank of no capacity)."""
    if not tank.get("capacity"):
        return 0.0
    return tank["level"] / tank["capacity"]


def empty(tank: dict) -> bool:
    return reading(tank) <= 0.01
'''
FIXED_DATE = "2026-11-18T11:00:00+00:00"


@pytest.fixture
def fixed_git_dates(monkeypatch: pytest.MonkeyPatch) -> None:
    """Commits with fixed dates have fixed ids: the snapshots show them."""
    monkeypatch.setenv("GIT_AUTHOR_DATE", FIXED_DATE)
    monkeypatch.setenv("GIT_COMMITTER_DATE", FIXED_DATE)
    monkeypatch.setenv("TZ", "UTC")


def build_review_town(tmp: Path) -> tuple[Town, str]:
    """A town with one git rig, require_review on, and one finished branch awaiting review."""
    with fixed_ids():
        town = Town.init(tmp / "town", name="bartertown", runtime="demo", clock=FakeClock(START))
        repo = make_git_repo(tmp / "war-rig-src", {"gauge.py": OLD_PY, "README.md": "# war rig\n"})
        town.rigs.add("war-rig", str(repo), prefix="wr")
        path = town.paths.town_toml
        path.write_text(
            path.read_text() + '\n[rigs.war-rig]\nrequire_review = true\nverify = "echo verified"\n'
        )
        town = Town.open(town.root, clock=FakeClock(START))
        bead = town.beads.create("Guard the fuel gauge against empty tanks", rig="war-rig")
        address = hook_without_window(town, bead.id, rig="war-rig")
        worktree = Path(town.polecats.get(address).worktree)
        (worktree / "gauge.py").write_text(NEW_PY)
        (worktree / "NOTES.md").write_text("Checked every tank.\n")
        result = complete(town, address)
    assert result.merge_request
    return town, result.merge_request


@pytest.fixture
def review_town(tmp_path: Path, fixed_git_dates: None, utc: None) -> Iterator[tuple[Town, str]]:
    yield build_review_town(tmp_path)


def _mr(town: Town, mr_id: str) -> dict[str, Any]:
    from gastown_tui.town.merge_requests import MergeRequests

    return MergeRequests(town).get(mr_id).to_dict()


def test_parse_diff_pairs_deleted_and_added_lines() -> None:
    diff = parse_diff(
        "diff --git a/x.py b/x.py\n--- a/x.py\n+++ b/x.py\n@@ -1,3 +1,3 @@\n a\n-b\n+B\n+C\n c\n"
    )
    kinds = [line.kind for line in diff.lines]
    assert kinds == ["file", "hunk", "ctx", "del", "add", "add", "ctx"]
    texts = [
        (
            diff.lines[left].text if left is not None else None,
            diff.lines[right].text if right is not None else None,
        )
        for left, right in diff.pairs
    ]
    assert ("b", "B") in texts and (None, "C") in texts
    assert diff.lines[4].new == 2 and diff.lines[3].old == 2


@pytest.mark.anyio
async def test_review_then_approve_merges_with_the_keyboard(review_town: tuple[Town, str]) -> None:
    town, mr_id = review_town
    repo = Path(town.rigs.get("war-rig").path)
    app = snapshot_app(town, polecats=[])
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("M")
        screen = await wait_for(
            pilot, lambda: isinstance(app.screen, MergeQueueScreen) and app.screen
        )
        await wait_for(pilot, lambda: screen.query_one("MergeQueue").rows, what="the queue")
        assert screen.query_one("MergeQueue").rows[0]["state"] == "review"
        await pilot.press("enter")
        review = await wait_for(pilot, lambda: isinstance(app.screen, ReviewScreen) and app.screen)
        await wait_for(pilot, lambda: review.data is not None, what="the review")
        diff = review.query_one(DiffView)
        assert diff.diff.files == ["NOTES.md", "gauge.py"]
        assert not diff.split, "unified below 160 columns"
        await pilot.press("]", "]")
        assert int(diff.scroll_y) == diff.row_of_file(1)
        await pilot.press("a")
        await wait_for(pilot, lambda: _mr(town, mr_id)["state"] == "merged", what="the merge")
        await wait_for(pilot, lambda: review.data and review.data.mr["state"] == "merged")
        assert "verified" in str(review.query_one("#review-log").render())
    assert (repo / "NOTES.md").exists()


@pytest.mark.anyio
async def test_a_moved_branch_is_refused_in_the_app_and_nothing_changes(
    review_town: tuple[Town, str],
) -> None:
    town, mr_id = review_town
    doc = _mr(town, mr_id)
    worktree = Path(town.polecats.get(doc["polecat"]).worktree)
    (worktree / "late.txt").write_text("late\n")
    subprocess.run(["git", "add", "-A"], cwd=worktree, check=True)
    subprocess.run(["git", "commit", "-qm", "late"], cwd=worktree, check=True)
    app = snapshot_app(town, polecats=[])
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        app.push_screen(ReviewScreen(town, mr_id=mr_id))
        review = await wait_for(pilot, lambda: isinstance(app.screen, ReviewScreen) and app.screen)
        await wait_for(pilot, lambda: review.data is not None)
        await pilot.press("a")
        await wait_for(pilot, lambda: not review.busy and app._notifications, what="a message")
        texts = [n.message for n in app._notifications]
        assert any("moved to" in t for t in texts), texts
    assert _mr(town, mr_id)["state"] == "review"


@pytest.mark.anyio
async def test_request_changes_needs_a_comment(review_town: tuple[Town, str]) -> None:
    town, mr_id = review_town
    app = snapshot_app(town, polecats=[])
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        app.push_screen(ReviewScreen(town, mr_id=mr_id))
        review = await wait_for(pilot, lambda: isinstance(app.screen, ReviewScreen) and app.screen)
        await wait_for(pilot, lambda: review.data is not None)
        await pilot.press("c")
        await wait_for(pilot, lambda: app.screen is not review)
        await pilot.press("enter")
        await wait_for(pilot, lambda: "empty" in str(app.screen.query_one(".form-error").render()))
        assert _mr(town, mr_id)["state"] == "review"
        await pilot.press(*"add a test", "enter")
        await wait_for(pilot, lambda: _mr(town, mr_id)["state"] == "changes", what="changes")
    assert town.mail.inbox(_mr(town, mr_id)["polecat"])[0].subject.startswith("REWORK_REQUEST")


def _open_review(town: Town, mr_id: str) -> Any:
    def step(pilot: Pilot[Any]) -> None:
        pilot.app.push_screen(ReviewScreen(town, mr_id=mr_id))

    return step


@pytest.mark.parametrize("size", [(80, 24), (200, 50)], ids=["80x24", "200x50"])
def test_review_snapshot(
    snap_compare: Any, review_town: tuple[Town, str], size: tuple[int, int]
) -> None:
    town, mr_id = review_town
    app = snapshot_app(town, polecats=[])
    assert snap_compare(app, terminal_size=size, run_before=run_before(_open_review(town, mr_id)))


@pytest.mark.parametrize("size", [(80, 24), (200, 50)], ids=["80x24", "200x50"])
def test_merge_queue_snapshot(
    snap_compare: Any, review_town: tuple[Town, str], size: tuple[int, int]
) -> None:
    town, _ = review_town
    app = snapshot_app(town, polecats=[])
    assert snap_compare(app, terminal_size=size, run_before=run_before("M"))


# -- beads in the app ----------------------------------------------------------------------------
async def _save(pilot: Pilot[Any], form: Any) -> None:
    """Enter in the title field submits the form (keyboard only, as a person would)."""
    from textual.widgets import Input

    form.query_one("#bead-title", Input).focus()
    await pilot.pause()
    await pilot.press("enter")


@pytest.mark.anyio
async def test_create_edit_close_undo_and_comment_a_bead_in_the_app(
    review_town: tuple[Town, str],
) -> None:
    from textual.widgets import Input, Select

    from gastown_tui.tui.screens.bead import BeadScreen
    from gastown_tui.tui.screens.bead_edit import BeadFormScreen, TextPromptScreen

    town, _ = review_town
    app = snapshot_app(town, polecats=[])
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("b")
        form = await wait_for(pilot, lambda: isinstance(app.screen, BeadFormScreen) and app.screen)
        await pilot.press("enter")  # no title: refused inline, nothing written
        await wait_for(pilot, lambda: str(form.query_one(".form-error").render()).strip())
        form.query_one("#bead-title", Input).value = "Paint the war rig"
        form.query_one("#bead-priority", Select).value = 0
        form.query_one("#bead-type", Select).value = "feature"
        form.query_one("#bead-labels", Input).value = "paint, ui"
        form.query_one("#bead-deps", Input).value = "blocks WR-K9P35"  # a typo, upper case
        await _save(pilot, form)
        await wait_for(pilot, lambda: "did you mean" in str(form.query_one(".form-error").render()))
        target = town.beads.list(include_closed=True)[0].id
        form.query_one("#bead-deps", Input).value = f"blocks {target.upper()}"
        await _save(pilot, form)
        await wait_for(pilot, lambda: not isinstance(app.screen, BeadFormScreen), what="created")
        bead = next(b for b in town.beads.list() if b.title == "Paint the war rig")
        assert (bead.priority, bead.type, bead.labels) == (0, "feature", ["paint", "ui"])
        assert [d.on for d in bead.deps] == [target]

        app.action_show_bead(bead.id.upper())
        view = await wait_for(pilot, lambda: isinstance(app.screen, BeadScreen) and app.screen)
        assert "blocked by" in str(view.query("Label").last().render()) or any(
            "blocked by" in str(label.render()) for label in view.query("Label")
        )
        await pilot.press("e")
        form = await wait_for(pilot, lambda: isinstance(app.screen, BeadFormScreen) and app.screen)
        form.query_one("#bead-title", Input).value = "Paint the war rig chrome"
        await _save(pilot, form)
        await wait_for(pilot, lambda: town.beads.get(bead.id).title.endswith("chrome"))
        await pilot.press("u")
        await wait_for(pilot, lambda: town.beads.get(bead.id).title == "Paint the war rig")

        app.action_show_bead(bead.id)
        await wait_for(pilot, lambda: isinstance(app.screen, BeadScreen))
        await pilot.press("x")
        await wait_for(pilot, lambda: isinstance(app.screen, TextPromptScreen))
        await pilot.press(*"no paint left", "enter")
        await wait_for(pilot, lambda: town.beads.get(bead.id).status == "closed")
        await pilot.press("u")
        await wait_for(pilot, lambda: town.beads.get(bead.id).status == "open", what="undo")
        # Closed again, then reopened from its screen with `o` (offered only when closed).
        app.action_show_bead(bead.id)
        await wait_for(pilot, lambda: isinstance(app.screen, BeadScreen))
        await pilot.press("x")
        await wait_for(pilot, lambda: isinstance(app.screen, TextPromptScreen))
        await pilot.press(*"done after all", "enter")
        await wait_for(pilot, lambda: town.beads.get(bead.id).status == "closed")
        app.action_show_bead(bead.id)
        await wait_for(
            pilot,
            lambda: isinstance(app.screen, BeadScreen) and app.screen.bead["status"] == "closed",
        )
        await pilot.press("o")
        await wait_for(pilot, lambda: town.beads.get(bead.id).status == "open", what="reopen")

        app.action_show_bead(bead.id)
        await wait_for(pilot, lambda: isinstance(app.screen, BeadScreen))
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, TextPromptScreen))
        await pilot.press("enter")  # empty: refused
        await wait_for(
            pilot, lambda: "needs text" in str(app.screen.query_one(".form-error").render())
        )
        await pilot.press(*"chrome only", "enter")
        await wait_for(pilot, lambda: town.beads.get(bead.id).comments, what="the comment")
    view_doc = app.bead_view(target)
    assert [d["id"] for d in view_doc["dependents"]] == [bead.id], "dependencies both ways"
    assert any(e["type"] == "bead.created" for e in app.bead_view(bead.id)["history"])


# -- the small fixes of issue 15 -----------------------------------------------------------------
@pytest.fixture
def snap_town(tmp_path: Path, utc: None) -> Town:
    from tests.tui_fixtures import build_snapshot_town

    return build_snapshot_town(tmp_path)


@pytest.mark.anyio
async def test_theme_is_saved_j_k_move_and_help_has_a_glyph_legend(snap_town: Town) -> None:
    from gastown_tui.town.config import TownConfig
    from gastown_tui.tui.screens.help import HelpScreen
    from gastown_tui.tui.screens.mail import ComposeScreen

    app = snapshot_app(snap_town)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        tree = app.rigs_pane.tree
        start = tree.cursor_line
        await pilot.press("j", "j")
        assert tree.cursor_line == start + 2
        await pilot.press("k")
        assert tree.cursor_line == start + 1
        await pilot.press("t", "down", "enter")
        await wait_for(pilot, lambda: "high-octane" in snap_town.paths.town_toml.read_text())
        assert TownConfig.load(snap_town.paths.town_toml).theme == "high-octane"
        await pilot.press("question_mark")
        help_screen = await wait_for(
            pilot, lambda: isinstance(app.screen, HelpScreen) and app.screen
        )
        legend = str(help_screen.query_one(".help-legend").render())
        assert "◆ waiting" in legend and "✉ unread mail" in legend
        await pilot.press("escape", "m")
        compose = await wait_for(
            pilot, lambda: isinstance(app.screen, ComposeScreen) and app.screen
        )
        placeholder = str(compose.query_one("#mail-to").placeholder)
        assert "citadel" in placeholder or "war-rig" in placeholder
        assert "alpha" not in placeholder
