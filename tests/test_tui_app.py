"""Pilot tests of the app: workflows driven by keys, checked against the town's store."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Input, Select

from gastown_tui.town.clock import FakeClock
from gastown_tui.town.interop import import_beads
from gastown_tui.town.models import Event
from gastown_tui.town.town import Town
from gastown_tui.tui.app import GasTownApp, make_app
from gastown_tui.tui.messages import EventsAppended
from gastown_tui.tui.screens.base import ConfirmScreen
from gastown_tui.tui.screens.bead import BeadScreen
from gastown_tui.tui.screens.convoy import ConvoyCreateScreen
from gastown_tui.tui.screens.feed_filter import FilterScreen
from gastown_tui.tui.screens.help import HelpScreen
from gastown_tui.tui.screens.mail import ComposeScreen, InboxScreen, ReadScreen, ReplyScreen
from gastown_tui.tui.screens.problems import ProblemsScreen
from gastown_tui.tui.screens.sling import SlingScreen
from gastown_tui.tui.widgets.feed import MAX_KEPT
from gastown_tui.tui.widgets.rigs import NodeRef
from gastown_tui.views.actions import TownData
from gastown_tui.views.rows import OVERSEER, HookedBead, PolecatRow
from tests.conftest import BEADS_DATA, snapshot_files
from tests.tui_fixtures import anyio_backend, settle, utc, wait_for

__all__ = ["anyio_backend", "utc"]  # fixtures, used by name

pytestmark = pytest.mark.anyio

SIZE = (120, 40)


# -- towns -------------------------------------------------------------------------------------
@pytest.fixture
def two_rig_town(tmp_path: Path) -> Town:
    """Rigs alpha and beta (plain folders), polecat identities, ready beads, mail."""
    town = Town.init(tmp_path / "town", name="testtown", clock=FakeClock())
    for rig, prefix in (("alpha", "al"), ("beta", "be")):
        folder = tmp_path / rig
        folder.mkdir()
        town.rigs.add(rig, str(folder), prefix=prefix, no_git=True)
        with town.beads.rig_txn(rig) as tx:
            tx.put_polecat({"name": "furiosa", "rig": rig, "state": "idle", "runtime": "demo"})
    for title in ("Fix the login bug", "Write the docs", "Tune the engine"):
        town.beads.create(title, rig="alpha")
    town.beads.create("Paint the rig", rig="beta")
    town.mail.send(["overseer"], "Welcome", "Hello from the mayor.", sender="mayor")
    return town


def app_for(town: Town, **kwargs: Any) -> GasTownApp:
    """The app without tmux (deterministic polecats from the store), watcher off."""
    data = kwargs.pop("data", None) or TownData(town, None)
    kwargs.setdefault("watch", False)
    app = make_app(town, data=data, **kwargs)
    app.animation_level = "none"
    return app


def record_notifications(app: GasTownApp) -> list[tuple[str, str]]:
    seen: list[tuple[str, str]] = []
    original = app.notify

    def notify(message: str, *args: Any, **kwargs: Any) -> None:
        seen.append((message, str(kwargs.get("severity", "information"))))
        original(message, *args, **kwargs)

    app.notify = notify  # type: ignore[method-assign]
    return seen


async def type_text(pilot: Any, text: str) -> None:
    await pilot.press(*[{" ": "space"}.get(c, c) for c in text])


# -- opening -----------------------------------------------------------------------------------
async def test_opens_on_imported_beads_and_lists_open_ones(tmp_path: Path) -> None:
    town = Town.init(tmp_path / "town", name="imported")
    folder = tmp_path / "gastown"
    folder.mkdir()
    town.rigs.add("gastown", str(folder), prefix="gt", no_git=True)
    import_beads(town, BEADS_DATA, rig="gastown")
    open_beads = town.beads.list(rig="gastown")
    ready = town.beads.ready("gastown")
    assert open_beads and ready

    app = app_for(town)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        rig = app.rigs_snapshot.rigs[0]
        assert rig.open_count == len(open_beads)
        assert {b.id for b in app.rigs_snapshot.open_beads} == {b.id for b in open_beads}
        tree = app.rigs_pane.tree
        shown = {str(n.label) for n in _nodes(tree.root)}
        assert any(f"{len(open_beads)} open" in label for label in shown)
        bead_nodes = {n.data.key for n in _nodes(tree.root) if n.data and n.data.kind == "bead"}
        assert bead_nodes == {b.id for b in ready}
        # Every open bead is one palette search away.
        from gastown_tui.tui.commands import BeadsProvider

        provider = BeadsProvider(app.screen)
        texts = [text for text, _, _ in provider.commands()]
        assert all(any(b.id in t for t in texts) for b in open_beads)


def _nodes(node: Any) -> list[Any]:
    out = []
    for child in node.children:
        out.append(child)
        out.extend(_nodes(child))
    return out


async def test_small_terminal_shows_a_message(two_rig_town: Town) -> None:
    app = app_for(two_rig_town)
    async with app.run_test(size=(60, 20)) as pilot:
        await settle(pilot)
        screen = app.town_screen
        assert screen.has_class("-too-small")
        message = str(screen.query_one("#too-small").render())
        assert "needs at least 80x24, now 60x20" in message
        assert not screen.query_one("#town").display
        await pilot.resize_terminal(100, 30)
        await pilot.pause()
        assert not screen.has_class("-too-small")
        assert screen.query_one("#town").display


async def test_layouts_cycle_with_L(two_rig_town: Town) -> None:
    app = app_for(two_rig_town)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.town_screen.has_class("layout-default")
        seen = []
        for _ in range(3):
            await pilot.press("L")
            await pilot.pause()
            seen.append(app.layout_name)
            assert app.town_screen.has_class(f"layout-{app.layout_name}")
        assert seen == ["compact", "focus", "default"]


async def test_compact_layout_reaches_every_pane(two_rig_town: Town) -> None:
    app = app_for(two_rig_town, layout="compact")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        for key, pane in zip("12345", ("rigs", "convoys", "mail", "feed", "preview"), strict=True):
            await pilot.press(key)
            await pilot.pause()
            shown = [p.id for p in app.town_screen.query(".pane") if p.display]
            assert shown == [pane]
            assert app.active_pane == pane


# -- themes and keymap -------------------------------------------------------------------------
async def test_bad_theme_files_are_reported_in_one_notification(two_rig_town: Town) -> None:
    folder = two_rig_town.root / "themes"
    folder.mkdir()
    (folder / "broken.toml").write_text('name = "broken"\nprimary = "not-a-colour"\n')
    (folder / "garbled.toml").write_text("name = [unterminated\n")
    (folder / "extra.toml").write_text('name = "extra"\nprimary = "#336699"\ndark = false\n')
    app = app_for(two_rig_town)
    seen = record_notifications(app)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        warnings = [m for m, severity in seen if severity == "warning"]
        assert len(warnings) == 1
        assert "broken.toml" in warnings[0] and "garbled.toml" in warnings[0]
        assert "not-a-colour" in warnings[0]
        assert app.theme == "wasteland"
        assert "extra" in app.available_themes  # the good file of the same folder loaded


async def test_unknown_theme_falls_back_to_the_default(two_rig_town: Town) -> None:
    app = app_for(two_rig_town, theme="no-such-theme")
    seen = record_notifications(app)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.theme == "wasteland"
        assert any("no-such-theme" in m for m, _ in seen)


async def test_theme_picker_switches_and_escape_restores(two_rig_town: Town) -> None:
    app = app_for(two_rig_town)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("t")
        await pilot.pause()
        await pilot.press("down")  # previews the next theme
        await pilot.pause()
        assert app.theme != "wasteland"
        await pilot.press("escape")
        await pilot.pause()
        assert app.theme == "wasteland"
        await pilot.press("t", "down", "enter")
        await pilot.pause()
        assert app.theme == "high-octane"


async def test_keymap_from_town_toml_remaps_keys(two_rig_town: Town) -> None:
    toml = two_rig_town.paths.town_toml
    toml.write_text(toml.read_text() + '\n[keymap]\nproblems = "x"\nsling = "ctrl+g"\n')
    two_rig_town.__dict__.pop("config", None)
    app = app_for(two_rig_town)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("p")
        await pilot.pause()
        assert not isinstance(app.screen, ProblemsScreen)
        await pilot.press("x")
        await pilot.pause()
        assert isinstance(app.screen, ProblemsScreen)
        await pilot.press("escape")
        await pilot.press("ctrl+g")
        await pilot.pause()
        assert isinstance(app.screen, SlingScreen)
        await pilot.press("escape")
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        keys = {k.binding_id: k.key for k in app.screen.keys}
        assert keys["problems"] == "x"
        assert keys["sling"] == "^g"


async def test_keymap_edits_apply_while_the_app_runs(two_rig_town: Town) -> None:
    app = app_for(two_rig_town, watch=True)
    seen = record_notifications(app)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.pause(0.3)  # the watcher is up
        toml = two_rig_town.paths.town_toml
        toml.write_text(toml.read_text() + '\n[keymap]\nproblems = "x"\nbogus = "z"\n')
        await wait_for(pilot, lambda: app.applied_keymap.get("problems") == "x", what="reload")
        await wait_for(pilot, lambda: any("'bogus'" in m for m, _ in seen), what="the warning")
        await pilot.press("x")
        await pilot.pause()
        assert isinstance(app.screen, ProblemsScreen)


# -- mail --------------------------------------------------------------------------------------
async def test_compose_stores_a_message(two_rig_town: Town) -> None:
    app = app_for(two_rig_town)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("m")
        await pilot.pause()
        assert isinstance(app.screen, ComposeScreen)
        await type_text(pilot, "mayor")
        await pilot.press("enter")  # on to the subject
        await type_text(pilot, "Status please")
        await pilot.press("enter", "tab")  # subject -> priority -> body
        await type_text(pilot, "How are the rigs?")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: not isinstance(app.screen, ComposeScreen), what="send")
    inbox = two_rig_town.mail.inbox("mayor")
    assert [(m.sender, m.subject, m.body) for m in inbox] == [
        ("overseer", "Status please", "How are the rigs?")
    ]


async def test_compose_to_an_unknown_address_shows_why_and_stores_nothing(
    two_rig_town: Town,
) -> None:
    before = snapshot_files(two_rig_town.root)
    app = app_for(two_rig_town)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("m")
        await type_text(pilot, "alpha/nobody")
        await pilot.press("enter")
        await type_text(pilot, "hi")
        await pilot.press("ctrl+s")
        error = await wait_for(
            pilot,
            lambda: str(app.screen.query_one(".form-error").render()).strip(),
            what="the error",
        )
        assert "unknown address 'alpha/nobody'" in error
        assert isinstance(app.screen, ComposeScreen)
    assert snapshot_files(two_rig_town.root) == before


async def test_read_marks_read_and_reply_threads(two_rig_town: Town) -> None:
    app = app_for(two_rig_town)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("3", "enter")
        await pilot.pause()
        assert isinstance(app.screen, ReadScreen)
        original = app.screen.message
        await wait_for(
            pilot,
            lambda: two_rig_town.mail.get(original.id, OVERSEER).read,
            what="the message to be marked read",
        )
        await pilot.press("r")
        await pilot.pause()
        assert isinstance(app.screen, ReplyScreen)
        await type_text(pilot, "Thanks mayor")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: not isinstance(app.screen, ReplyScreen), what="reply")
    replies = two_rig_town.mail.inbox("mayor")
    assert len(replies) == 1
    assert replies[0].reply_to == original.id and replies[0].body == "Thanks mayor"
    assert replies[0].subject == "Re: Welcome"


async def test_switch_to_another_agents_inbox(two_rig_town: Town) -> None:
    two_rig_town.mail.send(["mayor"], "For the mayor", "x", sender="deacon")
    app = app_for(two_rig_town)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("i")
        await pilot.pause()
        assert isinstance(app.screen, InboxScreen)
        await type_text(pilot, "mayor")
        await pilot.press("enter")
        await wait_for(
            pilot,
            lambda: [m.subject for m in app.mail_pane.snapshot.messages] == ["For the mayor"],
            what="the mayor's inbox",
        )
        assert app.mail_pane.address == "mayor"
        await pilot.press("i")  # back to the overseer's
        await wait_for(pilot, lambda: app.mail_pane.address == OVERSEER, what="overseer")


# -- convoys -----------------------------------------------------------------------------------
async def test_new_convoy_tracks_the_marked_beads(two_rig_town: Town) -> None:
    ready = two_rig_town.beads.ready("alpha")
    app = app_for(two_rig_town)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        tree = app.rigs_pane.tree
        # alpha, furiosa, "ready (3)", then the beads: down to the first bead.
        while tree.cursor_ref() != NodeRef("bead", ready[0].id):
            await pilot.press("down")
        await pilot.press("space", "space")  # marks two beads (space moves down)
        assert tree.marked == {ready[0].id, ready[1].id}
        await pilot.press("c")
        await pilot.pause()
        assert isinstance(app.screen, ConvoyCreateScreen)
        await pilot.press("ctrl+a", "ctrl+k")  # start of the title, delete to its end
        await type_text(pilot, "Login and docs")
        await pilot.press("enter")
        await wait_for(pilot, lambda: not isinstance(app.screen, ConvoyCreateScreen), what="c")
        await wait_for(pilot, lambda: app.convoys.in_flight, what="the convoy to show")
        assert not tree.marked
    convoys = two_rig_town.convoys.list()
    assert [(c.title, c.beads) for c in convoys] == [("Login and docs", [ready[0].id, ready[1].id])]


# -- feed --------------------------------------------------------------------------------------
def _feed_town(town: Town) -> Town:
    docs = []
    for n in range(30):
        rig = "alpha" if n % 3 else "beta"
        docs.append(
            Event(
                f"2026-11-18T10:{n:02d}:00.000Z",
                "bead.updated",
                f"{rig}/furiosa",
                rig,
                f"x-{n}",
                f"step {n} of the {rig} work",
            ).to_dict()
        )
    town.events.append_raw(docs)
    return town


async def test_search_and_filter_narrow_the_feed(two_rig_town: Town, utc: None) -> None:
    town = _feed_town(two_rig_town)
    app = app_for(town)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        view = app.feed_pane.view
        total = view.shown
        assert total == view.kept >= 30
        await pilot.press("slash")
        await pilot.pause()
        await type_text(pilot, "beta work")
        await pilot.pause()
        found = view.visible_events()
        assert 0 < len(found) < total
        assert all("beta work" in e.msg for e in found)
        await pilot.press("enter", "escape")  # done typing, then clear
        await pilot.pause()
        assert view.shown == total

        await pilot.press("f")
        await pilot.pause()
        assert isinstance(app.screen, FilterScreen)
        rig_select = app.screen.query_one("#filter-rig", Select)
        await pilot.press("enter")  # open the rig list
        await pilot.pause()
        while rig_select.selection != "alpha":
            await pilot.press("down")
            await pilot.pause()
            if rig_select.selection is None:
                break
        await pilot.press("enter")
        await pilot.pause()
        assert rig_select.value == "alpha"
        await pilot.click("#apply")
        await pilot.pause()
        shown = view.visible_events()
        assert shown and all(e.rig == "alpha" for e in shown)
        assert len(shown) < total
        assert "rig=alpha" in str(app.feed_pane.border_subtitle)


async def test_a_burst_of_events_is_batched_and_capped(two_rig_town: Town) -> None:
    app = app_for(two_rig_town)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        view = app.feed_pane.view
        before = view.kept
        started = time.monotonic()
        for batch in range(60):
            events = [
                Event(
                    "2026-11-18T10:00:00.000Z", "test.burst", "deacon", None, None, f"{batch}-{i}"
                )
                for i in range(100)
            ]
            app.post_message(EventsAppended(events))
        await wait_for(pilot, lambda: view.kept == MAX_KEPT, what="the burst")
        elapsed = time.monotonic() - started
        assert elapsed < 5, f"6000 events took {elapsed:.1f}s"
        assert before < MAX_KEPT
        newest = view.visible_events()[0]
        assert newest.msg == "59-99"
        # Still answering keys.
        await pilot.press("p")
        await pilot.pause()
        assert isinstance(app.screen, ProblemsScreen)


async def test_event_from_another_process_appears_without_a_key(two_rig_town: Town) -> None:
    app = app_for(two_rig_town, watch=True)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.pause(0.3)  # the watcher is up
        code = (
            "import sys; from gastown_tui.town.town import Town; "
            "Town.open(sys.argv[1]).events.append('test.ping', actor='beta/furiosa', "
            "rig='beta', msg='hello from another process')"
        )
        subprocess.run([sys.executable, "-c", code, str(two_rig_town.root)], check=True)
        view = app.feed_pane.view
        event = await wait_for(
            pilot,
            lambda: next((e for e in view.visible_events() if e.type == "test.ping"), None),
            timeout=10,
            what="the event in the feed",
        )
        assert event.msg == "hello from another process"
        assert view.visible_events()[0] is event  # newest first


async def test_store_change_by_another_process_refreshes_the_panes(two_rig_town: Town) -> None:
    app = app_for(two_rig_town, watch=True)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.pause(0.3)
        code = (
            "import sys; from gastown_tui.town.town import Town; t = Town.open(sys.argv[1]); "
            "t.beads.create('Made elsewhere', rig='beta'); "
            "t.mail.send(['overseer'], 'From outside', 'hi', sender='deacon')"
        )
        subprocess.run([sys.executable, "-c", code, str(two_rig_town.root)], check=True)
        await wait_for(
            pilot,
            lambda: any(b.title == "Made elsewhere" for b in app.rigs_snapshot.ready),
            what="the new bead",
        )
        await wait_for(
            pilot,
            lambda: any(m.subject == "From outside" for m in app.overseer_mail.messages),
            what="the new mail",
        )


async def test_a_store_change_is_loaded_while_many_thread_workers_wait(
    two_rig_town: Town,
) -> None:
    """Thread workers share the event loop's executor with the watcher, the observer and the
    supervisor, which run for the app's life: slow patrols, previews and reviews waiting at
    once must not leave the loaders without a thread (tui/app.py WORKER_THREADS)."""
    app = app_for(two_rig_town, watch=True)
    release = threading.Event()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.pause(0.3)  # the watcher is up
        for n in range(8):  # more than asyncio's own pool has threads on a small machine
            app.run_worker(release.wait, thread=True, group=f"slow-{n}", exit_on_error=False)
        try:
            bead = two_rig_town.beads.create("Made while busy", rig="beta")
            await wait_for(
                pilot,
                lambda: any(b.id == bead.id for b in app.rigs_snapshot.ready),
                timeout=10,
                what="the new bead, with eight thread workers waiting",
            )
        finally:
            release.set()


# -- sling (input checks; real slings are in test_tui_agents.py) -------------------------------
async def test_sling_without_text_shows_why_and_changes_nothing(two_rig_town: Town) -> None:
    before = snapshot_files(two_rig_town.root)
    app = app_for(two_rig_town)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("s")
        await pilot.pause()
        assert isinstance(app.screen, SlingScreen)
        target = app.screen.query_one("#sling-target", Input)
        target.value = ""
        await pilot.press("ctrl+s")
        error = await wait_for(
            pilot,
            lambda: str(app.screen.query_one(".form-error").render()).strip(),
            what="the error",
        )
        assert "pick a ready bead or type what needs doing" in error
        assert isinstance(app.screen, SlingScreen)
    assert snapshot_files(two_rig_town.root) == before


async def test_sling_dialog_in_a_town_without_rigs_says_so(tmp_path: Path) -> None:
    town = Town.init(tmp_path / "empty", name="empty")
    app = app_for(town)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("s")
        await pilot.pause()
        error = str(app.screen.query_one(".form-error").render())
        assert "no rigs yet" in error
        assert app.screen.query_one("#sling").disabled


async def test_sling_prefills_the_bead_under_the_cursor(two_rig_town: Town) -> None:
    ready = two_rig_town.beads.ready("alpha")
    app = app_for(two_rig_town)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        while app.rigs_pane.tree.cursor_ref() != NodeRef("bead", ready[1].id):
            await pilot.press("down")
        await pilot.press("enter")  # enter on a ready bead opens it; `s` there slings it
        await wait_for(pilot, lambda: isinstance(app.screen, BeadScreen), what="the bead")
        assert app.screen.bead["id"] == ready[1].id
        await pilot.press("s")
        await wait_for(pilot, lambda: isinstance(app.screen, SlingScreen), what="the sling")
        assert isinstance(app.screen, SlingScreen)
        assert app.screen.picked is not None and app.screen.picked.id == ready[1].id
        assert app.screen.query_one("#sling-rig", Select).value == "alpha"


# -- problems, help, quit, palette -------------------------------------------------------------
def _fixed_polecats() -> list[PolecatRow]:
    return [
        PolecatRow("alpha/furiosa", "alpha", "furiosa", "working", hook=HookedBead("al-1", "a")),
        PolecatRow("beta/furiosa", "beta", "furiosa", "waiting", hook=HookedBead("be-1", "b")),
    ]


async def test_problems_view_lists_what_needs_a_person_first(two_rig_town: Town) -> None:
    two_rig_town.mail.send(
        ["overseer"], "ESCALATION: stuck", "help", sender="alpha/witness", type="escalation"
    )
    data = TownData(two_rig_town, None, observe=_fixed_polecats)
    app = app_for(two_rig_town, data=data)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("p")
        await pilot.pause()
        assert isinstance(app.screen, ProblemsScreen)
        kinds = [p.kind for p in app.screen.problems]
        assert kinds == ["waiting", "escalation"]
        await pilot.press("down", "enter")  # the escalation: read it
        await pilot.pause()
        assert isinstance(app.screen, ReadScreen)
        assert app.screen.message.subject == "ESCALATION: stuck"


async def test_nudge_and_attach_need_a_selected_polecat(two_rig_town: Town) -> None:
    data = TownData(two_rig_town, None, observe=_fixed_polecats)
    app = app_for(two_rig_town, data=data)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.check_action("nudge", ()) is False
        tree = app.rigs_pane.tree
        while tree.cursor_ref() != NodeRef("polecat", "alpha/furiosa"):
            await pilot.press("down")
        await pilot.pause()
        assert app.selected_address == "alpha/furiosa"
        assert app.check_action("nudge", ()) is True
        assert app.check_action("attach", ()) is True


async def test_attach_without_tmux_says_why(two_rig_town: Town) -> None:
    data = TownData(two_rig_town, None, observe=_fixed_polecats)
    app = app_for(two_rig_town, data=data)
    seen = record_notifications(app)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.rigs_pane.select_polecat("alpha/furiosa")
        await pilot.pause()
        await pilot.press("a")
        await wait_for(pilot, lambda: any("tmux is not installed" in m for m, _ in seen), what="n")


async def test_help_lists_the_live_keymap(two_rig_town: Town) -> None:
    app = app_for(two_rig_town)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        keys = {k.binding_id: k.key for k in app.screen.keys}
        for binding_id, key in (("sling", "s"), ("nudge", "n"), ("quit", "q"), ("layout", "L")):
            assert keys[binding_id] == key


async def test_quit_asks_and_says_agents_keep_running(two_rig_town: Town) -> None:
    app = app_for(two_rig_town)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("q")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        assert "keep running" in app.screen.text
        await pilot.press("n")
        await pilot.pause()
        assert app.is_running and not isinstance(app.screen, ConfirmScreen)
        await pilot.press("q", "y")
        await pilot.pause()
    assert app.return_code == 0


async def test_palette_runs_actions_by_name(two_rig_town: Town) -> None:
    app = app_for(two_rig_town)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+p")
        await pilot.pause()
        await type_text(pilot, "what needs you")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ProblemsScreen), what="problems")
