"""Supervision that recovers (issue 10): a stopped or hung lease holder is taken over, backoffs
and intervals run on the monotonic clock, a window is known by its identity, not its name, a
sling retries a tmux server that was exiting, and a sling that fails on a full disk is undone."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gastown_tui.dispatch.sling import sling
from gastown_tui.supervise.host import Supervisor
from gastown_tui.supervise.lease import SupervisorLease, current_holder
from gastown_tui.supervise.witness import Witness
from gastown_tui.tmux import TownTmux
from gastown_tui.town.clock import FakeClock
from gastown_tui.town.procs import process_state
from gastown_tui.town.storage.files import proc_flocks
from gastown_tui.town.town import Town
from tests.polecat_fixtures import add_runtime, wait_until

pytest_plugins = ["tests.polecat_fixtures"]


def _daemon(town: Town) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "gastown_tui", "--town", str(town.root), "daemon"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "GT_TMUX_CONF": os.devnull},
    )


def _stop_between_writes(town: Town, pid: int) -> None:
    """SIGSTOP `pid` at a moment it holds no lock but its supervisor lease: this test is about
    the lease. A process stopped inside a store write is another case (its lock's waiters are
    told who holds it: tests/test_store.py)."""
    lease = town.paths.supervisor_lock
    for _ in range(200):
        os.kill(pid, signal.SIGSTOP)
        # Stopped for sure (a signal lands when the process next runs), then look at its locks.
        wait_until(lambda: process_state(pid) == "T", what=f"process {pid} to stop")
        allowed = {p.stat().st_ino for p in lease.parent.glob(f"{lease.name}*")}
        if {inode for holder, _, _, inode in proc_flocks() if holder == pid} <= allowed:
            return
        os.kill(pid, signal.SIGCONT)
        time.sleep(0.01)
    raise AssertionError(f"process {pid} always held a store lock")


def _events(town: Town, kind: str) -> list:
    return [e for e in town.events.iter_all() if e.type == kind]


def test_a_stopped_supervisor_is_taken_over_with_a_warning(rig_town: Town, tmux: TownTmux) -> None:
    daemon = _daemon(rig_town)
    try:
        holder = wait_until(lambda: current_holder(rig_town), what="the daemon to supervise")
        assert holder.pid == daemon.pid
        _stop_between_writes(rig_town, daemon.pid)  # what Ctrl-Z does to the app
        env = {**os.environ, "GT_TMUX_CONF": os.devnull, "GT_TOWN": str(rig_town.root)}
        once = subprocess.run(
            [sys.executable, "-m", "gastown_tui", "daemon", "--once"],
            capture_output=True, text=True, env=env, timeout=120,
        )  # fmt: skip
        assert once.returncode == 0, once.stdout + once.stderr
        takeovers = _events(rig_town, "supervisor.takeover")
        assert len(takeovers) == 1 and f"pid {daemon.pid} is stopped" in takeovers[0].msg
        assert takeovers[0].extra.get("level") == "warning"
        # Resumed, the old holder sees it was taken over and steps down before patrolling.
        os.kill(daemon.pid, signal.SIGCONT)
        wait_until(
            lambda: any(
                str(daemon.pid) in e.msg for e in _events(rig_town, "supervisor.lost_lease")
            ),
            timeout=15,
            what="the resumed daemon to step down",
        )
    finally:
        os.kill(daemon.pid, signal.SIGCONT)
        daemon.kill()
        daemon.wait()


def test_a_holder_without_a_heartbeat_is_taken_over(town: Town) -> None:
    text = town.paths.town_toml.read_text()
    text = re.sub(r'lease_(stale|hung) = "\w+"', r'lease_\1 = "1s"', text)
    assert 'lease_stale = "1s"' in text and 'lease_hung = "1s"' in text
    town.paths.town_toml.write_text(text)
    first = SupervisorLease(Town.open(town.root), "app")
    second = SupervisorLease(Town.open(town.root), "daemon")
    assert first.try_acquire()
    assert not second.try_acquire(), "a live holder keeps the lease"
    # The first one's loop stops making progress (hung): after lease_hung its heartbeat
    # stops, and after lease_stale the other takes over.
    wait_until(second.try_acquire, timeout=15, what="the takeover of a hung holder")
    assert "heartbeat" in _events(town, "supervisor.takeover")[0].msg
    assert not first.try_acquire() and first.lost, "the hung one steps down when it wakes"
    holder = current_holder(town)
    assert holder is not None and holder.kind == "daemon"
    second.release()
    assert current_holder(town) is None


def test_patrol_intervals_ignore_a_wall_clock_step_back(rig_town: Town, tmux: TownTmux) -> None:
    clock = FakeClock(1_800_000_000.0)
    town = Town.open(rig_town.root, clock=clock)
    supervisor = Supervisor(town, tmux)
    assert "witness/alpha" in {r.name for r in supervisor.run_due()}
    clock.set(clock.now() - 3600)  # NTP, or a person, set the clock back an hour
    clock.advance(31)
    assert "witness/alpha" in {r.name for r in supervisor.run_due()}
    assert supervisor.next_due_in(clock.now()) <= 30


def test_restart_backoff_ignores_a_wall_clock_step_back(rig_town: Town, tmux: TownTmux) -> None:
    add_runtime(
        rig_town, "crasher", ["sh", "-c", "echo up; sleep 0.3; exit 3"], prompt="none", started="up"
    )
    clock = FakeClock(1_800_000_000.0)
    town = Town.open(rig_town.root, clock=clock)
    bead = town.beads.create("Doomed", rig="alpha")
    name = sling(town, tmux, bead.id, "alpha", runtime="crasher").address.split("/")[1]
    witness = Witness(town, tmux, "alpha")

    def dead() -> bool:
        """Dead, and tmux knows how (a patrol waits for that: WindowInfo, tmux/server.py)."""
        info = tmux.find_window("gt-alpha", name)
        return info is not None and info.pane_dead and not info.exit_pending

    wait_until(dead, what="the crasher to die")
    assert any("restarted" in a for a in witness.patrol(clock.now()))
    wait_until(dead, what="the crasher to die again")
    clock.set(clock.now() - 3600)
    clock.advance(31)  # past the 30 s backoff of the second restart, on the monotonic clock
    actions = witness.patrol(clock.now())
    assert any("restarted" in a for a in actions), actions


def test_a_renamed_window_is_still_its_agent(
    rig_town: Town, tmux: TownTmux, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gastown_tui.dispatch.observe import observe
    from gastown_tui.supervise import dogs

    monkeypatch.setenv("GT_DEMO_STEP", "30")  # it works on, slowly, all along
    bead = rig_town.beads.create("Keep at it", rig="alpha")
    result = sling(rig_town, tmux, bead.id, "alpha", runtime="demo")
    name = result.address.split("/")[1]
    tmux.run("rename-window", "-t", result.pane_id, "my-notes")
    assert [w.window for w in tmux.list_windows("gt-alpha")] == ["my-notes"]
    (view,) = observe(rig_town, tmux, rig="alpha")
    assert view.window is not None and view.window.pane_id == result.pane_id
    assert view.state != "zombie"
    actions = Witness(rig_town, tmux, "alpha").patrol()
    assert not any("restarted" in a for a in actions), actions
    dogs.gc(rig_town, tmux)
    windows = tmux.list_windows("gt-alpha")
    assert [(w.window, w.pane_id) for w in windows] == [("my-notes", result.pane_id)]
    assert tmux.find_window("gt-alpha", name) is not None


SHIM = """#!/bin/sh
# tmux, except that the first new-session meets a server that is exiting (what tmux says when
# the server goes away under it), once.
for arg in "$@"; do
  if [ "$arg" = new-session ] && [ ! -e "{marker}" ]; then
    : > "{marker}"
    echo "server exited unexpectedly" >&2
    exit 1
  fi
done
exec {tmux} "$@"
"""


def test_a_sling_retries_a_tmux_server_that_was_exiting(
    rig_town: Town, polecat_env: None, tmp_path: Path
) -> None:
    import shutil

    real = shutil.which("tmux")
    if real is None:
        pytest.skip("SKIPPED LOUDLY: tmux is not installed")
    marker = tmp_path / "exited-once"
    shim = tmp_path / "tmux-shim"
    shim.write_text(SHIM.format(marker=marker, tmux=real))
    shim.chmod(0o755)
    tmux = TownTmux(
        rig_town.paths.tmux_socket,
        rig_town.paths.locks,
        config_file=Path(os.devnull),
        tmux_bin=str(shim),
    )
    try:
        bead = rig_town.beads.create("Meet a dying server", rig="alpha")
        result = sling(rig_town, tmux, bead.id, "alpha", runtime="demo")
        assert marker.exists(), "the first start met the exiting server"
        assert tmux.find_window("gt-alpha", result.address.split("/")[1]) is not None
        assert rig_town.beads.get(bead.id).status in ("hooked", "in_progress", "closed")
    finally:
        tmux.kill_server()


def test_a_sling_on_a_full_disk_is_rolled_back_by_the_deacon(
    tmp_path: Path, polecat_env: None
) -> None:
    from gastown_tui.dispatch.tmuxfor import tmux_for
    from gastown_tui.supervise.deacon import Deacon
    from tests.conftest import make_git_repo
    from tests.test_recovery_data import fill

    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(disk)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"SKIPPED LOUDLY: cannot mount a tmpfs here: {mounted.stderr.decode()}")
    town = Town.init(disk / "town", name="full")
    tmux = tmux_for(town)
    try:
        town.rigs.add("alpha", str(make_git_repo(tmp_path / "repo")), prefix="al")
        bead = town.beads.create("Needs room", rig="alpha")
        go = tmp_path / "go"
        env = {
            **os.environ,
            "GT_TOWN": str(town.root),
            "GT_TEST_PAUSE_AT": "after_hook",
            "GT_TEST_PAUSE_UNTIL": str(go),
        }
        proc = subprocess.Popen(
            [sys.executable, "-m", "gastown_tui", "sling", bead.id, "alpha", "--agent", "demo"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )  # fmt: skip
        assert proc.stderr is not None
        assert "GT_TEST_PAUSED after_hook" in proc.stderr.readline()
        assert town.beads.get(bead.id).status == "hooked"
        fill(disk / "filler")  # the disk fills up while the sling makes the worktree
        go.touch()
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 1, out + err
        assert "Traceback" not in err and "internal error" not in err, err
        assert "deacon" in err, err
        (disk / "filler").unlink()  # room again
        actions = Deacon(town, tmux).patrol()
        after = town.beads.get(bead.id)
        assert any("rolled back" in a for a in actions), actions
        assert after.status == "open" and after.assignee is None, after.to_dict()
        assert not any(p.starting for p in town.polecats.list())
    finally:
        tmux.kill_server()
        subprocess.run(["umount", "-l", str(disk)], check=False)
