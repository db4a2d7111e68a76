"""A person's control of agents (gt polecat stop/kill/restart/pause/thaw/release), through real
tmux windows and real processes: no commit is ever lost, a paused agent is never "stalled"."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gastown_tui.dispatch.observe import observe
from gastown_tui.dispatch.sling import sling
from gastown_tui.supervise.witness import Witness
from gastown_tui.tmux import TownTmux
from gastown_tui.town.procs import process_state
from gastown_tui.town.town import Town
from tests.conftest import run_gt, snapshot_files, wait_until
from tests.polecat_fixtures import add_runtime, git_out

pytest_plugins = ["tests.polecat_fixtures"]

# A shell agent that survives an interrupt and says so, with a job in its own process group.
TRAPPER = (
    "trap 'echo INTERRUPTED' INT; set -m; sleep 1000 & echo job $!; set +m; echo up; "
    "while true; do sleep 0.2; done"
)


@pytest.fixture
def agent(rig_town: Town, tmux: TownTmux) -> tuple[str, str]:
    """A long-running shell agent on a hooked bead: (address, bead id)."""
    add_runtime(
        rig_town, "trapper", ["sh", "-c", TRAPPER], prompt="none", started=["up"], resumable=True
    )
    bead = rig_town.beads.create("Keep going", rig="alpha")
    result = sling(rig_town, tmux, bead.id, "alpha", runtime="trapper")
    return result.address, bead.id


def _pane_pid(tmux: TownTmux, address: str) -> int:
    info = tmux.find_window("gt-alpha", address.split("/")[1])
    assert info is not None and info.pane_pid
    return info.pane_pid


def _dirty(town: Town, address: str) -> Path:
    worktree = Path(town.polecats.get(address).worktree)
    (worktree / "unsaved.txt").write_text("work in progress\n")
    return worktree


def test_pause_stops_the_processes_and_the_witness_leaves_it_alone(
    rig_town: Town, tmux: TownTmux, agent: tuple[str, str]
) -> None:
    address, bead_id = agent
    info = tmux.find_window("gt-alpha", address.split("/")[1])
    assert info is not None
    job = int(
        wait_until(lambda: re.search(r"job (\d+)", tmux.capture(info.pane_id)), what="job").group(1)
    )
    out = run_gt(rig_town, "polecat", "pause", address)
    assert out.returncode == 0, out.stderr
    assert "paused" in out.stdout
    wait_until(lambda: process_state(job) == "T", what=f"the agent's job to stop: {out.stdout}")
    later = rig_town.clock.now() + 7200  # well past stalled and GUPP
    view = next(v for v in observe(rig_town, tmux, now=later) if v.address == address)
    assert view.state == "paused" and "thaw" in view.hint
    actions = Witness(rig_town, tmux, "alpha").patrol(now=later)
    assert not any(address in a for a in actions), actions
    assert rig_town.beads.get(bead_id).status in ("hooked", "in_progress")

    out = run_gt(rig_town, "polecat", "thaw", "--all")
    assert out.returncode == 0 and "resumed" in out.stdout, out.stderr
    wait_until(lambda: process_state(job) != "T", what="the agent's job to continue")
    assert "paused" not in rig_town.polecats.get(address).extra
    again = run_gt(rig_town, "polecat", "thaw", address)
    assert again.returncode == 2 and "not paused" in again.stderr


def test_stop_sends_the_interrupt_key_and_keeps_the_agent(
    rig_town: Town, tmux: TownTmux, agent: tuple[str, str]
) -> None:
    address, bead_id = agent
    pid = _pane_pid(tmux, address)
    out = run_gt(rig_town, "polecat", "stop", address)
    assert out.returncode == 0, out.stderr
    info = tmux.find_window("gt-alpha", address.split("/")[1])
    assert info is not None
    wait_until(lambda: "INTERRUPTED" in tmux.capture(info.pane_id), what="the interrupt")
    assert _pane_pid(tmux, address) == pid, "still the same process"
    assert rig_town.beads.get(bead_id).assignee == address


def test_kill_commits_first_and_keeps_the_hook_for_the_witness(
    rig_town: Town, tmux: TownTmux, agent: tuple[str, str]
) -> None:
    address, bead_id = agent
    worktree = _dirty(rig_town, address)
    out = run_gt(rig_town, "polecat", "kill", address)
    assert out.returncode == 0, out.stderr
    assert "witness restarts it" in out.stdout
    assert git_out(worktree, "status", "--porcelain") == ""
    assert "unsaved.txt" in git_out(worktree, "show", "--name-only", "--format=", "HEAD")
    assert tmux.find_window("gt-alpha", address.split("/")[1]) is None
    assert rig_town.beads.get(bead_id).assignee == address, "the hook is kept"
    actions = Witness(rig_town, tmux, "alpha").patrol()
    assert any("restarted" in a and bead_id in a for a in actions), actions


def test_restart_starts_a_new_process_on_the_same_hook(
    rig_town: Town, tmux: TownTmux, agent: tuple[str, str]
) -> None:
    address, bead_id = agent
    pid = _pane_pid(tmux, address)
    worktree = _dirty(rig_town, address)
    out = run_gt(rig_town, "polecat", "restart", address)
    assert out.returncode == 0, out.stderr
    assert _pane_pid(tmux, address) != pid
    assert git_out(worktree, "status", "--porcelain") == ""
    assert rig_town.beads.get(bead_id).assignee == address


def test_release_returns_the_bead_to_ready_and_keeps_the_branch(
    rig_town: Town, tmux: TownTmux, agent: tuple[str, str]
) -> None:
    address, bead_id = agent
    _dirty(rig_town, address)
    branch = rig_town.polecats.get(address).branch
    out = run_gt(rig_town, "polecat", "release", address, "--json")
    assert out.returncode == 0, out.stderr
    bead = rig_town.beads.get(bead_id)
    assert bead.status == "open" and bead.assignee is None
    assert branch and branch in bead.comments[-1].text
    repo = Path(rig_town.rigs.get("alpha").path)
    saved = git_out(repo, "rev-parse", branch)
    assert "unsaved.txt" in git_out(repo, "show", "--name-only", "--format=", saved)
    assert rig_town.polecats.get(address).state == "idle"
    assert tmux.find_window("gt-alpha", address.split("/")[1]) is None


def test_actions_on_an_agent_that_does_not_exist_are_exit_2(rig_town: Town, tmux: TownTmux) -> None:
    before = snapshot_files(rig_town.root)
    for action in ("stop", "kill", "restart", "pause", "thaw", "release"):
        out = run_gt(rig_town, "polecat", action, "alpha/ghost")
        assert out.returncode == 2, (action, out.stderr)
        assert out.stderr.startswith("gt: error: unknown agent") and out.stderr.count("\n") == 1
    out = run_gt(rig_town, "polecat", "pause")
    assert out.returncode == 2 and "AGENT or --all" in out.stderr
    assert snapshot_files(rig_town.root) == before
