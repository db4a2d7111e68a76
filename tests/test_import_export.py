"""Interop with beads (`bd`) on the real Gas Town ledger (tests/data/gastown-beads)."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import pytest

from gastown_tui.town.interop import export_beads, import_beads
from gastown_tui.town.town import Town
from tests.conftest import BEADS_DATA, GtRunner, snapshot_files


def _rows(name: str, folder: Path = BEADS_DATA) -> list[dict]:
    with open(folder / f"{name}.jsonl") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def test_import_keeps_every_bead_with_its_fields(gt: GtRunner, rig_town: Town) -> None:
    proc = gt("bead", "import", str(BEADS_DATA), "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    issues = _rows("issues")
    assert report["imported"] == len(issues) == 677
    assert report["archived"] == sum(1 for i in issues if i["status"] == "closed") == 643

    town = Town.open(rig_town.root)
    beads = {b.id: b for b in town.beads.list(include_closed=True, include_archive=True)}
    assert len(beads) == 677
    assert Counter(b.status for b in beads.values()) == Counter(i["status"] for i in issues)
    assert Counter(b.type for b in beads.values()) == Counter(i["issue_type"] for i in issues)
    assert Counter(b.priority for b in beads.values()) == Counter(i["priority"] for i in issues)

    labels = Counter(r["issue_id"] for r in _rows("labels"))
    for bead_id, count in labels.items():
        if bead_id in beads:
            assert len(beads[bead_id].labels) == len(
                {r["label"] for r in _rows("labels") if r["issue_id"] == bead_id}
            ), bead_id
            assert count >= 1
    deps = [r for r in _rows("dependencies") if r["issue_id"] in beads]
    assert sum(len(b.deps) for b in beads.values()) == len(deps)
    sample = deps[0]
    assert any(
        d.on == sample["depends_on_id"] and d.type == sample["type"]
        for d in beads[sample["issue_id"]].deps
    )
    comments = [r for r in _rows("comments") if r["issue_id"] in beads]
    assert sum(len(b.comments) for b in beads.values()) == len(comments)

    # Closed beads live in the archive, open ones in the rig file.
    rig_ids = {d["id"] for d in town.storage.beads.docs("alpha")}
    assert rig_ids == {i["id"] for i in issues if i["status"] != "closed"}
    assert list(town.paths.archive_dir.glob("*.json"))

    hooked = next(i for i in issues if i["status"] == "hooked")
    assert beads[hooked["id"]].assignee == hooked["assignee"]
    # The app and `gt bead list` show the open work.
    open_ids = {b["id"] for b in json.loads(gt("bead", "list", "--json").stdout)}
    assert open_ids == {i["id"] for i in issues if i["status"] != "closed"}
    closed_one = next(i for i in issues if i["status"] == "closed")
    shown = json.loads(gt("bead", "show", closed_one["id"], "--json").stdout)
    assert shown["close_reason"] == closed_one["close_reason"]


def test_import_is_idempotent(gt: GtRunner, rig_town: Town) -> None:
    assert gt("bead", "import", str(BEADS_DATA)).returncode == 0
    before = snapshot_files(rig_town.root)
    second = json.loads(gt("bead", "import", str(BEADS_DATA), "--json").stdout)
    assert second["imported"] == 0 and second["skipped_existing"] == 677
    after = snapshot_files(rig_town.root)
    assert {k: v for k, v in after.items() if k != "events.jsonl"} == {
        k: v for k, v in before.items() if k != "events.jsonl"
    }
    assert after["events.jsonl"] == before["events.jsonl"], "a no-op import logs nothing"


def test_bd_events_become_feed_history(rig_town: Town) -> None:
    import_beads(rig_town, BEADS_DATA, rig="alpha")
    imported = [e for e in rig_town.events.iter_all() if e.type.startswith("bd.")]
    assert len(imported) == len(_rows("events"))
    assert imported == sorted(imported, key=lambda e: e.ts)


def test_a_single_issues_file_imports(rig_town: Town, tmp_path: Path) -> None:
    only = tmp_path / "issues.jsonl"
    only.write_text("".join(json.dumps(r) + "\n" for r in _rows("issues")[:10]))
    report = import_beads(rig_town, only, rig="alpha")
    assert report.imported == 10


def test_malformed_line_names_file_and_line_and_writes_nothing(
    gt: GtRunner, rig_town: Town, tmp_path: Path
) -> None:
    folder = tmp_path / "backup"
    shutil.copytree(BEADS_DATA, folder)
    lines = (folder / "issues.jsonl").read_text().splitlines(keepends=True)
    lines[41] = '{"id": "gt-broken", "title": \n'
    lines[99] = json.dumps({**json.loads(lines[99]), "priority": 9}) + "\n"
    (folder / "issues.jsonl").write_text("".join(lines))
    before = snapshot_files(rig_town.root)
    proc = gt("bead", "import", str(folder))
    assert proc.returncode == 2
    assert f"{folder / 'issues.jsonl'}:42" in proc.stderr
    assert "--skip-bad" in proc.stderr
    assert snapshot_files(rig_town.root) == before

    proc = gt("bead", "import", str(folder), "--skip-bad", "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["imported"] == 675
    assert any(":100:" in bad and "priority 9" in bad for bad in report["bad_lines"])


@pytest.mark.parametrize("target", ["/no/such/folder", "{empty}"])
def test_import_of_a_missing_or_empty_source_is_exit_2(
    gt: GtRunner, rig_town: Town, tmp_path: Path, target: str
) -> None:
    (tmp_path / "empty").mkdir()
    proc = gt("bead", "import", target.replace("{empty}", str(tmp_path / "empty")))
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr


def test_export_then_import_round_trips(rig_town: Town, tmp_path: Path) -> None:
    import_beads(rig_town, BEADS_DATA, rig="alpha")
    fresh_bead = rig_town.beads.create("made here", rig="alpha", labels=["local"])
    out = tmp_path / "export"
    counts = export_beads(rig_town, out)
    assert counts["issues"] == 678
    assert counts["labels"] == len(_rows("labels")) + 1

    other = Town.init(tmp_path / "other")
    (tmp_path / "w").mkdir()
    other.rigs.add("gastown", str(tmp_path / "w"), no_git=True)
    report = import_beads(other, out, rig="gastown")
    assert report.imported == 678
    theirs = {b.id: b for b in other.beads.list(include_closed=True, include_archive=True)}
    ours = {b.id: b for b in rig_town.beads.list(include_closed=True, include_archive=True)}
    assert theirs.keys() == ours.keys()
    for bead_id, bead in ours.items():
        twin = theirs[bead_id]
        assert (twin.title, twin.status, twin.priority, twin.type, twin.assignee) == (
            bead.title, bead.status, bead.priority, bead.type, bead.assignee,
        )  # fmt: skip
        assert twin.labels == bead.labels
        assert [(d.on, d.type) for d in twin.deps] == [(d.on, d.type) for d in bead.deps]
        assert [c.text for c in twin.comments] == [c.text for c in bead.comments]
    assert theirs[fresh_bead.id].labels == ["local"]
    # bd's own columns survive the round trip through metadata.
    original = next(r for r in _rows("issues") if r.get("owner"))
    exported = next(r for r in _rows("issues", out) if r["id"] == original["id"])
    assert exported["owner"] == original["owner"]
