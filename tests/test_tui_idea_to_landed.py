"""Issue 15's "done when": a person takes a bead from idea to landed without leaving the app, at
80x24 with the keyboard only — create it, sling it, watch it, answer its agent, review its
diff, approve, see it merged. Real tmux (the test town's own server), a real demo agent in its
window, real git, `[rigs.alpha] require_review = true` so nothing lands unreviewed.

Only keys are pressed; the test reads the app's state and the store to know when to press the
next one, as a person reads the screen."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gastown_tui.tmux import TownTmux
from gastown_tui.town.merge_requests import MergeRequests
from gastown_tui.town.town import Town
from gastown_tui.tui.app import GasTownApp, make_app
from gastown_tui.tui.screens.bead_edit import BeadFormScreen
from gastown_tui.tui.screens.nudge import NudgeScreen
from gastown_tui.tui.screens.review import ReviewScreen
from gastown_tui.tui.screens.sling import SlingScreen
from gastown_tui.tui.widgets.diff_view import DiffView
from gastown_tui.tui.widgets.merge_queue import MergeQueue
from tests import polecat_fixtures as pf
from tests.tmux_helpers import real_tmux
from tests.tui_fixtures import anyio_backend, settle, wait_for

polecat_env, tmux = pf.polecat_env, pf.tmux
__all__ = ["anyio_backend", "polecat_env", "tmux"]
pytestmark = [pytest.mark.anyio, pytest.mark.tmux]
TITLE = "Paint the war rig"


def keys(text: str) -> list[str]:
    return [{" ": "space", "-": "minus"}.get(c, c) for c in text]


def reviewed_town(town: Town) -> Town:
    toml = town.paths.town_toml
    text = toml.read_text().replace('default_runtime = "claude"', 'default_runtime = "demo"')
    toml.write_text(text + '\n[rigs.alpha]\nrequire_review = true\nverify = "git log -1 --stat"\n')
    return Town.open(town.root, clock=town.clock)


async def press_until(pilot: Any, key: str, done: Any, limit: int = 40) -> None:
    """Press `key` until `done()` (a person moving the cursor down to a row)."""
    for _ in range(limit):
        if done():
            return
        await pilot.press(key)
        await pilot.pause()
    assert done(), f"pressing {key} {limit} times did not get there"


@real_tmux
async def test_from_idea_to_landed_with_the_keyboard_at_80x24(
    rig_town: Town, tmux: TownTmux
) -> None:
    town = reviewed_town(rig_town)
    app: GasTownApp = make_app(town, tmux, watch=True)
    app.animation_level = "none"
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert app.layout_shown == "compact"

        # 1. The idea: a new bead with its title and a label (the demo agent asks a person
        #    before it commits when a bead is labelled needs-human).
        await pilot.press("b")
        form = await wait_for(pilot, lambda: isinstance(app.screen, BeadFormScreen) and app.screen)
        await pilot.press(*keys(TITLE))
        await pilot.press("tab", *keys("Chrome and rust"), "tab", "tab", "tab")
        await pilot.press(*keys("needs-human"), "enter")
        await wait_for(pilot, lambda: app.screen is not form, what="the bead created")
        bead = next(b for b in town.beads.list() if b.title == TITLE)
        assert bead.labels == ["needs-human"] and bead.description == "Chrome and rust"

        # 2. Sling it: the sling dialog finds it by a word of its title.
        await wait_for(pilot, lambda: any(b.id == bead.id for b in app.rigs_snapshot.ready))
        await pilot.press("s")
        await wait_for(pilot, lambda: isinstance(app.screen, SlingScreen))
        await pilot.press(*keys("paint"), "enter", "ctrl+s")
        await wait_for(
            pilot, lambda: not isinstance(app.screen, SlingScreen), timeout=30, what="the sling"
        )
        address = town.beads.get(bead.id).assignee
        assert address and address.startswith("alpha/")

        # 3. Watch it: the agent stops at its question; the app shows it waiting.
        await wait_for(
            pilot,
            lambda: any(p.address == address and p.state == "waiting" for p in app.polecats),
            timeout=60,
            what="the agent waiting at its question",
        )
        await pilot.press("1")
        tree = app.rigs_pane.tree
        await press_until(
            pilot,
            "j",
            lambda: tree.cursor_node is not None and tree.cursor_node.data.key == address,
        )
        await pilot.press("5")
        await wait_for(
            pilot,
            lambda: "proceed" in str(app.preview_pane.text_widget.render()).lower(),
            timeout=15,
            what="the question in the preview",
        )

        # 4. Answer it: the nudge dialog shows the question; 1 answers yes.
        await pilot.press("1", "n")
        answer = await wait_for(pilot, lambda: isinstance(app.screen, NudgeScreen) and app.screen)
        assert answer.query("#nudge-question"), "the dialog shows the question"
        await pilot.press("1", "enter")
        await wait_for(pilot, lambda: app.screen is not answer, timeout=30, what="the answer")

        # 5. It finishes: gt done records a merge request, held for review.
        requests = MergeRequests(town)
        await wait_for(
            pilot,
            lambda: [m.state for m in requests.list()] == ["review"],
            timeout=60,
            what="the merge request",
        )
        mr_id = requests.list()[0].id

        # 6. Review its diff from the merge queue pane, approve.
        await pilot.press("6")
        queue = app.town_screen.query_one("#merge-queue-pane", MergeQueue)
        await wait_for(pilot, lambda: queue.rows and queue.rows[0]["state"] == "review")
        await pilot.press("enter")
        review = await wait_for(pilot, lambda: isinstance(app.screen, ReviewScreen) and app.screen)
        await wait_for(pilot, lambda: review.data is not None, what="the review")
        diff = review.query_one(DiffView)
        assert any(f.startswith("notes/") for f in diff.diff.files), diff.diff.files
        await pilot.press("]", "space", "a")

        # 7. See it merged: in the review, then in the queue pane.
        await wait_for(
            pilot, lambda: requests.get(mr_id).state == "merged", timeout=60, what="the merge"
        )
        await wait_for(pilot, lambda: review.data and review.data.mr["state"] == "merged")
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is app.town_screen)
        await wait_for(
            pilot,
            lambda: queue.rows and queue.rows[0]["state"] == "merged",
            timeout=15,
            what="merged in the queue",
        )
    assert town.beads.get(bead.id).status == "closed"
    main = Path(town.rigs.get("alpha").path)
    assert any(p.name.startswith(bead.id) for p in (main / "notes").iterdir())
