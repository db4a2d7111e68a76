"""The files backend's per-record change journal (gastown_tui/town/storage/journal.py): a
reader that read a rig file before follows later writes from the journal, keeping every
document no write touched as the very same object, and whenever the journal cannot be
trusted (a writer killed between its line and its rename, a torn or deleted journal, a write
that did not journal) it parses the file, so it never reads anything but the file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gastown_tui.town.storage import journal
from gastown_tui.town.storage.files import parse_tables
from gastown_tui.town.town import Town

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def town(tmp_path: Path) -> Town:
    town = Town.init(tmp_path / "town", name="journal")
    (tmp_path / "work").mkdir()
    town.rigs.add("alpha", str(tmp_path / "work"), no_git=True, prefix="al")
    for n in range(8):
        town.beads.create(f"bead {n}", rig="alpha", priority=n % 4)
    return town


def rig_path(town: Town) -> Path:
    return town.paths.rig_file("alpha")


def on_disk(town: Town) -> dict[str, dict[str, dict]]:
    path = rig_path(town)
    return parse_tables(path, path.read_bytes())


def docs(town: Town) -> dict[str, dict]:
    return {d["id"]: d for d in town.storage.beads.docs("alpha")}


def test_a_reader_follows_a_write_and_keeps_what_it_did_not_touch(town: Town) -> None:
    reader = Town.open(town.root)
    before = docs(reader)
    target = next(iter(before))
    town.beads.update(target, title="renamed by another process")
    after = docs(reader)
    assert reader.storage.rig_file("alpha").read() == on_disk(town)
    assert after[target]["title"] == "renamed by another process"
    # Only a journal read shares documents: a parse makes every one anew.
    assert all(after[i] is before[i] for i in before if i != target)


def test_many_writes_between_two_reads_are_followed_in_order(town: Town) -> None:
    reader = Town.open(town.root)
    before = docs(reader)
    ids = list(before)
    town.beads.update(ids[0], title="one")
    town.beads.close(ids[1], "done")
    extra = town.beads.create("new", rig="alpha").id
    town.beads.update(ids[0], title="two")
    assert reader.storage.rig_file("alpha").read() == on_disk(town)
    after = docs(reader)
    assert after[ids[0]]["title"] == "two" and extra in after
    assert after[ids[2]] is before[ids[2]]


KILLED_WRITER = """
import os, signal, sys
from gastown_tui.town.town import Town

def die(*_args, **_kwargs):
    os.kill(os.getpid(), signal.SIGKILL)  # after the journal line, before the rename

town = Town.open(sys.argv[1])
os.replace = die
town.beads.update(sys.argv[2], title="never committed")
"""


def test_a_writer_killed_after_its_journal_line_is_never_believed(town: Town) -> None:
    reader = Town.open(town.root)
    ids = list(docs(reader))
    line_count = len(journal.journal_path(rig_path(town)).read_bytes().splitlines())
    proc = subprocess.run(
        [sys.executable, "-c", KILLED_WRITER, str(town.root), ids[0]], cwd=ROOT, check=False
    )
    assert proc.returncode == -9
    lines = journal.journal_path(rig_path(town)).read_bytes().splitlines()
    assert len(lines) == line_count + 1, "the killed writer's line is in the journal"
    assert docs(reader)[ids[0]]["title"] != "never committed"
    town.beads.update(ids[1], title="committed after the kill")
    assert reader.storage.rig_file("alpha").read() == on_disk(town)
    assert docs(reader)[ids[0]]["title"] != "never committed"


@pytest.mark.parametrize("damage", ["torn", "deleted", "garbage"])
def test_a_damaged_journal_only_costs_a_parse(town: Town, damage: str) -> None:
    reader = Town.open(town.root)
    ids = list(docs(reader))
    path = journal.journal_path(rig_path(town))
    town.beads.update(ids[0], title="first")
    if damage == "torn":
        path.write_bytes(path.read_bytes()[:-7])
    elif damage == "deleted":
        path.unlink()
    else:
        path.write_bytes(b"\x00\xff not json\n{}\n[1]\n")
    assert reader.storage.rig_file("alpha").read() == on_disk(town)
    town.beads.update(ids[1], title="then another")
    assert reader.storage.rig_file("alpha").read() == on_disk(town)


def test_a_write_through_tinydb_writes_no_line_and_readers_parse(town: Town) -> None:
    reader = Town.open(town.root)
    docs(reader)
    path = journal.journal_path(rig_path(town))
    size = path.stat().st_size
    from tinydb import Query

    with town.storage.rig_file("alpha").transaction() as txn:
        txn.table("beads").update({"title": "via tinydb"}, Query().priority == 0)
    assert path.stat().st_size == size, "TinyDB rewrites whole tables: no per-record line"
    assert reader.storage.rig_file("alpha").read() == on_disk(town)
    assert any(d["title"] == "via tinydb" for d in docs(reader).values())


def test_the_journal_starts_again_past_its_size_and_readers_follow(
    town: Town, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(journal, "JOURNAL_MAX", 4096)
    reader = Town.open(town.root)
    ids = list(docs(reader))
    path = journal.journal_path(rig_path(town))
    inodes = set()
    for n in range(40):
        before = docs(reader)
        town.beads.update(ids[n % len(ids)], title=f"title number {n} " + "x" * 100)
        inodes.add(path.stat().st_ino)
        assert path.stat().st_size <= 4096
        after = docs(reader)
        assert reader.storage.rig_file("alpha").read() == on_disk(town)
        untouched = [i for i in ids if i != ids[n % len(ids)]]
        assert all(after[i] is before[i] for i in untouched), f"write {n} was parsed"
    assert len(inodes) > 1, "the journal was started again"


def test_a_retired_rig_takes_its_journal_away(town: Town) -> None:
    path = journal.journal_path(rig_path(town))
    assert path.exists()
    town.storage.retire_rig("alpha", "20261206T120000000Z")
    assert not path.exists()
