"""Merge requests reviewed by a person: gt mr list/show/approve/changes/reject, require_review,
PR mode against a local bare repository, and every refusal leaving the town unchanged."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from gastown_tui.supervise.refinery import Refinery
from gastown_tui.town.town import Town
from gastown_tui.town.work import complete, queued_nudges
from tests.conftest import run_gt, snapshot_files
from tests.polecat_fixtures import git_out, hook_without_window

pytest_plugins = ["tests.polecat_fixtures"]


def _configure(town: Town, text: str) -> Town:
    path = town.paths.town_toml
    path.write_text(path.read_text() + "\n" + text + "\n")
    return Town.open(town.root)


def _done(town: Town, title: str, files: dict[str, str]) -> tuple[str, str]:
    """A polecat that wrote `files` and ran gt done: (bead id, merge request id)."""
    bead = town.beads.create(title, rig="alpha")
    address = hook_without_window(town, bead.id)
    worktree = Path(town.polecats.get(address).worktree)
    for name, text in files.items():
        (worktree / name).write_text(text)
    result = complete(town, address)
    assert result.merge_request
    return bead.id, result.merge_request


def _mr(town: Town, mr_id: str) -> dict:
    out = run_gt(town, "mr", "show", mr_id, "--json")
    assert out.returncode == 0, out.stderr
    return orjson.loads(out.stdout)


@pytest.fixture
def review_town(rig_town: Town) -> Town:
    return _configure(rig_town, '[rigs.alpha]\nrequire_review = true\nverify = "echo checked-ok"')


def test_require_review_holds_the_merge_until_approved(review_town: Town) -> None:
    town = review_town
    repo = Path(town.rigs.get("alpha").path)
    _, mr_id = _done(town, "Add hello", {"hello.txt": "hello\n"})
    assert Refinery(town, "alpha").patrol() == [], "held for review"
    assert not (repo / "hello.txt").exists()
    listed = orjson.loads(run_gt(town, "mr", "list", "--json").stdout)
    assert [(m["id"], m["state"]) for m in listed] == [(mr_id, "review")]
    shown = _mr(town, mr_id)
    assert [f["path"] for f in shown["files"]] == ["hello.txt"]
    assert "+hello" in shown["diff"]

    out = run_gt(town, "mr", "approve", mr_id, "--commit", shown["commit"][:12])
    assert out.returncode == 0, out.stderr
    assert "merged" in out.stdout and "checked-ok" in out.stdout
    assert (repo / "hello.txt").read_text() == "hello\n"
    after = _mr(town, mr_id)
    assert after["state"] == "merged" and after["attempts"] == 1
    assert "checked-ok" in after["verify_log"], "the verify output is kept on the request"
    assert after["approved_by"] == "overseer"
    text = run_gt(town, "mr", "show", mr_id).stdout
    assert "checked-ok" in text and "hello.txt" in text


def test_without_require_review_the_refinery_merges_unreviewed(rig_town: Town) -> None:
    _, mr_id = _done(rig_town, "Add hello", {"hello.txt": "hello\n"})
    assert _mr(rig_town, mr_id)["state"] == "queued"
    assert any("merged" in a for a in Refinery(rig_town, "alpha").patrol())


def test_refusals_are_exit_2_and_change_nothing(review_town: Town) -> None:
    town = review_town
    _, mr_id = _done(town, "Add hello", {"hello.txt": "hello\n"})
    before = snapshot_files(town.root)
    cases = [
        (("mr", "approve", "mr-nope"), "no merge request"),
        (("mr", "approve", mr_id, "--commit", "deadbeef00"), "changed since you reviewed"),
        (("mr", "changes", mr_id, "-m", "   "), "comment is empty"),
        (("mr", "reject", "MR-NOPE"), "no merge request"),
    ]
    for args, words in cases:
        out = run_gt(town, *args)
        assert out.returncode == 2, (args, out.stderr)
        assert words in out.stderr and out.stderr.count("\n") == 1, out.stderr
        assert "Traceback" not in out.stderr
    assert snapshot_files(town.root) == before

    # The branch moved on after gt done recorded the request: approving is refused.
    mr = _mr(town, mr_id)
    worktree = Path(town.polecats.get(mr["polecat"]).worktree)
    (worktree / "more.txt").write_text("more\n")
    subprocess.run(["git", "add", "-A"], cwd=worktree, check=True)
    subprocess.run(["git", "commit", "-qm", "more"], cwd=worktree, check=True)
    before = snapshot_files(town.root)
    out = run_gt(town, "mr", "approve", mr_id)
    assert out.returncode == 2 and "moved to" in out.stderr, out.stderr
    assert snapshot_files(town.root) == before


def test_a_merged_request_cannot_be_rejected(rig_town: Town) -> None:
    _, mr_id = _done(rig_town, "Add hello", {"hello.txt": "hello\n"})
    Refinery(rig_town, "alpha").patrol()
    before = snapshot_files(rig_town.root)
    out = run_gt(rig_town, "mr", "reject", mr_id)
    assert out.returncode == 2 and "already merged" in out.stderr
    assert snapshot_files(rig_town.root) == before


def test_request_changes_mails_and_queues_a_nudge_for_the_polecat(review_town: Town) -> None:
    town = review_town
    bead_id, mr_id = _done(town, "Add hello", {"hello.txt": "hello\n"})
    polecat = _mr(town, mr_id)["polecat"]
    out = run_gt(town, "mr", "changes", mr_id, "-m", "rename hello.txt to greeting.txt")
    assert out.returncode == 0, out.stderr
    assert "REWORK_REQUEST" in out.stdout
    inbox = town.mail.inbox(polecat)
    assert inbox and inbox[0].subject.startswith("REWORK_REQUEST")
    assert "greeting.txt" in inbox[0].body
    assert queued_nudges(town, polecat), "no window: the nudge waits for gt prime"
    bead = town.beads.get(bead_id)
    assert bead.status == "open" and "rework" in bead.labels
    assert "greeting.txt" in bead.comments[-1].text
    assert _mr(town, mr_id)["state"] == "changes"
    assert Refinery(town, "alpha").patrol() == []
    again = run_gt(town, "mr", "approve", mr_id)
    assert again.returncode == 2, "a request sent back cannot be approved"


def test_reject_returns_the_bead_to_ready_and_keeps_the_branch(review_town: Town) -> None:
    town = review_town
    repo = Path(town.rigs.get("alpha").path)
    bead_id, mr_id = _done(town, "Add hello", {"hello.txt": "hello\n"})
    mr = _mr(town, mr_id)
    out = run_gt(town, "mr", "reject", mr_id, "-m", "not needed")
    assert out.returncode == 0, out.stderr
    bead = town.beads.get(bead_id)
    assert bead.status == "open" and bead.assignee is None
    assert mr["branch"] in bead.comments[-1].text
    assert git_out(repo, "rev-parse", mr["branch"]) == mr["commit"], "branch kept"
    ready = run_gt(town, "ready", "--json")
    assert bead_id in ready.stdout
    assert _mr(town, mr_id)["state"] == "rejected"


def _bin_without_gh(tmp_path: Path) -> Path:
    """A PATH holding git only (and a shell): `gh` is absent whatever this machine has."""
    folder = tmp_path / "bin"
    folder.mkdir()
    for tool in ("git", "sh"):
        found = subprocess.run(["which", tool], capture_output=True, text=True).stdout.strip()
        os.symlink(found, folder / tool)
    return folder


@pytest.fixture
def pr_town(rig_town: Town, tmp_path: Path) -> tuple[Town, Path]:
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
    repo = Path(rig_town.rigs.get("alpha").path)
    subprocess.run(["git", "remote", "set-url", "origin", str(remote)], cwd=repo, check=True)
    subprocess.run(["git", "push", "-q", "origin", "main"], cwd=repo, check=True)
    return _configure(rig_town, '[rigs.alpha]\nmerge_strategy = "pr"'), remote


def test_pr_mode_pushes_the_branch_and_says_gh_is_missing(
    pr_town: tuple[Town, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    town, remote = pr_town
    repo = Path(town.rigs.get("alpha").path)
    main_before = git_out(repo, "rev-parse", "main")
    _, mr_id = _done(town, "Add hello", {"hello.txt": "hello\n"})
    monkeypatch.setenv("PATH", str(_bin_without_gh(tmp_path)))
    actions = Refinery(town, "alpha").patrol()
    assert any("pushed" in a for a in actions), actions
    mr = _mr(town, mr_id)
    assert mr["state"] == "pushed" and mr["pushed_branch"] == mr["branch"]
    assert "gh is not installed" in mr["pr_note"]
    pushed = git_out(remote, "rev-parse", mr["branch"])
    assert git_out(remote, "show", f"{pushed}:hello.txt") == "hello"
    assert git_out(repo, "rev-parse", "main") == main_before, "main waits for the PR"
    assert Refinery(town, "alpha").patrol() == [], "pushed once"


GH = """#!/bin/sh
printf '%s\\n' "$@" > "$GH_ARGS_FILE"
echo https://example.invalid/pull/7
"""


def test_pr_mode_opens_a_pull_request_with_gh(
    pr_town: tuple[Town, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    town, _ = pr_town
    folder = _bin_without_gh(tmp_path)
    gh = folder / "gh"
    gh.write_text(GH)
    gh.chmod(0o755)
    args_file = tmp_path / "gh-args.txt"
    monkeypatch.setenv("GH_ARGS_FILE", str(args_file))
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.path.dirname(sys.executable)}")
    bead_id, mr_id = _done(town, "Add hello", {"hello.txt": "hello\n"})
    Refinery(town, "alpha").patrol()
    mr = _mr(town, mr_id)
    assert mr["pr_url"] == "https://example.invalid/pull/7"
    args = args_file.read_text().splitlines()
    assert args[:2] == ["pr", "create"] and mr["branch"] in args and "main" in args
    assert any(bead_id in a for a in args)


def test_bead_ids_in_upper_case_and_a_did_you_mean_for_typos(rig_town: Town) -> None:
    bead = rig_town.beads.create("Find me", rig="alpha")
    out = run_gt(rig_town, "bead", "show", bead.id.upper(), "--json")
    assert out.returncode == 0 and bead.id in out.stdout, out.stderr
    typo = bead.id[:-1] + ("x" if bead.id[-1] != "x" else "y")
    out = run_gt(rig_town, "bead", "show", typo)
    assert out.returncode == 2 and f"did you mean {bead.id}?" in out.stderr, out.stderr
    out = run_gt(rig_town, "bead", "close", bead.id.upper())
    assert out.returncode == 0, out.stderr
    assert rig_town.beads.get(bead.id).status == "closed"
