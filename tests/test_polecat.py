"""Polecat identities (names, allocation, resolve, status) and state classification."""

from __future__ import annotations

import os
from pathlib import Path

import orjson
import pytest

from gastown_tui.dispatch.observe import STATES, classify, observe
from gastown_tui.dispatch.sling import sling
from gastown_tui.tmux import TownTmux
from gastown_tui.town.clock import FakeClock
from gastown_tui.town.errors import GtError
from gastown_tui.town.polecats import NAME_POOL, Polecat, summary_lines
from gastown_tui.town.town import Town
from gastown_tui.town.work import complete
from tests import polecat_fixtures as pf
from tests.conftest import GtRunner, make_git_repo
from tests.polecat_fixtures import hook_without_window, wait_until
from tests.tmux_helpers import real_tmux

polecat_env, tmux, reader = pf.polecat_env, pf.tmux, pf.reader

MIN, HOUR = 60.0, 3600.0
NOW = 1_800_000_000.0


# -- classify: every state, on a fake clock ----------------------------------------------------
def state(**overrides: object) -> str:
    values: dict[str, object] = {
        "hooked": True,
        "starting": False,
        "window_exists": True,
        "pane_dead": False,
        "process_alive": True,
        "waiting": False,
        "last_activity": NOW - 10,
        "now": NOW,
        "stalled_after": 15 * MIN,
        "gupp_after": 30 * MIN,
    }
    values.update(overrides)
    return classify(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({}, "working"),
        ({"last_activity": NOW - 14 * MIN}, "working"),
        ({"last_activity": NOW - 15 * MIN}, "stalled"),
        ({"last_activity": NOW - 29 * MIN}, "stalled"),
        ({"last_activity": NOW - 30 * MIN}, "gupp"),
        ({"last_activity": None}, "gupp"),
        ({"waiting": True, "last_activity": NOW - 2 * HOUR}, "waiting"),
        ({"window_exists": False}, "zombie"),
        ({"pane_dead": True}, "zombie"),
        ({"process_alive": False}, "zombie"),
        ({"pane_dead": True, "waiting": True}, "zombie"),
        ({"starting": True, "window_exists": False}, "starting"),
        ({"hooked": False}, "idle"),
        ({"hooked": False, "window_exists": False}, "idle"),
        ({"hooked": False, "last_activity": NOW - 5 * HOUR}, "idle"),
        ({"hooked": False, "waiting": True}, "waiting"),
        ({"hooked": False, "waiting": True, "pane_dead": True}, "idle"),
    ],
)
def test_classify(overrides: dict[str, object], expected: str) -> None:
    assert expected in STATES
    assert state(**overrides) == expected


def test_classify_follows_the_clock() -> None:
    clock = FakeClock(NOW)
    last = clock.now()
    seen = []
    for _ in range(4):
        seen.append(state(last_activity=last, now=clock.now()))
        clock.advance(10 * MIN)
    assert seen == ["working", "working", "stalled", "gupp"]


# -- names and allocation ----------------------------------------------------------------------
def test_names_come_from_the_pool_then_extra_then_numbered(rig_town: Town) -> None:
    registry = rig_town.polecats
    assert registry.next_name([]) == "furiosa"
    assert registry.next_name(["furiosa"]) == "nux"
    with open(rig_town.paths.town_toml, "a") as handle:
        handle.write('\n[names]\nextra = ["glory", "Bad Name", "witness"]\n')
    rig_town.__dict__.pop("config", None)
    pool = registry.name_pool()
    assert pool[-1] == "glory" and "witness" not in pool and len(pool) == len(NAME_POOL) + 1
    assert registry.next_name(pool) == "furiosa2"
    assert registry.next_name([*pool, "furiosa2"]) == "nux2"


def test_allocate_reuses_idle_before_creating(rig_town: Town) -> None:
    first = rig_town.beads.create("one", rig="alpha")
    second = rig_town.beads.create("two", rig="alpha")
    hook_without_window(rig_town, first.id)
    complete(rig_town, "alpha/furiosa")
    with rig_town.beads.rig_txn("alpha") as tx:
        polecat, created = rig_town.polecats.allocate(tx, runtime="demo", bead_id=second.id)
    assert (polecat.name, created) == ("furiosa", False)
    with rig_town.beads.rig_txn("alpha") as tx:
        polecat, created = rig_town.polecats.allocate(
            tx, runtime="demo", bead_id=second.id, exclude=["furiosa"]
        )
    assert (polecat.name, created) == ("nux", True)
    assert polecat.starting is not None and polecat.starting["bead"] == second.id
    with rig_town.beads.rig_txn("alpha") as tx, pytest.raises(GtError, match="reserved"):
        rig_town.polecats.allocate(tx, runtime="demo", bead_id=second.id, to="witness")


def test_record_round_trip_keeps_unknown_keys() -> None:
    doc = {
        "name": "furiosa",
        "rig": "alpha",
        "state": "idle",
        "history": [{"bead": "al-1", "result": "completed", "at": "t", "commit": None}],
        "restarts": [1.0],
        "supervisor_note": "kept",
    }
    out = Polecat.from_dict(doc).to_dict()
    assert out["supervisor_note"] == "kept" and out["address"] == "alpha/furiosa"
    assert out["restarts"] == [1.0] and "starting" not in out


def test_resolve_short_and_full_names(rig_town: Town, tmp_path: Path) -> None:
    bead = rig_town.beads.create("one", rig="alpha")
    hook_without_window(rig_town, bead.id)
    registry = rig_town.polecats
    assert registry.resolve("furiosa") == "alpha/furiosa"
    assert registry.resolve(" Alpha/Furiosa ") == "alpha/furiosa"
    for bad, message in [
        ("nobody", "unknown agent"),
        ("alpha/nobody", "has no polecat 'nobody'"),
        ("beta/furiosa", "no rig 'beta'"),
        ("", "name an agent"),
    ]:
        with pytest.raises(GtError, match=message):
            registry.resolve(bad)
    rig_town.rigs.add("beta", str(make_git_repo(tmp_path / "b")), prefix="be")
    other = rig_town.beads.create("two", rig="beta")
    hook_without_window(rig_town, other.id, rig="beta")
    with pytest.raises(GtError, match="ambiguous"):
        registry.resolve("furiosa")
    assert registry.resolve("beta/furiosa") == "beta/furiosa"


def test_status_summary_is_stored_state_only(rig_town: Town) -> None:
    one = rig_town.beads.create("one", rig="alpha")
    hook_without_window(rig_town, one.id)
    summary = rig_town.polecats.status_summary()
    assert summary["by_state"] == {"no_window": 1}
    assert summary["polecats"] == [
        {"address": "alpha/furiosa", "state": "no_window", "bead": one.id, "window": None}
    ]
    assert summary["no_window"] == [
        {
            "address": "alpha/furiosa",
            "bead": one.id,
            "hint": f"no window: restart with `gt sling --force {one.id}`",
        }
    ]
    assert any("gt sling --force" in line for line in summary_lines(summary))
    complete(rig_town, "alpha/furiosa")
    summary = rig_town.polecats.status_summary()
    assert summary["by_state"] == {"idle": 1} and summary["no_window"] == []


# -- observe and gt polecat list on real tmux --------------------------------------------------
@real_tmux
def test_observe_states_and_activity(rig_town: Town, tmux: TownTmux, reader: Path) -> None:
    bead = rig_town.beads.create("watch me", rig="alpha")
    result = sling(rig_town, tmux, bead.id, "alpha", runtime="reader")
    wait_until(lambda: "READY" in tmux.capture(result.pane_id), what="the reader")
    now = rig_town.clock.now()
    [view] = observe(rig_town, tmux, now=now)
    assert view.state == "working" and view.window is not None and view.window.alive
    assert view.hook is not None and view.hook.id == bead.id and view.alive
    activity = rig_town.paths.runtime / "activity" / "alpha~furiosa.json"
    recorded = orjson.loads(activity.read_bytes())
    assert recorded["agent"] == "alpha/furiosa" and recorded["digest"]
    # Nothing moves: later observations see the same digest and age the agent.
    [later] = observe(rig_town, tmux, now=now + 16 * MIN)
    assert later.state == "stalled"
    [much_later] = observe(rig_town, tmux, now=now + 31 * MIN)
    assert much_later.state == "gupp"
    # A gt call from the agent (its heartbeat) counts as activity.
    rig_town.touch_heartbeat("alpha/furiosa")
    hb = rig_town.paths.heartbeat("alpha/furiosa")
    os.utime(hb, (now + 30 * MIN, now + 30 * MIN))
    [woke] = observe(rig_town, tmux, now=now + 31 * MIN)
    assert woke.state == "working"
    # The pane prints: that is activity too.
    tmux.send_literal(result.pane_id, "hello")
    tmux.send_enter(result.pane_id)
    wait_until(lambda: "got hello" in tmux.capture(result.pane_id), what="output")
    [moved] = observe(rig_town, tmux, now=now + 45 * MIN)
    assert moved.state == "working" and moved.last_activity == now + 45 * MIN


@real_tmux
def test_observe_waiting_and_zombie(rig_town: Town, tmux: TownTmux, reader: Path) -> None:
    bead = rig_town.beads.create("ask", rig="alpha")
    result = sling(rig_town, tmux, bead.id, "alpha", runtime="reader")
    wait_until(lambda: "READY" in tmux.capture(result.pane_id), what="the reader")
    tmux.run("send-keys", "-t", result.pane_id, "-R")  # clean screen, then show a question
    tmux.send_literal(result.pane_id, "Do you want to proceed?")
    tmux.send_enter(result.pane_id)
    [view] = wait_until(
        lambda: [v for v in observe(rig_town, tmux) if v.state == "waiting"], what="waiting"
    )
    assert view.prompt is not None and view.prompt.question == "Do you want to proceed?"
    assert view.hint == (
        "waiting at: Do you want to proceed?; answer it in its window: gt attach alpha/furiosa"
    )
    tmux.kill_window("gt-alpha", "furiosa")
    [view] = observe(rig_town, tmux)
    assert view.state == "zombie" and view.window is None
    assert view.hint == f"no window: restart with `gt sling --force {bead.id}`"


@real_tmux
def test_gt_polecat_list(
    rig_town: Town, tmux: TownTmux, reader: Path, gt: GtRunner, tmp_path: Path
) -> None:
    assert "no polecats yet" in gt("polecat", "list").stderr
    bead = rig_town.beads.create("listed", rig="alpha")
    sling(rig_town, tmux, bead.id, "alpha", runtime="reader")
    proc = gt("polecat", "list")
    assert proc.returncode == 0, proc.stderr
    header, row = proc.stdout.splitlines()
    assert header.split() == ["NAME", "RIG", "STATE", "BEAD", "WINDOW", "ACTIVITY", "NOTE"]
    assert row.split()[:5] == ["furiosa", "alpha", "working", bead.id, "gt-alpha:furiosa"]
    [doc] = orjson.loads(gt("polecat", "list", "--json", "--rig", "alpha").stdout)
    assert doc["address"] == "alpha/furiosa" and doc["state"] == "working"
    assert doc["bead"] == {"id": bead.id, "title": "listed", "status": "hooked"}
    assert doc["window"]["target"] == "gt-alpha:furiosa" and doc["last_activity"]
    assert gt("polecat", "list", "--rig", "nowhere").returncode == 2
    # Without tmux, the stored state is shown and labelled as such.
    no_tmux = tmp_path / "bin"
    no_tmux.mkdir()
    proc = gt("polecat", "list", env={"PATH": str(no_tmux)})
    assert proc.returncode == 0 and "stored state only" in proc.stderr
    assert "furiosa" in proc.stdout and "working" in proc.stdout
