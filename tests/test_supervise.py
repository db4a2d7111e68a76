"""Supervision: the witness, deacon, refinery and dogs over real tmux and git, timed by a fake
clock; the supervisor lease across real processes."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from gastown_tui.dispatch.agents import peek
from gastown_tui.dispatch.observe import observe
from gastown_tui.dispatch.sling import sling
from gastown_tui.supervise import dogs
from gastown_tui.supervise.deacon import Deacon
from gastown_tui.supervise.host import Supervisor
from gastown_tui.supervise.lease import SupervisorLease, current_holder
from gastown_tui.supervise.notify import Notifier
from gastown_tui.supervise.refinery import Refinery, failed_merges
from gastown_tui.supervise.witness import Witness, backoff_delay
from gastown_tui.tmux import TownTmux, WindowInfo
from gastown_tui.town.clock import FakeClock
from gastown_tui.town.paths import session_for
from gastown_tui.town.town import Town
from tests.polecat_fixtures import add_runtime, git_out, set_town_env, wait_until

pytest_plugins = ["tests.polecat_fixtures"]

PANES = Path(__file__).parent / "data" / "panes"


def pane_dead(tmux: TownTmux, rig: str, name: str) -> bool:
    """Dead, and tmux knows how it ended: a patrol waits for that (exit_pending, WindowInfo in
    tmux/server.py)."""
    info = tmux.find_window(session_for(rig), name)
    return info is not None and info.pane_dead and not info.exit_pending


def inbox_subjects(town: Town, address: str) -> list[str]:
    return [m.subject for m in town.mail.inbox(address)]


def test_backoff_doubles_from_the_second_restart_and_is_capped() -> None:
    assert [backoff_delay(n, 30, 600) for n in range(7)] == [0, 30, 60, 120, 240, 480, 600]


def test_kill_9_of_a_working_demo_agent_is_restarted_on_the_same_hook(
    rig_town: Town, tmux: TownTmux, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GT_DEMO_STEP", "0.6")
    bead = rig_town.beads.create("Survive a kill", rig="alpha")
    result = sling(rig_town, tmux, bead.id, "alpha", runtime="demo")
    worktree = Path(rig_town.polecats.get(result.address).worktree)
    # Wait for the agent's own commit, then kill it before it can call `gt done`.
    wait_until(
        lambda: "notes by DEMO AGENT" in git_out(worktree, "log", "-1", "--format=%s"),
        timeout=20,
        what="the demo agent's commit",
    )
    first_commit = git_out(worktree, "rev-parse", "HEAD")
    info = tmux.find_window("gt-alpha", result.address.split("/")[1])
    assert info is not None and info.pane_pid
    os.kill(info.pane_pid, signal.SIGKILL)
    wait_until(lambda: pane_dead(tmux, "alpha", info.window), what="the pane to die")
    assert rig_town.beads.get(bead.id).status == "hooked", "the hook outlives its agent"

    actions = Witness(rig_town, tmux, "alpha").patrol()
    assert any("restarted" in a and bead.id in a for a in actions), actions
    again = tmux.find_window("gt-alpha", info.window)
    assert again is not None and not again.pane_dead and again.pane_pid != info.pane_pid
    wait_until(
        lambda: rig_town.beads.get(bead.id).status == "closed",
        timeout=30,
        what="the restarted agent to finish",
    )
    assert (
        subprocess.run(
            ["git", "merge-base", "--is-ancestor", first_commit, "HEAD"], cwd=worktree
        ).returncode
        == 0
    ), "the commit made before the kill is still on the branch"
    polecat = rig_town.polecats.get(result.address)
    assert [r["crash"] for r in polecat.restarts] == [True]
    assert any(e.type == "witness.restarted" for e in rig_town.events.iter_all())
    # The feed says who restarted it: the witness, not a sling by the overseer.
    starts = [
        e
        for e in rig_town.events.iter_all()
        if e.type.startswith("polecat.")
        and e.bead == bead.id
        and e.type in ("polecat.slung", "polecat.restarted")
    ]
    assert [(e.type, e.actor) for e in starts] == [
        ("polecat.slung", "overseer"),
        ("polecat.restarted", "alpha/witness"),
    ]


def test_crash_loop_backs_off_then_stops_and_reports_once(rig_town: Town, tmux: TownTmux) -> None:
    # Lives past sling's start-up check, then dies with status 3: every time.
    add_runtime(
        rig_town, "crasher", ["sh", "-c", "echo up; sleep 0.3; exit 3"], prompt="none", started="up"
    )
    clock = FakeClock(1_800_000_000.0)
    town = Town.open(rig_town.root, clock=clock)
    bead = town.beads.create("Doomed", rig="alpha")
    result = sling(town, tmux, bead.id, "alpha", runtime="crasher")
    name = result.address.split("/")[1]
    witness = Witness(town, tmux, "alpha")
    start = clock.now()
    restarted_at: list[float] = []
    for _ in range(40):
        wait_until(lambda: pane_dead(tmux, "alpha", name), what="the crasher to die")
        actions = witness.patrol(clock.now())
        if any("restarted" in a for a in actions):
            restarted_at.append(clock.now() - start)
        if any("crash loop" in a for a in actions):
            break
        clock.advance(30)  # the witness interval
    else:
        pytest.fail(f"no crash loop declared; restarts at {restarted_at}")
    # Restarts spaced by the backoff: 0 s, then 30 s, 60 s, 120 s, 240 s after the previous.
    assert restarted_at == [0, 30, 90, 210, 450]
    after = town.beads.get(bead.id)
    assert after.status == "open" and after.assignee is None, "the bead is back to ready"
    assert "crash loop" in after.comments[-1].text
    assert bead.id in [b.id for b in town.beads.ready()]
    # Another patrol, and another after a while: nothing more is sent or restarted.
    clock.advance(600)
    assert not any("restarted" in a for a in witness.patrol(clock.now()))
    for address in ("mayor", "overseer"):
        subjects = inbox_subjects(town, address)
        assert sum("crash loop" in s for s in subjects) == 1, (address, subjects)
    # Its last output was kept before any window closed, and the mail quotes it.
    [mail] = [m for m in town.mail.inbox("overseer") if "crash loop" in m.subject]
    assert "Its last output" in mail.body and "    up" in mail.body
    tmux.kill_window("gt-alpha", name)
    assert "up" in peek(town, tmux, f"alpha/{name}")


def test_a_clean_exit_is_not_counted_as_a_crash(rig_town: Town, tmux: TownTmux) -> None:
    add_runtime(rig_town, "quitter", ["sh", "-c", "sleep 0.3; exit 0"], prompt="none")
    clock = FakeClock(1_800_000_000.0)
    town = Town.open(rig_town.root, clock=clock)
    bead = town.beads.create("Gives up politely", rig="alpha")
    name = sling(town, tmux, bead.id, "alpha", runtime="quitter").address.split("/")[1]
    witness = Witness(town, tmux, "alpha")
    for _ in range(8):
        wait_until(lambda: pane_dead(tmux, "alpha", name), what="the agent to exit")
        witness.patrol(clock.now())
        clock.advance(700)  # past any backoff
    polecat = town.polecats.get(f"alpha/{name}")
    assert polecat.restarts and not any(r["crash"] for r in polecat.restarts)
    assert town.beads.get(bead.id).status == "hooked", "no crash loop for clean exits"


def sling_a_lingerer(
    rig_town: Town, tmux: TownTmux, go: Path
) -> tuple[Town, FakeClock, str, Callable[[], WindowInfo | None]]:
    """A polecat whose agent closes its terminal, lives on and exits 0 once `go` exists: its
    pane is dead with its exit pending (tmux/server.py WindowInfo.exit_pending) for as long
    as a test needs. Returns the town on a fake clock, the clock, the address and a look at
    its window."""
    script = (
        "sleep 0.3; trap '' HUP; exec </dev/null >/dev/null 2>&1;"
        f" while [ ! -e {shlex.quote(str(go))} ]; do sleep 0.02; done; exit 0"
    )
    add_runtime(rig_town, "lingerer", ["sh", "-c", script], prompt="none")
    clock = FakeClock(1_800_000_000.0)
    town = Town.open(rig_town.root, clock=clock)
    bead = town.beads.create("Leaves quietly", rig="alpha")
    address = sling(town, tmux, bead.id, "alpha", runtime="lingerer").address

    def window() -> WindowInfo | None:
        return tmux.find_window(session_for("alpha"), address.split("/")[1])

    return town, clock, address, window


def test_a_dead_pane_whose_exit_is_not_known_yet_is_left_for_the_next_patrol(
    rig_town: Town, tmux: TownTmux, tmp_path: Path
) -> None:
    """tmux marks a pane dead when its terminal closes, before it reaps the process and learns
    its status. A patrol in between must not count a clean exit as a crash."""
    go = tmp_path / "go"
    town, clock, address, window = sling_a_lingerer(rig_town, tmux, go)
    witness = Witness(town, tmux, "alpha")
    dead = wait_until(lambda: (w := window()) and w.pane_dead and w, what="the pane to die")
    assert dead.exit_pending and dead.dead_status is None
    witness.patrol(clock.now())
    assert town.polecats.get(address).restarts == [], "nothing done before the exit is known"

    go.touch()
    wait_until(lambda: (w := window()) and not w.exit_pending, what="tmux to learn the exit")
    witness.patrol(clock.now())
    restarts = town.polecats.get(address).restarts
    assert restarts and not any(r["crash"] for r in restarts), "a clean exit, restarted"


def test_a_dead_pane_whose_process_lives_on_is_acted_on_after_a_grace(
    rig_town: Town, tmux: TownTmux, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process that closed its terminal and lives on keeps its exit pending for good: the
    witness waits EXIT_PENDING_GRACE for it, not for ever (here the grace is over at once)."""
    from gastown_tui.supervise import witness as witness_mod

    go = tmp_path / "go"
    town, clock, address, window = sling_a_lingerer(rig_town, tmux, go)
    try:
        wait_until(
            lambda: (w := window()) and w.exit_pending,
            what="the pane to die with its process still there",
        )
        monkeypatch.setattr(witness_mod, "EXIT_PENDING_GRACE", 0.0)
        Witness(town, tmux, "alpha").patrol(clock.now())
        assert town.polecats.get(address).restarts, "acted on once the grace is over"
    finally:
        go.touch()


def test_a_recorded_claude_permission_prompt_is_waiting_and_told_once(
    rig_town: Town, tmux: TownTmux, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A stand-in `claude` executable that shows a recorded Claude Code permission prompt: the
    # real `claude` preset (its command and its waiting patterns) is what is under test.
    bindir = tmp_path / "bin"
    bindir.mkdir()
    fake = bindir / "claude"
    screen = shlex.quote(str(PANES / "claude_permission.txt"))  # the clone's path may hold a space
    fake.write_text(f"#!/bin/sh\ncat {screen}\nread answer\nsleep 3600\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    # This test machine is a sandbox (and may be root, where Claude Code wants IS_SANDBOX).
    set_town_env(rig_town, IS_SANDBOX="1")
    bead = rig_town.beads.create("Delete the build dir", rig="alpha")
    result = sling(rig_town, tmux, bead.id, "alpha", runtime="claude")
    wait_until(
        lambda: any(v.state == "waiting" for v in observe(rig_town, tmux, rig="alpha")),
        what="the waiting state",
    )
    shown: list[str] = []
    notifier = Notifier(tmux, sinks=[lambda text, severity: shown.append(text)])
    witness = Witness(rig_town, tmux, "alpha", notifier)
    witness.patrol()
    witness.patrol()
    assert len(shown) == 1 and result.address in shown[0] and "waiting" in shown[0]
    assert "Do you want to proceed?" in shown[0]  # the notice says what it waits for
    waits = [e for e in rig_town.events.iter_all() if e.type == "witness.waiting"]
    assert len(waits) == 1
    # A second witness (a new supervisor after a restart) does not tell again.
    Witness(rig_town, tmux, "alpha", notifier).patrol()
    assert len(shown) == 1


def test_gc_touches_only_what_the_town_owns_and_never_unmerged_work(
    rig_town: Town, tmux: TownTmux
) -> None:
    bead = rig_town.beads.create("Quick job", rig="alpha")
    result = sling(rig_town, tmux, bead.id, "alpha", runtime="demo")
    name = result.address.split("/")[1]
    wait_until(lambda: rig_town.beads.get(bead.id).status == "closed", timeout=30, what="done")
    wait_until(lambda: pane_dead(tmux, "alpha", name), what="the agent to exit")
    # Things that are not the town's, or not safe to remove:
    tmux.run("new-session", "-d", "-s", "mine", "sleep 3600")
    tmux.run("new-window", "-d", "-t", "=gt-alpha:", "-n", "notes", "sleep 3600")
    repo = Path(rig_town.rigs.get("alpha").path)
    gone = rig_town.paths.polecat_dir("alpha", "oldtimer")
    subprocess.run(
        ["git", "worktree", "add", "-q", "-b", "old/work", str(gone)], cwd=repo, check=True
    )
    (gone / "unmerged.txt").write_text("precious")
    subprocess.run(["git", "add", "-A"], cwd=gone, check=True)
    subprocess.run(["git", "commit", "-qm", "precious work"], cwd=gone, check=True)
    merged = rig_town.paths.polecat_dir("alpha", "retired")
    subprocess.run(
        ["git", "worktree", "add", "-q", "-b", "old/done", str(merged)], cwd=repo, check=True
    )

    actions = dogs.gc(rig_town, tmux)
    assert tmux.find_window("gt-alpha", name) is None, "the idle polecat's dead window is gone"
    assert "mine" in tmux.query("list-sessions", "-F", "#{session_name}"), "foreign session kept"
    assert tmux.find_window("gt-alpha", "notes") is not None, "a window that is not a polecat's"
    assert gone.exists() and (gone / "unmerged.txt").exists(), actions
    assert any("kept worktree" in a and "oldtimer" in a for a in actions)
    assert not merged.exists(), "a fully merged worktree of a removed polecat is cleaned up"


def test_the_deacon_lands_a_convoy_nobody_saw_close(rig_town: Town, tmux: TownTmux) -> None:
    beads = [rig_town.beads.create(f"part {n}", rig="alpha") for n in range(2)]
    convoy = rig_town.convoys.create("Batch", [b.id for b in beads])
    silent = Town.open(rig_town.root)
    silent.close_listeners.clear()  # as if the closing process died before checking
    for bead in beads:
        silent.beads.close(bead.id, reason="done")
    assert rig_town.convoys.get(convoy.id).landed_at is None
    actions = Deacon(rig_town, tmux).patrol()
    assert any(convoy.id in a and "landed" in a for a in actions)
    assert rig_town.convoys.get(convoy.id).landed_at is not None
    assert Deacon(rig_town, tmux).patrol() == [], "a landing happens once"


def test_the_deacon_feeds_auto_convoys_and_flags_old_hooks(
    rig_town: Town, tmux: TownTmux, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GT_DEMO_STEP", "5")  # keep the fed bead on its hook for a while
    toml = rig_town.paths.town_toml
    toml.write_text(
        toml.read_text().replace('default_runtime = "claude"', 'default_runtime = "demo"')
    )
    clock = FakeClock(1_800_000_000.0)
    town = Town.open(rig_town.root, clock=clock)
    ready = town.beads.create("Feed me", rig="alpha")
    convoy = town.convoys.create("Auto batch", [ready.id], auto=True)
    actions = Deacon(town, tmux).patrol()
    assert any("fed convoy" in a and ready.id in a for a in actions), actions
    fed = town.beads.get(ready.id)
    assert fed.status == "hooked" and fed.assignee
    assert ready.id in town.convoys.get(convoy.id).beads
    assert not any("fed convoy" in a for a in Deacon(town, tmux).patrol()), "fed once"
    clock.advance(2 * 3600)
    deacon = Deacon(town, tmux)
    assert any("hook for" in a and ready.id in a for a in deacon.patrol())
    assert not any("hook for" in a for a in deacon.patrol()), "flagged once"


def _done_branch(town: Town, tmux: TownTmux, title: str, files: dict[str, str]) -> str:
    """A polecat that committed `files` and called gt done; returns the bead id."""
    from tests.polecat_fixtures import hook_without_window

    bead = town.beads.create(title, rig="alpha")
    address = hook_without_window(town, bead.id)
    worktree = Path(town.polecats.get(address).worktree)
    for name, text in files.items():
        (worktree / name).write_text(text)
    from gastown_tui.town.work import complete

    complete(town, address)
    return bead.id


def test_the_refinery_merges_done_work_into_main(rig_town: Town, tmux: TownTmux) -> None:
    bead_id = _done_branch(rig_town, tmux, "Add hello", {"hello.txt": "hello\n"})
    repo = Path(rig_town.rigs.get("alpha").path)
    actions = Refinery(rig_town, "alpha").patrol()
    assert any("merged" in a for a in actions), actions
    assert (repo / "hello.txt").read_text() == "hello\n"
    assert git_out(repo, "branch", "--show-current") == "main"
    mr = next(iter(rig_town.storage.merge_requests.docs("alpha")))
    assert mr["status"] == "merged" and mr["bead"] == bead_id
    assert Refinery(rig_town, "alpha").patrol() == [], "nothing merged twice"


def test_a_conflict_sends_the_bead_back_and_keeps_the_branch(
    rig_town: Town, tmux: TownTmux
) -> None:
    first = _done_branch(rig_town, tmux, "Readme one", {"README.md": "# one\n"})
    second = _done_branch(rig_town, tmux, "Readme two", {"README.md": "# two\n"})
    Refinery(rig_town, "alpha").patrol()
    mrs = {m["bead"]: m for m in rig_town.storage.merge_requests.docs("alpha")}
    assert mrs[first]["status"] == "merged"
    assert mrs[second]["status"] == "failed" and mrs[second]["failure"] == "conflict"
    back = rig_town.beads.get(second)
    assert back.status == "open" and "rework" in back.labels
    assert "REWORK" in back.comments[-1].text
    repo = Path(rig_town.rigs.get("alpha").path)
    assert git_out(repo, "rev-parse", mrs[second]["branch"]) == mrs[second]["commit"]
    assert [m["bead"] for m in failed_merges(rig_town)] == [second]
    polecat = mrs[second]["polecat"]
    assert any(s.startswith("REWORK_REQUEST") for s in inbox_subjects(rig_town, polecat))


def test_a_failing_verify_blocks_the_merge(rig_town: Town, tmux: TownTmux) -> None:
    path = rig_town.paths.town_toml
    path.write_text(path.read_text() + '\n[rigs.alpha]\nverify = "test ! -e broken.txt"\n')
    town = Town.open(rig_town.root)
    bead_id = _done_branch(town, tmux, "Break it", {"broken.txt": "oops\n"})
    Refinery(town, "alpha").patrol()
    repo = Path(town.rigs.get("alpha").path)
    assert not (repo / "broken.txt").exists(), "main never gets unverified work"
    mr = next(iter(town.storage.merge_requests.docs("alpha")))
    assert mr["status"] == "failed" and mr["failure"] == "verify_failed"
    assert town.beads.get(bead_id).status == "open"


def test_recovery_at_start_restarts_polecats_whose_windows_are_gone(
    rig_town: Town, tmux: TownTmux, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GT_DEMO_STEP", "5")
    bead = rig_town.beads.create("Outlive a reboot", rig="alpha")
    result = sling(rig_town, tmux, bead.id, "alpha", runtime="demo")
    tmux.kill_server()  # what a reboot does to every window
    assert rig_town.beads.get(bead.id).status == "hooked"
    actions = Supervisor(rig_town, tmux).recover()
    assert any("restarted" in a and result.address in a for a in actions), actions
    info = tmux.find_window("gt-alpha", result.address.split("/")[1])
    assert info is not None and not info.pane_dead


def test_one_lease_per_town(town: Town) -> None:
    first, second = SupervisorLease(town, "app"), SupervisorLease(town, "daemon")
    assert first.try_acquire()
    assert not second.try_acquire()
    holder = current_holder(town)
    assert holder is not None and holder.pid == os.getpid() and holder.kind == "app"
    first.release()
    assert current_holder(town) is None
    assert second.try_acquire()
    second.release()


def _daemon(town: Town) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "gastown_tui", "--town", str(town.root), "daemon"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "GT_TMUX_CONF": os.devnull},
    )


def test_two_daemons_one_patrols_and_the_other_takes_over_when_it_dies(
    rig_town: Town, tmux: TownTmux
) -> None:
    procs = [_daemon(rig_town), _daemon(rig_town)]
    try:
        # Between taking the lock and writing its status file a holder is still "unknown".
        holder = wait_until(
            lambda: (h := current_holder(rig_town)) and h.pid and h, what="a supervisor"
        )
        pids = {p.pid for p in procs}
        assert holder.pid in pids and holder.kind == "daemon"
        survivor = next(p for p in procs if p.pid != holder.pid)
        os.kill(holder.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        taken = wait_until(
            lambda: (h := current_holder(rig_town)) and h.pid == survivor.pid and h,
            timeout=10,
            what="the other daemon to take over",
        )
        assert taken.pid == survivor.pid
        assert time.monotonic() - killed_at < 3.0, "within one interval (1 s tick)"
        starts = [e for e in rig_town.events.iter_all() if e.type == "supervisor.started"]
        assert [e.extra["pid"] for e in starts] == [holder.pid, survivor.pid]
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()


def test_daemon_once_runs_every_patrol_and_refuses_when_supervised(
    rig_town: Town, tmux: TownTmux
) -> None:
    env = {**os.environ, "GT_TMUX_CONF": os.devnull, "GT_TOWN": str(rig_town.root)}
    once = subprocess.run(
        [sys.executable, "-m", "gastown_tui", "daemon", "--once"],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert once.returncode == 0, once.stdout + once.stderr
    assert "supervising" in once.stdout
    lease = SupervisorLease(rig_town, "app")
    assert lease.try_acquire()
    try:
        refused = subprocess.run(
            [sys.executable, "-m", "gastown_tui", "daemon", "--once"],
            capture_output=True, text=True, env=env, timeout=60,
        )  # fmt: skip
        assert refused.returncode == 1
        assert f"supervised by app pid {os.getpid()}" in refused.stderr
    finally:
        lease.release()


def test_a_failing_patrol_is_reported_and_does_not_stop_the_others(
    rig_town: Town, tmux: TownTmux
) -> None:
    supervisor = Supervisor(rig_town, tmux)
    patrols = {p.name: p for p in supervisor.patrols()}

    def boom(now: float) -> list[str]:
        raise RuntimeError("disk on fire")

    patrols["deacon"].run = boom
    results = {r.name: r for r in supervisor.run_all()}
    assert results["deacon"].error == "RuntimeError: disk on fire"
    assert results["witness/alpha"].error is None
    assert supervisor.status()["deacon"]["error"] == "RuntimeError: disk on fire"
    assert any(e.type == "supervisor.patrol_failed" for e in rig_town.events.iter_all())


def test_supervisor_schedule_follows_the_intervals(rig_town: Town, tmux: TownTmux) -> None:
    clock = FakeClock(1_800_000_000.0)
    town = Town.open(rig_town.root, clock=clock)
    supervisor = Supervisor(town, tmux)
    first = {r.name for r in supervisor.run_due()}
    assert {"witness/alpha", "refinery/alpha", "deacon", "dog/backup"} <= first
    clock.advance(31)
    due = {r.name for r in supervisor.run_due()} - {"notify", "mayor"}  # every 2 s
    assert due == {"witness/alpha", "refinery/alpha"}
    clock.advance(30)
    assert "deacon" in {r.name for r in supervisor.run_due()}
    assert supervisor.overdue()["witness/alpha"] is None
    clock.advance(500)
    assert supervisor.overdue()["witness/alpha"] == pytest.approx(500, abs=1)


def test_gt_up_supervises_from_the_towns_tmux_and_gt_down_leaves_agents_running(
    rig_town: Town, tmux: TownTmux, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.conftest import run_gt

    monkeypatch.setenv("GT_DEMO_STEP", "30")  # the agent is still working when we stop
    bead = rig_town.beads.create("Keep going", rig="alpha")
    result = sling(rig_town, tmux, bead.id, "alpha", runtime="demo")
    up = run_gt(rig_town, "up")
    assert up.returncode == 0, up.stderr
    holder = current_holder(rig_town)
    assert holder is not None and holder.kind == "daemon"
    assert tmux.find_window("gt-hq", "daemon") is not None, "it runs in the town's tmux"
    again = run_gt(rig_town, "up")
    assert again.returncode == 0 and f"pid {holder.pid}" in again.stdout
    down = run_gt(rig_town, "down")
    assert down.returncode == 0 and "agents keep running" in down.stdout
    assert current_holder(rig_town) is None
    info = tmux.find_window("gt-alpha", result.address.split("/")[1])
    assert info is not None and not info.pane_dead, "stopping supervision never stops agents"
    assert run_gt(rig_town, "down").stdout.strip() == "no supervisor is running"


def test_the_refinery_says_what_git_said_when_it_has_no_identity(
    rig_town: Town, tmux: TownTmux, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bead_id = _done_branch(rig_town, tmux, "Add notes", {"notes.txt": "notes\n"})
    repo = Path(rig_town.rigs.get("alpha").path)
    (repo / "other.txt").write_text("main moved on\n")
    git_out(repo, "add", "-A")
    git_out(repo, "commit", "-q", "-m", "main moves: the rebase must rewrite the branch")
    # Now the machine has no git identity at all (a fresh container).
    for name in (
        "GIT_AUTHOR_NAME",
        "GIT_AUTHOR_EMAIL",
        "GIT_COMMITTER_NAME",
        "GIT_COMMITTER_EMAIL",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "empty-gitconfig"))
    monkeypatch.setenv("EMAIL", "")
    monkeypatch.setenv("HOME", str(tmp_path / "nohome"))
    for key in ("user.name", "user.email"):
        subprocess.run(["git", "config", "--unset", key], cwd=repo, check=False)
    actions = Refinery(rig_town, "alpha").patrol()
    assert any("no identity" in a for a in actions), actions
    assert not any("conflict" in a for a in actions)
    mr = next(iter(rig_town.storage.merge_requests.docs("alpha")))
    assert mr["status"] != "failed" and "no identity" in mr["blocked_by"]  # still queued
    assert rig_town.beads.get(bead_id).status == "closed"  # untouched: not the polecat's doing
    assert sum(s.startswith("MERGE_BLOCKED") for s in inbox_subjects(rig_town, "overseer")) == 1
    Refinery(rig_town, "alpha").patrol()  # told once, not every patrol
    assert sum(s.startswith("MERGE_BLOCKED") for s in inbox_subjects(rig_town, "overseer")) == 1


VIEWER_PROBE = """
import sys
from gastown_tui.supervise.loop import SupervisorLoop
from gastown_tui.dispatch.tmuxfor import tmux_for
from gastown_tui.town.town import Town
from gastown_tui.views.queries import preload

class Quiet:
    def took_over(self, pid): print("took over")
    def recovered(self, actions): pass
    def stepped_down(self, reason): pass
    def viewer(self, holder): print("viewer of", holder.kind)

town = Town.open(sys.argv[1])
preload(town, supervise=True)
loop = SupervisorLoop(town, tmux_for(town), "app", report=Quiet(), serve_commands=False)
print("holding" if loop.step() else "not holding")
print("patrols imported:", "gastown_tui.supervise.host" in sys.modules)
loop.close()
"""


def test_a_viewer_imports_no_patrols_until_it_takes_the_lease(rig_town: Town) -> None:
    """An app opened while a daemon supervises (supervise/loop.py, views/queries.py preload)
    holds none of the patrols' code; once the lease is free it builds them and supervises."""
    env = {**os.environ, "GT_TMUX_CONF": os.devnull}
    probe = [sys.executable, "-c", VIEWER_PROBE, str(rig_town.root)]
    lease = SupervisorLease(rig_town, "daemon")
    assert lease.try_acquire()
    try:
        viewer = subprocess.run(probe, capture_output=True, text=True, env=env, timeout=60)
    finally:
        lease.release()
    assert viewer.returncode == 0, viewer.stderr
    assert viewer.stdout.splitlines() == [
        "viewer of daemon",
        "not holding",
        "patrols imported: False",
    ]
    holder = subprocess.run(probe, capture_output=True, text=True, env=env, timeout=60)
    assert holder.returncode == 0, holder.stderr
    assert holder.stdout.splitlines() == ["took over", "holding", "patrols imported: True"]
