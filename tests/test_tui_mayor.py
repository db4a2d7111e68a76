"""The Mayor pane (tui/widgets/mayor.py) with Textual's pilot on the offline demo town: a new
user types one sentence to the DEMO MAYOR and sees beads, a convoy and working agents appear,
and opens what the mayor did from the conversation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Input, ListView

from gastown_tui.dispatch.tmuxfor import tmux_for
from gastown_tui.town.mayor import MAYOR
from gastown_tui.tui.app import make_app
from gastown_tui.tui.demo_town import build_demo_town
from gastown_tui.tui.screens.convoy import ConvoyScreen
from gastown_tui.tui.widgets.mayor import EntryItem, MayorPane
from tests.tmux_helpers import real_tmux
from tests.tui_fixtures import anyio_backend, settle, tmux_env, wait_for

__all__ = ["anyio_backend"]  # a fixture, used by name

pytestmark = [pytest.mark.anyio, pytest.mark.tmux]
GOAL = "Teach the war rig to sing on arrival"


@pytest.fixture
def demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    for key, value in tmux_env().items():
        monkeypatch.setenv(key, value)
    report = build_demo_town(tmp_path / "fury-road", start_agents=True, step_seconds=0.05)
    tmux = tmux_for(report.town)
    try:
        yield report.town, tmux
    finally:
        tmux.kill_server()
        tmux.socket_path().unlink(missing_ok=True)


@real_tmux
async def test_one_sentence_in_the_mayor_pane_makes_beads_a_convoy_and_working_agents(
    demo: Any,
) -> None:
    town, tmux = demo
    before = {b.id for b in town.beads.list(include_closed=True)}
    app = make_app(town, tmux, supervise=True)
    app.animation_level = "none"
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        pane = app.pane("mayor")
        assert isinstance(pane, MayorPane)
        await wait_for(pilot, lambda: "DEMO" in str(pane.border_subtitle), what="DEMO label")
        # Its number key puts the cursor on the input line; the sentence goes on Enter.
        await pilot.press(str(pane.number))
        await settle(pilot)
        assert app.focused is pane.query_one("#mayor-input", Input)
        await pilot.press(*GOAL, "enter")

        def made() -> list[Any]:  # the demo town's own agents make beads too: only the goal's
            fresh = town.beads.list(include_closed=True, include_archive=True)
            return [b for b in fresh if b.id not in before and GOAL[:40] in b.title]

        await wait_for(pilot, lambda: len(made()) == 4, timeout=60, what="the mayor's beads")
        listing = pane.query_one("#mayor-log", ListView)

        def items() -> list[EntryItem]:
            return list(listing.query(EntryItem))

        await wait_for(
            pilot,
            lambda: any(i.entry.who == "mayor" and "DEMO MAYOR" in i.entry.text for i in items()),
            timeout=60,
            what="the mayor's answer in the pane",
        )
        texts = [(i.entry.who, i.entry.text) for i in items()]
        assert ("you", GOAL) in texts
        new = made()
        # Its two ready beads went to polecats at once (its slings, or the deacon feeding the
        # auto convoy first) or, past max_polecats, were queued; the answer says which.
        answer = next(i.entry.text for i in items() if "DEMO MAYOR" in i.entry.text)
        ready = [b for b in new if b.title.startswith(("Sketch", "Write the tests"))]
        for bead in ready:
            assert any(f"- {bead.id}: {how}" in answer for how in ("slung", "queued", "dispatched"))

        def working() -> set[str]:  # polecats that took one of its beads (sling or dispatch)
            ids = {b.id for b in new}
            kinds = ["polecat.slung", "scheduler.dispatched"]
            return {str(e.extra["polecat"]) for e in town.events.read(types=kinds)
                    if e.bead in ids and e.extra.get("polecat")}  # fmt: skip

        # Working agents appear: the Rigs pane shows the polecats that took its beads.
        await wait_for(
            pilot,
            lambda: working() and working() <= {p.address for p in app.polecats},
            timeout=90,
            what="polecats on the mayor's beads in the app",
        )
        [convoy] = [c for c in town.convoys.list(include_landed=True) if GOAL[:20] in c.title]
        assert set(convoy.beads) == {b.id for b in new}
        assert all(e.actor == MAYOR for e in town.events.read(types=["convoy.created"])[-1:])
        # Enter on "made convoy" opens the convoy.
        index = next(n for n, i in enumerate(items()) if i.entry.link == ("convoy", convoy.id))
        listing.focus()
        listing.index = index
        await settle(pilot)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ConvoyScreen), what="the convoy")
