"""kill -9 of `gt sling` at each step: afterwards the bead is untouched, or hooked with its
polecat visible as lacking a window (gt polecat list, gt status); resume_interrupted then
brings it to a running window. Nothing is ever invisible."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from gastown_tui.dispatch.observe import observe
from gastown_tui.dispatch.sling import resume_interrupted
from gastown_tui.tmux import TownTmux
from gastown_tui.town.town import Town
from tests import polecat_fixtures as pf
from tests.conftest import GtRunner, snapshot_files
from tests.polecat_fixtures import git_out, polecat_doc
from tests.tmux_helpers import real_tmux

polecat_env, tmux, reader = pf.polecat_env, pf.tmux, pf.reader

pytestmark = pytest.mark.tmux


def sling_and_kill(town: Town, bead_id: str, point: str) -> None:
    """Start `gt sling`, wait until it reports it paused at `point`, then SIGKILL it."""
    env = {
        **os.environ,
        "GT_TOWN": str(town.root),
        "GT_TEST_PAUSE_AT": point,
        "GT_TEST_PAUSE_SECONDS": "60",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "gastown_tui", "sling", bead_id, "alpha", "--agent", "reader"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert proc.stderr is not None
    deadline = time.monotonic() + 30
    seen = b""
    try:
        while b"GT_TEST_PAUSED" not in seen:
            left = deadline - time.monotonic()
            if left <= 0 or proc.poll() is not None:
                pytest.fail(f"gt sling never paused at {point}: {seen!r}")
            ready, _, _ = select.select([proc.stderr], [], [], left)
            if ready:
                seen += os.read(proc.stderr.fileno(), 4096)
        assert f"GT_TEST_PAUSED {point}".encode() in seen
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        proc.stdout.close()  # type: ignore[union-attr]
        proc.stderr.close()


@real_tmux
def test_kill_before_the_hook_leaves_everything_untouched(
    rig_town: Town, tmux: TownTmux, reader: Path
) -> None:
    bead = rig_town.beads.create("not yet", rig="alpha")
    before = snapshot_files(rig_town.root)
    sling_and_kill(rig_town, bead.id, "before_hook")
    assert snapshot_files(rig_town.root) == before
    assert rig_town.beads.get(bead.id).status == "open"
    assert tmux.list_windows() == []


@real_tmux
@pytest.mark.parametrize("point", ["after_hook", "after_worktree", "after_window"])
def test_kill_after_the_hook_is_visible_and_resumable(
    rig_town: Town, tmux: TownTmux, reader: Path, gt: GtRunner, point: str
) -> None:
    bead = rig_town.beads.create("interrupted", rig="alpha")
    sling_and_kill(rig_town, bead.id, point)

    hooked = rig_town.beads.get(bead.id)
    assert (hooked.status, hooked.assignee) == ("hooked", "alpha/furiosa")
    record = polecat_doc(rig_town, "alpha", "furiosa")
    assert record is not None and record["starting"]["bead"] == bead.id
    assert record.get("window") is None

    # gt status names it as lacking a window, with the way out.
    status = gt("status", "--json")
    assert status.returncode == 0, status.stderr
    summary = orjson.loads(status.stdout)["polecats"]
    assert [row["address"] for row in summary["no_window"]] == ["alpha/furiosa"]
    assert summary["no_window"][0]["bead"] == bead.id
    assert "gt polecat resume" in summary["no_window"][0]["hint"]
    assert f"gt sling --force {bead.id}" in summary["no_window"][0]["hint"]

    # gt polecat list (live) shows the same polecat in the same state, and says so.
    listing = gt("polecat", "list", "--json")
    assert listing.returncode == 0, listing.stderr
    [row] = orjson.loads(listing.stdout)
    assert summary["by_state"] == {row["state"]: 1}  # one live state everywhere
    assert row["address"] == "alpha/furiosa" and row["bead"]["id"] == bead.id
    assert "interrupted" in row["hint"]
    if point == "after_window":
        assert row["window"] is not None and row["window"]["alive"]
    else:
        assert row["state"] == "zombie" and row["window"] is None
    text = gt("polecat", "list")
    assert "furiosa" in text.stdout and "gt polecat resume" in text.stdout

    report = resume_interrupted(rig_town, tmux)
    assert [r.bead for r in report.resumed] == [bead.id] and not report.failed
    info = tmux.find_window("gt-alpha", "furiosa")
    assert info is not None and not info.pane_dead
    record = polecat_doc(rig_town, "alpha", "furiosa")
    assert record is not None and "starting" not in record
    assert record["state"] == "working" and record["window"] == "furiosa"
    worktree = rig_town.paths.polecat_dir("alpha", "furiosa")
    assert git_out(worktree, "rev-parse", "--abbrev-ref", "HEAD") == f"polecat/furiosa/{bead.id}"
    [view] = observe(rig_town, tmux)
    assert view.state == "working" and view.hint == ""
    assert orjson.loads(gt("status", "--json").stdout)["polecats"]["no_window"] == []
    # A second resume finds nothing left to do.
    again = resume_interrupted(rig_town, tmux)
    assert not again.resumed and not again.failed


@real_tmux
def test_gt_polecat_resume_command(
    rig_town: Town, tmux: TownTmux, reader: Path, gt: GtRunner
) -> None:
    bead = rig_town.beads.create("resume me", rig="alpha")
    sling_and_kill(rig_town, bead.id, "after_worktree")
    proc = gt("polecat", "resume")
    assert proc.returncode == 0, proc.stderr
    assert f"resumed {bead.id} on alpha/furiosa" in proc.stdout
    assert tmux.find_window("gt-alpha", "furiosa") is not None
    assert gt("polecat", "resume").stdout.strip() == "no interrupted slings"


@real_tmux
def test_resume_rolls_back_when_the_start_cannot_be_finished(
    rig_town: Town, tmux: TownTmux, reader: Path
) -> None:
    bead = rig_town.beads.create("cannot finish", rig="alpha")
    sling_and_kill(rig_town, bead.id, "after_hook")
    # The runtime disappears before the resume: the hook must not stay without an agent.
    toml = rig_town.paths.town_toml
    toml.write_text(toml.read_text().replace(sys.executable, "/nonexistent/python"))
    rig_town.__dict__.pop("config", None)
    report = resume_interrupted(rig_town, tmux)
    assert not report.resumed and [f.bead for f in report.failed] == [bead.id]
    after = rig_town.beads.get(bead.id)
    assert (after.status, after.assignee) == ("open", None)
    record = polecat_doc(rig_town, "alpha", "furiosa")
    assert record is not None and "starting" not in record and record["state"] == "idle"
