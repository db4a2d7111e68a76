"""Shared fixtures and helpers for the app's tests (tests/test_tui*.py).

Snapshot tests need the same pixels on every run and every machine, so the town they show is
built here with a fixed clock, fixed ids (bead, mail and convoy ids are normally random) and
no temporary paths in anything the app displays; the time zone is UTC; the file watcher, the
polecat poller and the live preview are off (`watch=False`); polecats come from a fixed list
instead of tmux.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import random
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, TextArea

from gastown_tui.town.clock import FakeClock
from gastown_tui.town.town import Town
from gastown_tui.tui.app import GasTownApp, make_app
from gastown_tui.views.actions import TownData
from gastown_tui.views.rows import HookedBead, PolecatRow

START = 1_795_000_000.0  # 2026-11-18 11:06:40 UTC
SNAP_ROOT = "/srv/gastown"
# Workers that run as long as the app (watcher, pollers, supervisor and its patrols).
LIVE_GROUPS = (
    "watch",
    "observe",
    "preview",
    "supervisor",
    "witness",
    "refinery",
    "deacon",
    "dogs",
)  # what tmp paths read as in the events a snapshot shows


@pytest.fixture
def anyio_backend() -> str:
    """Pilot tests are async: run them on asyncio (anyio's pytest plugin), as Textual does."""
    return "asyncio"


@pytest.fixture
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The feed and mail show local times: make them the same everywhere."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@contextlib.contextmanager
def fixed_ids(seed: int = 7) -> Iterator[None]:
    """Deterministic bead, mail and convoy ids while a test town is built: every module that
    draws random ids gets a seeded `random_suffix` and a counting `new_message_id`."""
    import importlib

    rng = random.Random(seed)
    counter = itertools.count(1)

    def suffix(length: int = 5) -> str:
        return "".join(rng.choice("0123456789abcdefghijklmnopqrstuvwxyz") for _ in range(length))

    patches = {"random_suffix": suffix, "new_message_id": lambda: f"msg-{next(counter):010d}"}
    saved: list[tuple[Any, str, Any]] = []
    for name in ("ids", "convoys", "mail", "work", "beads"):
        module = importlib.import_module(f"gastown_tui.town.{name}")
        for attr, value in patches.items():
            if hasattr(module, attr):
                saved.append((module, attr, getattr(module, attr)))
                setattr(module, attr, value)
    try:
        yield
    finally:
        for module, attr, value in saved:
            setattr(module, attr, value)


def _strip_paths(town: Town, tmp: Path) -> None:
    """Events like rig.added carry the folder they came from: show a fixed one instead."""
    path = town.paths.events
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace(str(tmp), SNAP_ROOT), encoding="utf-8")


def build_snapshot_town(tmp: Path) -> Town:
    """Two rigs, polecat identities, ready and blocked beads (one needs a human), convoys in
    flight and landed, mail of every kind for the overseer. Every value is fixed."""
    clock = FakeClock(START - 3 * 3600)
    with fixed_ids():
        town = Town.init(tmp / "town", name="bartertown", runtime="demo", clock=clock)
        for rig, prefix in (("war-rig", "wr"), ("citadel", "cit")):
            folder = tmp / f"{rig}-src"
            folder.mkdir()
            town.rigs.add(rig, str(folder), prefix=prefix, no_git=True)
        clock.advance(60)
        beads = {}
        specs = [
            ("json", "war-rig", "Add --json output to the status command", 1, ["cli"], []),
            ("crash", "war-rig", "Fix the crash on an empty config file", 0, ["bug"], []),
            ("man", "war-rig", "Write a man page for warrig", 2, ["docs"], []),
            ("cache", "war-rig", "Cache the fuel gauge readings", 2, [], ["crash"]),
            ("plugin", "war-rig", "Decide on a plugin API", 1, ["needs-human"], []),
            ("slit", "war-rig", "Cache the water readings", 2, [], []),
            ("links", "citadel", "Fix the broken links in the FAQ", 1, ["docs"], []),
            ("dark", "citadel", "Add a dark mode toggle to the site", 2, ["ui"], []),
            ("water", "citadel", "Write the water rights page", 2, [], []),
            ("sched", "citadel", "Publish the convoy schedule", 2, [], ["water"]),
        ]
        for key, rig, title, priority, labels, blocked in specs:
            clock.advance(30)
            bead = town.beads.create(
                title,
                rig=rig,
                priority=priority,
                labels=labels,
                deps=[(beads[b], "blocks") for b in blocked],
                description=f"What needs doing: {title.lower()}.",
                actor="mayor",
            )
            beads[key] = bead.id
        # Polecat identities, and hooks: the hooked work is the bead assigned to a polecat.
        for rig, names in (
            ("war-rig", ["furiosa", "nux", "slit", "toast"]),
            ("citadel", ["capable"]),
        ):
            with town.beads.rig_txn(rig) as tx:
                for name in names:
                    tx.put_polecat({"name": name, "rig": rig, "state": "idle", "runtime": "demo"})
        clock.advance(60)
        hooks = (
            ("json", "war-rig/furiosa"),
            ("man", "war-rig/nux"),
            ("slit", "war-rig/slit"),
            ("links", "citadel/capable"),
        )
        for key, address in hooks:
            town.beads.update(beads[key], assignee=address, status="hooked", actor="overseer")
        town.convoys.create("Fury Road release", [beads["json"], beads["links"], beads["man"]])
        clock.advance(30)
        landed = town.convoys.create("Water for the wretched", [beads["water"]])
        town.beads.close(beads["water"], "done", actor="citadel/capable")
        clock.advance(600)
        mails = [
            (
                "mayor",
                "Welcome to Bartertown",
                "Two rigs, five polecats. Try `s` to sling.",
                "notification",
                "normal",
            ),
            (
                "war-rig/witness",
                "ESCALATION: war-rig/slit keeps crashing",
                "Restarted 5 times in 15 min.\nBead returned to ready.",
                "escalation",
                "high",
            ),
            (
                "war-rig/refinery",
                "MERGE_FAILED wr-crash",
                "Rebase conflict in warrig/cli.py.",
                "notification",
                "normal",
            ),
            ("citadel/capable", "POLECAT_DONE links", "All links fixed.", "notification", "normal"),
            ("deacon", "Deacon's report", "Both rigs are healthy.", "notification", "low"),
        ]
        for sender, subject, body, kind, priority in mails:
            clock.advance(120)
            town.mail.send(["overseer"], subject, body, sender=sender, type=kind, priority=priority)
        first = town.mail.inbox("overseer")[-1]
        town.mail.mark_read(first.id, "overseer")
        clock.advance(300)
        del landed
    _strip_paths(town, tmp)
    return town


# How each polecat of the snapshot town looks to observe(): state, seconds since activity, pane.
SNAPSHOT_STATES = {
    "war-rig/furiosa": ("working", 12, "%1", ""),
    "war-rig/nux": ("waiting", 95, "%2", "waiting for a person: gt attach war-rig/nux"),
    "war-rig/slit": ("zombie", 2000, None, "no window: restart with `gt sling --force`"),
    "war-rig/toast": ("idle", 400, "%4", ""),
    "citadel/capable": ("stalled", 1200, "%5", ""),
}


def snapshot_polecats(town: Town) -> list[PolecatRow]:
    """The town's polecats with their real hooks, in every state that matters."""
    now = town.clock.now()
    rows = []
    for polecat, bead in town.polecats.list_with_hooks():
        state, quiet, pane, detail = SNAPSHOT_STATES.get(polecat.address, ("idle", 60, None, ""))
        rows.append(
            PolecatRow(
                polecat.address,
                polecat.rig,
                polecat.name,
                state,
                "demo",
                HookedBead(bead.id, bead.title, bead.status) if bead else None,
                pane is not None,
                pane is not None,
                pane,
                now - quiet,
                detail,
            )
        )
    return rows


PANE_TEXT = (
    "\x1b[1;33mDEMO AGENT\x1b[0m war-rig/furiosa\n"
    "[1/6] reading the hook: \x1b[36mAdd --json output to the status command\x1b[0m\n"
    "[2/6] planning the change\n"
    "[3/6] writing notes/status-json.md\n"
    "\x1b[32m✔\x1b[0m wrote 14 lines\n"
    "[4/6] committing on polecat/furiosa\n"
)


def fake_capture(_pane: str, _lines: int) -> str:
    return PANE_TEXT


def snapshot_app(
    town: Town,
    *,
    layout: str = "default",
    theme: str | None = None,
    polecats: list[PolecatRow] | None = None,
) -> GasTownApp:
    """An app for snap_compare: fixed data, nothing live, no animation."""
    rows = snapshot_polecats(town) if polecats is None else polecats
    data = TownData(town, None, observe=lambda: rows, capture=fake_capture)
    app = make_app(town, watch=False, layout=layout, theme=theme, data=data)
    app.animation_level = "none"
    return app


async def settle(pilot: Pilot[Any], timeout: float = 10.0) -> None:
    """Wait until the app has loaded everything and drawn it; stop cursors blinking."""
    app = pilot.app
    deadline = time.monotonic() + timeout
    while not getattr(app, "loaded", True):
        _raise_app_error(app)
        if time.monotonic() > deadline:
            raise AssertionError("the app did not load its data in time")
        await pilot.pause(0.02)
    # Every key typed has been handled (the app hands keys on one at a time: tui/keys.py).
    while not getattr(getattr(app, "held_keys", None), "idle", True):
        _raise_app_error(app)
        if time.monotonic() > deadline:
            raise AssertionError("the app did not handle the keys in time")
        await pilot.pause(0.01)
    # The watcher, the polecat poller and the preview loop run until the app ends.
    while any(not w.is_finished for w in app.workers if w.group not in LIVE_GROUPS):
        _raise_app_error(app)
        if time.monotonic() > deadline:
            raise AssertionError("the app's workers did not finish in time")
        await pilot.pause(0.02)
    await pilot.pause()
    for widget in app.screen.query("Input, TextArea"):
        if isinstance(widget, Input | TextArea):
            widget.cursor_blink = False
        if isinstance(widget, TextArea):
            # TextArea's line cache key leaves out focus once blinking is off, so a line drawn
            # in the blink's "off" half (a slow run) would be reused without its cursor.
            widget.notify_style_update()
            widget.refresh()
    await pilot.pause()
    _raise_app_error(app)


def _raise_app_error(app: Any) -> None:
    # A snapshot of an app that crashed would still be a picture: fail loudly instead.
    error = getattr(app, "_exception", None)
    if error is not None:
        raise AssertionError(f"the app raised {error!r}") from error


async def wait_for(
    pilot: Pilot[Any], probe: Callable[[], Any], timeout: float = 10.0, what: str = "condition"
) -> Any:
    """Let the app run until `probe()` is truthy (checked between its message batches)."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await pilot.pause(0.05)


def run_before(*steps: Callable[[Pilot[Any]], Any] | str) -> Callable[[Pilot[Any]], Any]:
    """A snap_compare `run_before`: settle, then run steps (key names or callables),
    settling after each."""

    async def run(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        for step in steps:
            if isinstance(step, str):
                await pilot.press(step)
            else:
                result = step(pilot)
                if asyncio.iscoroutine(result):
                    await result
            await settle(pilot)

    return run


def tmux_env() -> dict[str, str]:
    """Environment for tests that start agents: no user tmux.conf, a fast demo agent."""
    return {"GT_TMUX_CONF": os.devnull, "GT_DEMO_STEP": "0.05"}
