"""The Rigs pane's rows are applied, not reloaded (issue 12): a store write changes exactly the
rows it should, and after many writes the rows equal a full reload (TownData.load_rigs)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from gastown_tui.town.clock import FakeClock
from gastown_tui.town.interop import import_beads
from gastown_tui.town.town import Town
from gastown_tui.views.actions import TownData
from gastown_tui.views.ledger import RigsLedger
from tests.conftest import BEADS_DATA


@pytest.fixture
def town(tmp_path: Path) -> Town:
    """The real ledger in rig `gastown`, and a small rig `beta`."""
    town = Town.init(tmp_path / "town", name="ledger", clock=FakeClock())
    for rig, prefix in (("gastown", "gt"), ("beta", "be")):
        (tmp_path / rig).mkdir()
        town.rigs.add(rig, str(tmp_path / rig), prefix=prefix, no_git=True)
    import_beads(town, BEADS_DATA, rig="gastown")
    for n in range(5):
        town.beads.create(f"beta work {n}", rig="beta", priority=n % 5)
    return town


def reader(town: Town) -> Town:
    """The app's own view of the town: another Town object over the same files, as another
    process would have."""
    return Town.open(town.root, clock=town.clock)


def test_first_apply_equals_a_full_reload(town: Town) -> None:
    app_town = reader(town)
    change = RigsLedger(app_town).apply()
    assert change.snapshot == TownData(app_town, None).load_rigs()
    assert change.snapshot.rigs and change.snapshot.ready  # the real ledger has ready work
    assert change.beads == {b.id for b in change.snapshot.open_beads}


def test_a_write_changes_exactly_its_row(town: Town) -> None:
    app_town = reader(town)
    ledger = RigsLedger(app_town)
    before = ledger.apply().snapshot
    target = [b for b in before.ready if b.rig == "gastown"][1]
    town.beads.update(target.id, title="A new title from another process")
    change = ledger.apply({"gastown"})
    assert change.beads == {target.id}
    assert change.rigs == {"gastown"}  # its ready list holds the new row
    old_rows = {b.id: b for b in before.open_beads}
    for row in change.snapshot.open_beads:
        if row.id == target.id:
            assert row.title == "A new title from another process"
        else:
            assert row is old_rows[row.id]  # kept, not rebuilt
    # The other rig was not even read again: its row is the very same object.
    assert [r.name for r in before.rigs] == ["beta", "gastown"]
    assert change.snapshot.rigs[0] is before.rigs[0]
    assert change.snapshot == TownData(app_town, None).load_rigs()


def test_nothing_changed_changes_nothing(town: Town) -> None:
    ledger = RigsLedger(reader(town))
    before = ledger.apply().snapshot
    change = ledger.apply({"gastown", "beta"})
    assert change.empty
    assert all(a is b for a, b in zip(change.snapshot.rigs, before.rigs, strict=True))


def test_a_closed_blocker_in_another_rig_makes_a_bead_ready(town: Town) -> None:
    app_town = reader(town)
    blocker = town.beads.create("the blocker", rig="beta")
    blocked = town.beads.create("the blocked", rig="gastown")
    town.beads.add_dep(blocked.id, blocker.id)
    ledger = RigsLedger(app_town)
    ledger.apply()
    assert blocked.id not in {b.id for b in ledger.snapshot.ready}
    town.beads.close(blocker.id, "done")
    change = ledger.apply({"beta"})  # only beta's file was written
    assert blocked.id in {b.id for b in change.snapshot.ready}
    assert "gastown" in change.rigs and blocker.id in change.beads
    assert change.snapshot == TownData(app_town, None).load_rigs()


def test_rows_stay_right_after_many_writes(town: Town) -> None:
    """Random writes of every kind, each applied to the rig it touched, compared with a full
    reload after every one."""
    app_town = reader(town)
    data = TownData(app_town, None)
    ledger = RigsLedger(app_town)
    ledger.apply()
    rng = random.Random(12)
    for step in range(60):
        snapshot = ledger.snapshot
        rig = rng.choice(["gastown", "beta"])
        mine = [b for b in snapshot.open_beads if b.rig == rig]
        kind = rng.choice(["create", "title", "priority", "close", "assign", "dep", "label"])
        bead = rng.choice(mine) if mine else None
        if kind == "create" or bead is None:
            town.beads.create(f"new work {step}", rig=rig, priority=rng.randint(0, 4))
        elif kind == "title":
            town.beads.update(bead.id, title=f"renamed {step}")
        elif kind == "priority":
            town.beads.update(bead.id, priority=(bead.priority + 1) % 5)
        elif kind == "close":
            town.beads.close(bead.id, "done")
        elif kind == "assign":
            town.beads.update(bead.id, assignee=f"{rig}/furiosa")  # no longer ready
        elif kind == "label":
            town.beads.update(bead.id, add_labels=["needs-human"])
        else:
            others = [b for b in snapshot.open_beads if b.id != bead.id]
            try:
                town.beads.add_dep(bead.id, rng.choice(others).id)
            except Exception:  # a cycle: refused, nothing written
                continue
        change = ledger.apply({rig})
        assert change.snapshot == data.load_rigs(), f"step {step}: {kind} in {rig}"
        if kind == "title" and bead is not None:
            assert change.beads == {bead.id}


def test_marked_rigs_are_read_even_when_their_loader_never_ran(town: Town) -> None:
    """A burst of changes: the app notes each rig as its change arrives; one later apply reads
    them all (a loader worker replaced before it ran must not lose its rig)."""
    app_town = reader(town)
    ledger = RigsLedger(app_town)
    ledger.apply()
    one = town.beads.create("in beta", rig="beta")
    two = town.beads.create("in gastown", rig="gastown")
    ledger.mark({"beta"})
    ledger.mark({"gastown"})
    change = ledger.apply_marked()
    assert {one.id, two.id} <= change.beads
    assert change.snapshot == TownData(app_town, None).load_rigs()
    assert ledger.apply_marked().empty  # nothing new since


def test_rows_stay_right_through_bursts_of_writes(town: Town) -> None:
    """Several writes of every kind between two applies, a description-only change (no row
    changes), reopened and unassigned beads, and a burst past BULK (the rig is sorted again
    rather than patched): always equal to a full reload."""
    from gastown_tui.views.ledger import BULK

    add_nux(town)
    app_town = reader(town)
    data = TownData(app_town, None)
    ledger = RigsLedger(app_town)
    ledger.apply()
    rng = random.Random(99)
    closed: list[str] = []
    for step in range(25):
        for _ in range(rng.randint(1, 4)):
            open_now = [b for b in ledger.snapshot.open_beads] or None
            bead = rng.choice(open_now) if open_now else None
            kind = rng.choice(["create", "title", "priority", "close", "assign", "unassign"])
            if closed and rng.random() < 0.2:
                town.beads.reopen(closed.pop())
            elif kind == "create" or bead is None:
                town.beads.create(f"burst {step}", rig=rng.choice(["gastown", "beta"]))
            elif kind == "title":
                town.beads.update(bead.id, title=f"burst title {step}")
            elif kind == "priority":
                town.beads.update(bead.id, priority=rng.randint(0, 4))
            elif kind == "close":
                town.beads.close(bead.id, "done")
                closed.append(bead.id)
            elif kind == "assign":
                town.beads.update(bead.id, assignee=f"{bead.rig}/nux")
            else:
                town.beads.update(bead.id, assignee="")
        change = ledger.apply({"gastown", "beta"})
        assert change.snapshot == data.load_rigs(), f"step {step}"
    quiet = ledger.snapshot.open_beads[0]
    town.beads.update(quiet.id, description="only the description changed")
    change = ledger.apply({quiet.rig})
    assert change.beads == set() and quiet.id not in change.beads
    assert change.snapshot.open_beads[0] is quiet
    for n in range(BULK + 20):
        town.beads.create(f"bulk {n}", rig="beta", priority=n % 5)
    change = ledger.apply({"beta"})
    assert change.snapshot == data.load_rigs()
    assert len(change.beads) == BULK + 20


def add_nux(town: Town, rigs: tuple[str, ...] = ("gastown", "beta")) -> None:
    for rig in rigs:
        with town.storage.rig_txn(rig) as tx:
            tx.put_polecat({"name": "nux", "rig": rig, "state": "idle"})


def test_polecats_are_looked_at_only_when_a_hook_or_polecat_changed(town: Town) -> None:
    add_nux(town, ("gastown",))
    app_town = reader(town)
    ledger = RigsLedger(app_town)
    ledger.apply()
    assert ledger.take_polecats_changed()  # the first read: everything is new
    free = next(b for b in ledger.snapshot.ready if b.rig == "gastown")
    town.beads.update(free.id, title="nobody's hook")
    ledger.apply({free.rig})
    assert not ledger.take_polecats_changed()
    town.beads.update(free.id, status="hooked", assignee=f"{free.rig}/nux")
    ledger.apply({free.rig})
    assert ledger.take_polecats_changed()
    town.beads.update(free.id, title="on nux's hook")
    ledger.apply({free.rig})
    assert ledger.take_polecats_changed(), "a hooked bead's title is on its polecat's row"
    with town.storage.rig_txn("beta") as tx:
        tx.put_polecat({"name": "nux", "rig": "beta", "state": "idle"})
    ledger.apply({"beta"})
    assert ledger.take_polecats_changed()
