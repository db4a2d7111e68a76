"""The app with hundreds of agents (issue 12). The Rigs tree: collapse and expand rigs,
filter by state, jump to the next waiting agent, all driven by keys with Textual's pilot; a
store write repaints only its row. Convoys: a bounded number of rows, ages refreshed on screen
only. The feed: a new event grows its own scroll range without laying the screen out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gastown_tui.town.clock import FakeClock
from gastown_tui.town.town import Town
from gastown_tui.tui.app import GasTownApp, make_app
from gastown_tui.tui.widgets.rigs import NodeRef, RigsTree, _walk
from gastown_tui.views.actions import TownData
from gastown_tui.views.rows import HookedBead, PolecatRow
from tests.tui_fixtures import anyio_backend, settle, wait_for

__all__ = ["anyio_backend"]  # fixture, used by name

pytestmark = pytest.mark.anyio

SIZE = (120, 40)
RIGS = ("alpha", "beta", "gamma")
PER_RIG = 70  # 210 agents
# Every seventh agent waits, every eleventh is dead, every thirteenth is idle.
WAITING = {f"{rig}/p{n:03d}" for rig in RIGS for n in range(PER_RIG) if n % 7 == 3}


def state_of(n: int) -> str:
    if n % 7 == 3:
        return "waiting"
    if n % 11 == 5:
        return "zombie"
    if n % 13 == 6:
        return "idle"
    return "working"


def many_polecats() -> list[PolecatRow]:
    rows = []
    for rig in RIGS:
        for n in range(PER_RIG):
            state = state_of(n)
            hook = None if state == "idle" else HookedBead(f"{rig[:2]}-{n}", f"job {n}")
            rows.append(PolecatRow(f"{rig}/p{n:03d}", rig, f"p{n:03d}", state, "demo", hook))
    return rows


@pytest.fixture
def big_town(tmp_path: Path) -> Town:
    town = Town.init(tmp_path / "town", name="bigtown", clock=FakeClock())
    for rig in RIGS:
        folder = tmp_path / rig
        folder.mkdir()
        town.rigs.add(rig, str(folder), prefix=rig[:2], no_git=True)
        town.beads.create(f"ready work in {rig}", rig=rig)
    return town


def app_for(town: Town) -> GasTownApp:
    rows = many_polecats()
    app = make_app(town, watch=False, data=TownData(town, None, observe=lambda: rows))
    app.animation_level = "none"
    return app


def tree_of(app: GasTownApp) -> RigsTree:
    return app.rigs_pane.tree


def shown(app: GasTownApp) -> list[NodeRef]:
    return [n.data for n in _walk(tree_of(app).root) if n.data is not None]


def shown_polecats(app: GasTownApp) -> list[str]:
    return [r.key for r in shown(app) if r.kind == "polecat"]


def label_of(app: GasTownApp, ref: NodeRef) -> str:
    node = next(n for n in _walk(tree_of(app).root) if n.data == ref)
    return node.label.plain


async def started(pilot: Any) -> GasTownApp:
    await settle(pilot)
    app = pilot.app
    assert len(shown_polecats(app)) == len(RIGS) * PER_RIG
    assert tree_of(app).cursor_ref() == NodeRef("rig", "alpha")
    return app


async def test_rigs_collapse_and_expand_with_keys(big_town: Town) -> None:
    app = app_for(big_town)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        await pilot.press("left")  # fold alpha, under the cursor
        await pilot.pause()
        polecats = shown_polecats(app)
        assert not any(a.startswith("alpha/") for a in polecats)
        assert len(polecats) == 2 * PER_RIG
        waiting_in_alpha = sum(1 for a in WAITING if a.startswith("alpha/"))
        assert f"◆{waiting_in_alpha} waiting" in label_of(app, NodeRef("rig", "alpha"))
        assert tree_of(app).cursor_ref() == NodeRef("rig", "alpha")
        await pilot.press("right")
        await pilot.pause()
        assert len(shown_polecats(app)) == len(RIGS) * PER_RIG
        assert "waiting" not in label_of(app, NodeRef("rig", "alpha"))

        # `left` on a polecat folds the rig it is in and leaves the cursor on that rig.
        await pilot.press("down", "down")
        assert tree_of(app).cursor_ref() == NodeRef("polecat", "alpha/p001")
        await pilot.press("left")
        await pilot.pause()
        assert tree_of(app).cursor_ref() == NodeRef("rig", "alpha")
        assert not any(a.startswith("alpha/") for a in shown_polecats(app))

        await pilot.press("plus")  # every rig open again
        await pilot.pause()
        assert len(shown_polecats(app)) == len(RIGS) * PER_RIG
        await pilot.press("minus")  # every rig folded: three rows
        await pilot.pause()
        assert shown(app) == [NodeRef("rig", r) for r in RIGS]
        # A folded rig opens again where it was (space toggles a rig, as in any tree).
        await pilot.press("down", "space")
        await pilot.pause()
        assert {a.split("/")[0] for a in shown_polecats(app)} == {"beta"}


async def test_filter_by_state_cycles_with_o(big_town: Town) -> None:
    app = app_for(big_town)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        rows = many_polecats()
        expected = {
            "waiting": {p.address for p in rows if p.state == "waiting"},
            "working": {p.address for p in rows if p.state == "working"},
            "stuck": set(),
            "idle": {p.address for p in rows if p.state == "idle"},
            "dead": {p.address for p in rows if p.state == "zombie"},
        }
        for name, addresses in expected.items():
            await pilot.press("o")
            await pilot.pause()
            assert tree_of(app).state_filter == name
            assert set(shown_polecats(app)) == addresses, name
            # The ready beads are work, not agents: a state filter hides them.
            assert not any(r.kind in ("ready", "bead") for r in shown(app))
            subtitle = str(app.rigs_pane.border_subtitle)
            assert f"only {name}: {len(addresses)} of {len(rows)}" in subtitle
        await pilot.press("o")  # back to everything
        await pilot.pause()
        assert tree_of(app).state_filter == ""
        assert len(shown_polecats(app)) == len(rows)
        assert NodeRef("ready", "alpha") in shown(app)
        assert "only" not in str(app.rigs_pane.border_subtitle)


async def test_w_jumps_to_each_waiting_agent_in_turn(big_town: Town) -> None:
    app = app_for(big_town)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        order = [a for a in shown_polecats(app) if a in WAITING]
        visited = []
        for _ in range(len(order) + 1):
            await pilot.press("w")
            await pilot.pause()
            ref = tree_of(app).cursor_ref()
            assert ref is not None and ref.kind == "polecat"
            visited.append(ref.key)
        assert visited == [*order, order[0]]  # every waiting agent in tree order, then round
        # The selected agent is followed by the app (preview, nudge, attach).
        assert app.selected_address == order[0]


async def test_w_opens_a_folded_rig_and_drops_a_hiding_filter(big_town: Town) -> None:
    app = app_for(big_town)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        await pilot.press("minus")  # every rig folded
        await pilot.press("down")  # cursor on beta: the next waiting agent is beta's first
        await pilot.pause()
        await pilot.press("w")
        await pilot.pause()
        first_beta = min(a for a in WAITING if a.startswith("beta/"))
        assert tree_of(app).cursor_ref() == NodeRef("polecat", first_beta)
        assert {a.split("/")[0] for a in shown_polecats(app)} == {"beta"}

        await pilot.press("o", "o")  # only working: waiting agents are hidden
        await pilot.pause()
        assert tree_of(app).state_filter == "working"
        await pilot.press("w")
        await pilot.pause()
        assert tree_of(app).state_filter == ""
        ref = tree_of(app).cursor_ref()
        assert ref is not None and ref.key in WAITING


async def test_no_waiting_agent_says_so(big_town: Town) -> None:
    rows = [PolecatRow("alpha/p000", "alpha", "p000", "working", "demo")]
    app = make_app(big_town, watch=False, data=TownData(big_town, None, observe=lambda: rows))
    app.animation_level = "none"
    seen: list[str] = []
    original = app.notify

    def notify(message: str, *args: Any, **kwargs: Any) -> None:
        seen.append(message)
        original(message, *args, **kwargs)

    app.notify = notify  # type: ignore[method-assign]
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("w")
        await pilot.pause()
        assert "No agent is waiting for you." in seen
        assert tree_of(app).cursor_ref() == NodeRef("rig", "alpha")


async def test_the_new_keys_are_remappable_ids(big_town: Town) -> None:
    app = app_for(big_town)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        ids = app.binding_ids()
        for binding_id in ("rigs-next-waiting", "rigs-filter", "rigs-collapse", "rigs-expand"):
            assert binding_id in ids


async def test_help_lists_the_rigs_keys_as_remapped(big_town: Town) -> None:
    (big_town.root / "town.toml").write_text(
        (big_town.root / "town.toml").read_text() + '\n[keymap]\nrigs-next-waiting = "W"\n'
    )
    app = app_for(Town.open(big_town.root, clock=big_town.clock))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        rows = {row.binding_id: row for row in app.key_help()}
        assert rows["rigs-next-waiting"].key == "W"
        assert "next agent waiting" in rows["rigs-next-waiting"].description
        for binding_id in ("rigs-filter", "rigs-collapse", "rigs-expand-all"):
            assert binding_id in rows
        await pilot.press("W")  # the remapped key works
        await pilot.pause()
        ref = tree_of(app).cursor_ref()
        assert ref is not None and ref.key in WAITING


async def test_a_store_write_repaints_exactly_its_row(big_town: Town) -> None:
    """Another process renames one ready bead: the app re-reads that rig and relabels that
    row; every other row keeps its very label, and the rows equal a full reload."""
    from gastown_tui.tui.messages import StoreChanged

    for n in range(20):
        big_town.beads.create(f"more work {n}", rig="beta", priority=n % 4)
    app = app_for(Town.open(big_town.root, clock=big_town.clock))
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        tree = tree_of(app)
        before = {n.data: n.label for n in _walk(tree.root)}
        target = next(b for b in app.rigs_snapshot.ready if b.rig == "beta")
        big_town.beads.update(target.id, title="zz renamed")
        app.post_message(StoreChanged({"rig:beta"}))  # what the watcher posts for that file
        await wait_for(
            pilot,
            lambda: "zz renamed" in label_of(app, NodeRef("bead", target.id)),
            what="the renamed bead's row",
        )
        after = {n.data: n.label for n in _walk(tree.root)}
        assert after.keys() == before.keys()
        changed = {ref for ref in after if after[ref] is not before[ref]}
        assert changed == {NodeRef("bead", target.id)}
        assert app.rigs_snapshot == TownData(app.town, None).load_rigs()


async def test_rows_match_a_full_reload_after_many_writes(big_town: Town) -> None:
    from gastown_tui.tui.messages import StoreChanged

    app = app_for(Town.open(big_town.root, clock=big_town.clock))
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        for n in range(12):
            rig = RIGS[n % len(RIGS)]
            ready = [b for b in app.rigs_snapshot.ready if b.rig == rig]
            if n % 4 == 3 and ready:
                big_town.beads.close(ready[0].id, "done")
            else:
                big_town.beads.create(f"write {n}", rig=rig, priority=n % 5)
            app.post_message(StoreChanged({f"rig:{rig}"}))
            full = TownData(app.town, None).load_rigs()
            await wait_for(pilot, lambda f=full: app.rigs_snapshot == f, what=f"write {n}")
        shown_beads = {r.key for r in shown(app) if r.kind == "bead"}
        assert shown_beads == {b.id for b in app.rigs_snapshot.ready}


async def test_age_timer_touches_only_the_convoys_on_screen(tmp_path: Path) -> None:
    """Every sling makes a convoy: the 20 s age refresh must not walk hundreds of them. Rows
    in flight show no age and are not touched; landed ones are, when on screen."""
    from textual.widgets import ListView, Static

    from gastown_tui.tui.widgets.convoys import ConvoyItem, ConvoysPane

    clock = FakeClock()
    town = Town.init(tmp_path / "town", name="convoys", clock=clock)
    (tmp_path / "alpha").mkdir()
    town.rigs.add("alpha", str(tmp_path / "alpha"), prefix="al", no_git=True)
    for n in range(50):
        bead = town.beads.create(f"job {n}", rig="alpha")
        town.convoys.create(f"convoy {n}", [bead.id])
        if n % 5 == 0:
            town.beads.close(bead.id, "done")  # ten land, forty stay in flight
    app = make_app(town, watch=False, data=TownData(town, None, observe=list))
    app.animation_level = "none"
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        listing = app.query_one(ConvoysPane).query_one(ListView)
        items = list(listing.query(ConvoyItem))
        assert [i.row.state for i in items].count("landed") == 10 and len(items) == 50
        updated: list[str] = []
        for item in items:
            for label in item.query(Static):  # the title and the line under it
                original = label.update

                def update(*args: Any, _row: str = item.row.id, _f: Any = original) -> None:
                    updated.append(_row)
                    _f(*args)

                label.update = update  # type: ignore[method-assign]
        clock.advance(3 * 3600)
        app._refresh_ages()  # what the app's timer runs every AGE_REFRESH seconds
        await pilot.pause()
        assert updated == []  # in flight: no age; landed: below, out of sight
        listing.scroll_end(animate=False)
        await pilot.pause()
        app._refresh_ages()
        await pilot.pause()
        landed = {i.row.id for i in items if i.row.state == "landed"}
        assert updated and set(updated) <= landed  # on screen now: their ages, nothing else
        assert items[-1].row.id in updated


async def test_hundreds_of_convoys_list_a_bounded_number_of_rows(tmp_path: Path) -> None:
    from textual.widgets import ListView

    from gastown_tui.tui.widgets.convoys import FLYING_SHOWN, ConvoyItem, ConvoysPane

    town = Town.init(tmp_path / "town", name="convoys", clock=FakeClock())
    (tmp_path / "alpha").mkdir()
    town.rigs.add("alpha", str(tmp_path / "alpha"), prefix="al", no_git=True)
    count = FLYING_SHOWN + 25
    for n in range(count):
        bead = town.beads.create(f"job {n}", rig="alpha")
        town.convoys.create(f"convoy {n}", [bead.id])
    app = make_app(town, watch=False, data=TownData(town, None, observe=list))
    app.animation_level = "none"
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        pane = app.query_one(ConvoysPane)
        listing = pane.query_one(ListView)
        assert len(listing.query(ConvoyItem)) == FLYING_SHOWN
        texts = [str(label.render()) for label in listing.query(".convoy-heading Label")]
        assert "… 25 more in flight: ctrl+p finds any convoy" in texts
        assert f"{count} in flight" in str(pane.border_subtitle)


async def test_new_events_grow_the_feed_without_a_screen_layout(big_town: Town) -> None:
    from gastown_tui.town.models import Event
    from gastown_tui.tui.widgets.feed import FeedPane

    app = app_for(big_town)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        feed = app.query_one(FeedPane)
        view = feed.view
        layouts: list[object] = []
        view_refresh = view.refresh

        def refresh(*args: Any, **kwargs: Any) -> Any:
            if kwargs.get("layout"):
                layouts.append(kwargs)  # a layout of the view is one of the whole screen
            return view_refresh(*args, **kwargs)

        view.refresh = refresh  # type: ignore[method-assign]
        shown_before = view.shown
        for n in range(60):
            feed.add([Event(f"2026-11-18T12:{n // 60:02d}:{n % 60:02d}Z", "bead.updated", "x")])
            await pilot.pause()
        assert view.shown == shown_before + 60
        assert view.virtual_size.height == view.shown
        assert view.max_scroll_y == view.shown - view.scrollable_content_region.height
        view.scroll_end(animate=False, immediate=True)
        await pilot.pause()
        assert view.scroll_offset.y == view.max_scroll_y  # the whole log can be read
        # Only the scrollbar coming into view lays the view out; it used to be every event.
        assert len(layouts) <= 3, len(layouts)
