"""`gt init`, `gt rig …`, `gt bead …`, `gt ready` through the real CLI process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from gastown_tui.town.town import Town
from tests.conftest import GtRunner, make_git_repo, snapshot_files


def test_init_creates_a_town_and_refuses_twice(tmp_path: Path) -> None:
    root = tmp_path / "newtown"
    env_run = [sys.executable, "-m", "gastown_tui"]
    proc = subprocess.run([*env_run, "init", str(root)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert (root / "town.toml").is_file()
    assert (root / "store" / "town.json").is_file()
    again = subprocess.run([*env_run, "init", str(root)], capture_output=True, text=True)
    assert again.returncode == 2
    assert "already a town" in again.stderr
    assert "Traceback" not in again.stderr


def test_a_folder_that_is_not_a_town_is_exit_2_and_untouched(tmp_path: Path) -> None:
    folder = tmp_path / "not-a-town"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    proc = subprocess.run(
        [sys.executable, "-m", "gastown_tui", "--town", str(folder), "bead", "list"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert "is not a town" in proc.stderr and "gt init" in proc.stderr
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt"]


def test_rig_add_clones_a_git_repository(gt: GtRunner, town: Town, git_repo: Path) -> None:
    proc = gt("rig", "add", "alpha", str(git_repo), "--json")
    assert proc.returncode == 0, proc.stderr
    rig = json.loads(proc.stdout)
    assert rig["name"] == "alpha" and rig["git"] is True and rig["branch"] == "main"
    clone = Path(rig["path"])
    assert clone == town.paths.rig_repo("alpha")
    assert (clone / ".git").exists() and (clone / "README.md").exists()
    listed = json.loads(gt("rig", "list", "--json").stdout)
    assert [r["name"] for r in listed] == ["alpha"]


def test_rig_add_from_a_url_and_a_plain_directory(gt: GtRunner, tmp_path: Path) -> None:
    repo = make_git_repo(tmp_path / "remote", {"a.txt": "a\n"})
    assert gt("rig", "add", "viaurl", f"file://{repo}").returncode == 0
    plain = tmp_path / "support-desk"
    plain.mkdir()
    proc = gt("rig", "add", "desk", str(plain), "--no-git", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["path"] == str(plain)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["rig", "add", "alpha", "/definitely/not/here"], "does not exist"),
        (["rig", "add", "Bad.Name", "."], "invalid rig name"),
        (["rig", "add", "alpha", "{plain}"], "not a git repository"),
        (["rig", "add", "alpha", "{plain}", "--prefix", "7x", "--no-git"], "invalid prefix"),
        (["rig", "add", "alpha", "file:///no/such/repo.git"], "failed"),
    ],
)
def test_rig_add_bad_input_writes_nothing(
    gt: GtRunner, town: Town, tmp_path: Path, args: list[str], message: str
) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    args = [a.replace("{plain}", str(plain)) for a in args]
    before = snapshot_files(town.root)
    proc = gt(*args)
    assert proc.returncode in (1, 2), proc.stderr
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert snapshot_files(town.root) == before


def test_bead_lifecycle_through_the_cli(gt: GtRunner, rig_town: Town) -> None:
    created = gt(
        "bead",
        "create",
        "Fix the flux capacitor",
        "-d",
        "it sparks",
        "-p",
        "1",
        "-t",
        "bug",
        "-l",
        "hardware",
        "-l",
        "urgent",
    )
    assert created.returncode == 0, created.stderr
    bead_id = created.stdout.strip()
    assert bead_id.startswith("al-") and len(bead_id) == len("al-") + 5
    shown = json.loads(gt("bead", "show", bead_id, "--json").stdout)
    assert shown["title"] == "Fix the flux capacitor"
    assert shown["priority"] == 1 and shown["type"] == "bug"
    assert shown["labels"] == ["hardware", "urgent"]
    assert shown["status"] == "open" and shown["created_by"] == "overseer"

    other = gt("bead", "create", "Second", "--blocked-by", bead_id).stdout.strip()
    ready = [b["id"] for b in json.loads(gt("ready", "--json").stdout)]
    assert ready == [bead_id], "a bead blocked by an open bead is not ready"

    assert gt("bead", "update", bead_id, "-p", "0", "--add-label", "p0").returncode == 0
    assert gt("bead", "comment", bead_id, "looked at it").returncode == 0
    closed = gt("bead", "close", bead_id, "--reason", "replaced the part")
    assert closed.returncode == 0, closed.stderr
    ready = [b["id"] for b in json.loads(gt("ready", "--json").stdout)]
    assert ready == [other], "closing the blocker frees the blocked bead"

    listed = [b["id"] for b in json.loads(gt("bead", "list", "--json").stdout)]
    assert listed == [other], "closed beads are hidden by default"
    everything = json.loads(gt("bead", "list", "--all", "--json").stdout)
    assert {b["id"] for b in everything} == {bead_id, other}
    final = json.loads(gt("bead", "show", bead_id, "--json").stdout)
    assert final["status"] == "closed" and final["close_reason"] == "replaced the part"
    assert final["closed_at"] and final["priority"] == 0
    assert [c["text"] for c in final["comments"]] == ["looked at it"]

    assert gt("bead", "reopen", bead_id).returncode == 0
    assert json.loads(gt("bead", "show", bead_id, "--json").stdout)["status"] == "open"

    types = [e["type"] for e in json.loads(gt("trail", "--json").stdout)]
    for expected in (
        "bead.created",
        "bead.updated",
        "bead.commented",
        "bead.closed",
        "bead.reopened",
    ):
        assert expected in types


def test_agent_identity_comes_from_gt_agent(gt: GtRunner, rig_town: Town) -> None:
    bead_id = gt("bead", "create", "From an agent", env={"GT_AGENT": "alpha/furiosa"}).stdout
    bead = rig_town.beads.get(bead_id.strip())
    assert bead.created_by == "alpha/furiosa"
    assert rig_town.paths.heartbeat("alpha/furiosa").exists(), "any gt call is a heartbeat"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["bead", "create", ""], "non-empty title"),
        (["bead", "create", "   "], "non-empty title"),
        (["bead", "create", "x", "-p", "7"], "priority 7 is out of range"),
        (["bead", "create", "x", "-p", "high"], "is not a number"),
        (["bead", "create", "x", "--rig", "nosuch"], "unknown rig 'nosuch'"),
        (["bead", "create", "x", "-t", "bogus"], "unknown bead type"),
        (["bead", "create", "x", "--blocked-by", "al-zzzzz"], "unknown bead"),
        (["bead", "show", "al-zzzzz"], "unknown bead 'al-zzzzz'"),
        (["bead", "close", "al-zzzzz"], "unknown bead"),
        (["bead", "update", "al-zzzzz", "--title", "t"], "unknown bead"),
        (["bead", "list", "--status", "sleeping"], "unknown status"),
        (["bead", "list", "--rig", "nosuch"], "unknown rig"),
    ],
)
def test_bead_bad_input_is_exit_2_and_writes_nothing(
    gt: GtRunner, rig_town: Town, args: list[str], message: str
) -> None:
    before = snapshot_files(rig_town.root)
    proc = gt(*args)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert message in proc.stderr
    assert proc.stderr.startswith("gt: error: ") and "Traceback" not in proc.stderr
    assert snapshot_files(rig_town.root) == before


def test_closing_several_beads_checks_every_id_first(gt: GtRunner, rig_town: Town) -> None:
    good = gt("bead", "create", "real").stdout.strip()
    before = snapshot_files(rig_town.root)
    proc = gt("bead", "close", good, "al-nope1")
    assert proc.returncode == 2
    assert snapshot_files(rig_town.root) == before
    assert rig_town.beads.get(good).status == "open"


def test_several_rigs_need_an_explicit_rig(gt: GtRunner, rig_town: Town, tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    rig_town.rigs.add("bravo", str(tmp_path / "b"), no_git=True)
    # Several rigs and no --rig: the first rig added, and it says so (issue 10: the README
    # tour must work on a town with two rigs).
    proc = gt("bead", "create", "where?")
    assert proc.returncode == 0 and proc.stdout.startswith("al-")
    assert "rig alpha" in proc.stderr and "--rig" in proc.stderr
    proc = gt("bead", "create", "here", "--rig", "bravo")
    assert proc.returncode == 0 and proc.stdout.startswith("br-")
    inside = gt("bead", "create", "agent's own rig", env={"GT_RIG": "alpha"})
    assert inside.returncode == 0 and inside.stdout.startswith("al-")


def test_rig_remove_keeps_files_and_refuses_work_in_flight(gt: GtRunner, rig_town: Town) -> None:
    bead_id = gt("bead", "create", "in flight").stdout.strip()
    with rig_town.beads.rig_txn("alpha") as tx:  # a polecat to hold it (hook invariants)
        tx.put_polecat({"name": "furiosa", "rig": "alpha", "state": "idle"})
    rig_town.beads.update(bead_id, status="hooked", assignee="alpha/furiosa")
    refused = gt("rig", "remove", "alpha")
    assert refused.returncode == 2 and "in flight" in refused.stderr
    assert gt("rig", "remove", "alpha", "--force").returncode == 0
    assert rig_town.paths.rig_repo("alpha").exists(), "the clone is kept"
    kept = list((rig_town.paths.store / "removed").glob("alpha-*.json"))
    assert len(kept) == 1 and bead_id.encode() in kept[0].read_bytes()


def test_json_output_keys_are_the_documented_ones(gt: GtRunner, rig_town: Town) -> None:
    gt("bead", "create", "keys")
    bead = json.loads(gt("bead", "list", "--json").stdout)[0]
    assert set(bead) == {
        "id", "title", "rig", "description", "status", "priority", "type", "labels", "assignee",
        "deps", "comments", "created_at", "updated_at", "closed_at", "close_reason",
        "created_by", "metadata",
    }  # fmt: skip
    rig = json.loads(gt("rig", "list", "--json").stdout)[0]
    assert set(rig) == {"name", "prefix", "path", "git", "url", "branch", "added_at"}
    event = json.loads(gt("trail", "--json").stdout)[-1]
    assert {"ts", "type", "actor", "rig", "bead", "msg"} <= set(event)


def test_debug_shows_a_traceback_only_when_asked(gt: GtRunner, rig_town: Town) -> None:
    plain = gt("bead", "show", "al-zzzzz")
    assert "Traceback" not in plain.stderr
    debug = gt("--debug", "bead", "show", "al-zzzzz")
    assert "Traceback" in debug.stderr
