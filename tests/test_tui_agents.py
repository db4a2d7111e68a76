"""The app with real agents: slinging from the dialog starts a polecat in a window of a
throwaway tmux server (the test town's own socket), the preview shows that window, a nudge
reaches it, and attach explains itself where the terminal cannot be handed over."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from gastown_tui.dispatch.sling import sling
from gastown_tui.tmux import TownTmux
from gastown_tui.town.town import Town
from gastown_tui.tui.app import GasTownApp, make_app
from gastown_tui.tui.screens.nudge import NudgeScreen
from gastown_tui.tui.screens.sling import SlingScreen
from gastown_tui.tui.widgets.rigs import NodeRef
from tests import polecat_fixtures as pf
from tests.polecat_fixtures import assert_received
from tests.tmux_helpers import real_tmux
from tests.tui_fixtures import anyio_backend, settle, wait_for

polecat_env, tmux, reader = pf.polecat_env, pf.tmux, pf.reader
__all__ = ["anyio_backend", "polecat_env", "reader", "tmux"]

pytestmark = [pytest.mark.anyio, pytest.mark.tmux]
SIZE = (120, 40)


def app_on(town: Town, tmux: TownTmux, **kwargs: Any) -> GasTownApp:
    kwargs.setdefault("watch", False)
    app = make_app(town, tmux, **kwargs)
    app.animation_level = "none"
    return app


def use_runtime(town: Town, name: str) -> None:
    toml = town.paths.town_toml
    toml.write_text(
        toml.read_text().replace('default_runtime = "claude"', f'default_runtime = "{name}"')
    )
    town.__dict__.pop("config", None)


@pytest.fixture
def listening(rig_town: Town, tmux: TownTmux, reader: Path) -> str:
    """alpha/furiosa running the reader runtime (records what is typed), READY shown."""
    bead = rig_town.beads.create("Listen for orders", rig="alpha")
    result = sling(rig_town, tmux, bead.id, "alpha", runtime="reader")
    pf.wait_until(lambda: "READY" in tmux.capture(result.pane_id), what="the reader")
    return result.address


@real_tmux
async def test_sling_new_work_from_the_dialog_starts_a_polecat(
    rig_town: Town, tmux: TownTmux, reader: Path
) -> None:
    use_runtime(rig_town, "reader")
    app = app_on(rig_town, tmux, watch=True)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("s")
        await pilot.pause()
        assert isinstance(app.screen, SlingScreen)
        await pilot.press(*[{" ": "space"}.get(c, c) for c in "Oil the engine"])
        await pilot.press("enter")  # enter in the search box slings
        await wait_for(pilot, lambda: not isinstance(app.screen, SlingScreen), timeout=30, what="s")
        hooked = rig_town.beads.list(statuses=("hooked",))
        assert [b.title for b in hooked] == ["Oil the engine"]
        address = hooked[0].assignee
        assert address and address.startswith("alpha/")
        window = tmux.find_window("gt-alpha", address.split("/", 1)[1])
        assert window is not None and not window.pane_dead
        # The watcher and the poller bring the new polecat into the Rigs tree on their own.
        await wait_for(
            pilot,
            lambda: any(p.address == address and p.hook for p in app.polecats),
            timeout=10,
            what="the polecat in the tree",
        )


@real_tmux
async def test_a_searched_bead_is_slung_not_the_search_words(
    rig_town: Town, tmux: TownTmux, reader: Path
) -> None:
    use_runtime(rig_town, "reader")
    bead = rig_town.beads.create("Refactor the engine loop", rig="alpha")
    app = app_on(rig_town, tmux)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("s")
        await pilot.pause()
        await pilot.press(*"refactor")
        await pilot.press("enter")  # to the matches, first one highlighted
        await pilot.press("ctrl+s")  # sling what is highlighted
        await wait_for(pilot, lambda: not isinstance(app.screen, SlingScreen), timeout=30, what="s")
    assert rig_town.beads.get(bead.id).status == "hooked"
    assert [b.title for b in rig_town.beads.list()] == ["Refactor the engine loop"]


@real_tmux
async def test_preview_nudge_and_attach(
    rig_town: Town, tmux: TownTmux, reader: Path, listening: str
) -> None:
    app = app_on(rig_town, tmux)
    notes: list[str] = []
    original = app.notify

    def notify(message: str, *args: Any, **kwargs: Any) -> None:
        notes.append(message)
        original(message, *args, **kwargs)

    app.notify = notify  # type: ignore[method-assign]
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        tree = app.rigs_pane.tree
        while tree.cursor_ref() != NodeRef("polecat", listening):
            await pilot.press("down")
        await settle(pilot)
        # The preview shows the agent's own window.
        await wait_for(
            pilot,
            lambda: "READY" in str(app.preview_pane.text_widget.render()),
            what="the pane in the preview",
        )
        # Nudge: the line reaches the program in the window, and the app says so.
        await pilot.press("n")
        await pilot.pause()
        assert isinstance(app.screen, NudgeScreen)
        await pilot.press(*"check_the_oil")
        await pilot.press("enter")
        await wait_for(pilot, lambda: not isinstance(app.screen, NudgeScreen), timeout=20, what="n")
        await wait_for(
            pilot, lambda: any(f"delivered to {listening}" in n for n in notes), what="the note"
        )
        assert_received(reader, ["check_the_oil"])
        # Attach: a headless app cannot hand its terminal to tmux; it says how to attach.
        await pilot.press("a")
        await wait_for(
            pilot, lambda: any("cannot hand over" in n for n in notes), timeout=10, what="a"
        )
        assert any("attach-session" in n for n in notes)
        assert app.is_running and not app.suspended


@real_tmux
async def test_nudge_to_a_dead_agent_is_reported_failed(
    rig_town: Town, tmux: TownTmux, reader: Path, listening: str
) -> None:
    window = tmux.find_window("gt-alpha", listening.split("/", 1)[1])
    assert window is not None
    tmux.run("kill-pane", "-t", window.pane_id)  # the agent dies; its hook stays
    app = app_on(rig_town, tmux)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        pole = await wait_for(pilot, lambda: app.polecat(listening), what="the polecat")
        assert pole.state == "zombie"
        app.rigs_pane.select_polecat(listening)
        await pilot.pause()
        await pilot.press("n")
        await pilot.pause()
        assert isinstance(app.screen, NudgeScreen)
        await pilot.press(*"anyone_there")
        await pilot.press("enter")
        error = await wait_for(
            pilot,
            lambda: (
                "not delivered" in str(app.screen.query_one(".form-error").render())
                and str(app.screen.query_one(".form-error").render())
            ),
            timeout=15,
            what="the failure",
        )
        assert "no window" in error or "dead" in error
        assert isinstance(app.screen, NudgeScreen)  # stays open: nothing was delivered


@real_tmux
async def test_the_app_supervises_when_the_lease_is_free(rig_town: Town, tmux: TownTmux) -> None:
    from gastown_tui.supervise.lease import SupervisorLease, current_holder

    daemon = SupervisorLease(rig_town, "daemon")
    assert daemon.try_acquire()  # someone else supervises first: the app is a viewer
    app = app_on(rig_town, tmux, supervise=True)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        status = app.town_screen.query_one("#status-supervisor")
        await wait_for(
            pilot, lambda: "viewer: supervised by daemon" in str(status.render()), what="viewer"
        )
        daemon.release()  # the daemon stops: the app takes over within a tick
        await wait_for(
            pilot,
            lambda: "supervised by this app" in str(status.render()),
            timeout=10,
            what="the app to take over",
        )
        holder = current_holder(rig_town)
        assert holder is not None and holder.kind == "app" and holder.pid == os.getpid()
        # The patrols run as workers of their own groups and report through the lease.
        await wait_for(
            pilot,
            lambda: (
                app._supervisor is not None
                and all(p.last is not None for p in app._supervisor.patrols())
            ),
            timeout=20,
            what="every patrol to run once",
        )
    # Quitting frees the town for `gt daemon` (the worker lets go at its next tick).
    pf.wait_until(lambda: current_holder(rig_town) is None, timeout=5, what="the lease")


@real_tmux
async def test_the_nudge_dialog_on_a_waiting_agent_shows_the_question_and_answers_it(
    rig_town: Town, tmux: TownTmux, tmp_path: Path
) -> None:
    import sys

    from gastown_tui.dispatch.observe import observe

    panes = Path(__file__).parent / "data" / "panes"
    record = tmp_path / "typed.bin"
    record.write_bytes(b"")
    program = Path(__file__).parent / "procs" / "prompt_program.py"
    pf.add_runtime(
        rig_town,
        "asker",
        [sys.executable, str(program), str(panes / "claude_permission.txt"), str(record)],
        base="claude",
        prompt="none",
        exe="python",
    )
    pf.set_town_env(rig_town, IS_SANDBOX="1")
    bead = rig_town.beads.create("Clean the build", rig="alpha")
    address = sling(rig_town, tmux, bead.id, "alpha", runtime="asker").address
    pf.wait_until(lambda: any(v.state == "waiting" for v in observe(rig_town, tmux)), what="w")
    app = app_on(rig_town, tmux)
    notes: list[str] = []
    original = app.notify

    def notify(message: str, *args: Any, **kwargs: Any) -> None:
        notes.append(message)
        original(message, *args, **kwargs)

    app.notify = notify  # type: ignore[method-assign]
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        pole = await wait_for(
            pilot,
            lambda: (p := app.polecat(address)) and p.state == "waiting" and p,
            what="the waiting polecat",
        )
        assert pole.prompt is not None
        app.rigs_pane.select_polecat(address)
        await pilot.pause()
        await pilot.press("n")
        await pilot.pause()
        assert isinstance(app.screen, NudgeScreen)
        shown = str(app.screen.query_one("#nudge-question").render())
        assert "Do you want to proceed?" in shown
        choices = [str(c.render()) for c in app.screen.query(".nudge-choice")]
        assert len(choices) == 3 and "1. Yes" in choices[0]
        await pilot.press("2", "enter")
        await wait_for(pilot, lambda: not isinstance(app.screen, NudgeScreen), timeout=20, what="a")
        await wait_for(pilot, lambda: any("answered" in n for n in notes), what="the note")
    assert record.read_bytes() == b"2"  # exactly the choice, no Enter after it
