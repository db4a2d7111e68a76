"""Backups and `gt doctor`, the events log and `gt trail`/`gt feed`, and the bead archive."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from gastown_tui.town.events import EventLog
from gastown_tui.town.storage.doctor import create_backup, list_backups
from gastown_tui.town.town import Town
from tests.conftest import GtRunner


def test_corrupt_rig_file_is_named_and_doctor_restores_it(gt: GtRunner, rig_town: Town) -> None:
    kept = rig_town.beads.create("before the backup", rig="alpha")
    create_backup(rig_town, keep=3)
    rig_file = rig_town.paths.rig_file("alpha")
    rig_file.write_bytes(rig_file.read_bytes()[:40])  # a disk that lost the end of the file

    proc = gt("bead", "list")
    assert proc.returncode == 1
    assert str(rig_file) in proc.stderr and "gt doctor" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert gt("bead", "create", "during the outage").returncode == 1
    assert rig_file.stat().st_size == 40, "nothing overwrote the damaged file"

    check = gt("doctor", "--check")
    assert check.returncode == 1 and "PROBLEM" in check.stdout
    fixed = gt("doctor")
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert "restored from backup" in fixed.stdout
    assert json.loads(gt("bead", "show", kept.id, "--json").stdout)["title"] == kept.title
    aside = list((rig_town.paths.store / "corrupt").iterdir())
    assert len(aside) == 1 and aside[0].stat().st_size == 40, "the broken file is kept, not lost"


def test_doctor_without_a_good_backup_changes_nothing(gt: GtRunner, rig_town: Town) -> None:
    rig_file = rig_town.paths.rig_file("alpha")
    with rig_town.beads.rig_txn("alpha") as tx:
        tx.touch()
    rig_file.write_text("{not json")
    proc = gt("doctor")
    assert proc.returncode == 1
    assert "no backup holds a good copy" in proc.stdout
    assert rig_file.read_text() == "{not json"


def test_backups_rotate_and_skip_corrupt_files(rig_town: Town) -> None:
    for _ in range(4):
        create_backup(rig_town, keep=2)
    assert len(list_backups(rig_town)) == 2
    rig_town.paths.archive_file("2020-01").write_text("garbage")
    newest = create_backup(rig_town, keep=2)
    manifest = json.loads((newest / "manifest.json").read_text())
    assert "archive/2020-01.json" in manifest["skipped_corrupt"]
    assert not (newest / "store" / "archive" / "2020-01.json").exists()


def test_doctor_sweeps_orphan_temp_files(gt: GtRunner, rig_town: Town) -> None:
    orphan = rig_town.paths.rig_file("alpha").with_name(".alpha.json.zz9k2.tmp")
    orphan.write_text("partial")
    proc = gt("doctor")
    assert proc.returncode == 0
    assert "swept orphan" in proc.stdout and not orphan.exists()


def test_event_lines_from_many_processes_never_interleave(town: Town) -> None:
    code = (
        "import sys; from gastown_tui.town.town import Town; t = Town.open(sys.argv[1])\n"
        "for n in range(200): t.events.append('test.burst', actor=sys.argv[2], msg='x' * 300)"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(town.root), f"p{n}"]) for n in range(4)
    ]
    for proc in procs:
        assert proc.wait(60) == 0
    burst = [e for e in town.events.iter_all() if e.type == "test.burst"]
    assert len(burst) == 800
    for n in range(4):
        assert sum(1 for e in burst if e.actor == f"p{n}") == 200


def test_a_torn_last_line_is_fenced_off(town: Town) -> None:
    with open(town.paths.events, "ab") as handle:
        handle.write(b'{"ts": "2026-01-01T00:00:00Z", "type": "half')
    town.events.append("after.tear", actor="overseer")
    types = [e.type for e in town.events.iter_all()]
    assert types[-1] == "after.tear"


def test_trail_since_and_filters(gt: GtRunner, rig_town: Town) -> None:
    old = {"ts": "2020-01-01T00:00:00.000Z", "type": "bead.created", "actor": "x", "rig": "alpha",
           "bead": "al-old00", "msg": "ancient"}  # fmt: skip
    rig_town.events.append_raw([old])
    rig_town.beads.create("recent", rig="alpha")
    recent = json.loads(gt("trail", "--json").stdout)
    assert "ancient" not in [e["msg"] for e in recent]
    assert "recent" in [e["msg"] for e in recent]
    everything = json.loads(gt("trail", "--since", "5000d", "--json").stdout)
    assert "ancient" in [e["msg"] for e in everything]
    only = json.loads(gt("trail", "--type", "rig", "--json").stdout)
    assert {e["type"] for e in only} == {"rig.added"}
    bad = gt("trail", "--since", "yesterday")
    assert bad.returncode == 2 and "not a duration" in bad.stderr


def test_feed_plain_follow_streams_new_events(rig_town: Town) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "gastown_tui", "feed", "--plain", "--follow", "-n", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "GT_TOWN": str(rig_town.root)},
    )
    try:
        assert proc.stdout is not None
        first = [proc.stdout.readline() for _ in range(2)]
        assert "rig.added" in first[-1]
        EventLog(rig_town.paths).append("test.live", actor="elsewhere", msg="hello from outside")
        deadline = time.monotonic() + 10
        line = proc.stdout.readline()
        assert time.monotonic() < deadline
        assert "test.live" in line and "hello from outside" in line
    finally:
        proc.kill()
        proc.wait()


def test_follower_survives_rotation(town: Town) -> None:
    follower = town.events.follower(from_end=True)
    town.events.append("one", actor="a")
    assert [e.type for e in follower.poll()] == ["one"]
    town.paths.events.rename(town.paths.events.with_name("events-old.jsonl"))
    town.events.append("two", actor="a")
    assert [e.type for e in follower.poll()] == ["two"]


def test_closed_beads_move_to_the_archive_and_come_back_on_reopen(
    rig_town: Town, tmp_path: Path
) -> None:
    path = rig_town.paths.town_toml
    path.write_text(
        path.read_text() + "\n[store]\narchive_closed_over = 10\nkeep_closed_in_rig = 3\n"
    )
    town = Town.open(rig_town.root)
    beads = [town.beads.create(f"b{n}", rig="alpha") for n in range(12)]
    for bead in beads[:11]:
        town.beads.close(bead.id, reason="done")
    in_rig = town.storage.rig_file("alpha").table("beads")
    closed_in_rig = [d for d in in_rig.values() if d["status"] == "closed"]
    assert len(closed_in_rig) == 3
    assert len(in_rig) == 4
    archived = town.beads.list(include_closed=True, include_archive=True)
    assert len(archived) == 12, "archiving moves beads, never drops them"
    first = town.beads.get(beads[0].id)
    assert first.status == "closed" and first.close_reason == "done"
    town.beads.reopen(beads[0].id)
    assert town.beads.get(beads[0].id).status == "open"
    assert beads[0].id in {d["id"] for d in town.storage.beads.docs("alpha")}
    assert len(town.beads.list(include_closed=True, include_archive=True)) == 12
    assert town.beads.prune_archive_shadows() == 1
    assert len(town.beads.list(include_closed=True, include_archive=True)) == 12
