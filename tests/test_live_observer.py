"""The town's one observer (dispatch/live.py) on a real tmux server: it learns of output from
tmux control mode, reads only the panes that changed, keeps `.runtime/live.json` for
`gt polecat list` and the app, survives its control client being killed and the server
restarting, leaves no process behind, and folds in the agents' own hook signals."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gastown_tui.dispatch.live import LiveObserver, live_path, read_live
from gastown_tui.dispatch.observe import PolecatView, observe
from gastown_tui.dispatch.sling import sling
from gastown_tui.runtimes.demo_agent import ASK_LINE
from gastown_tui.supervise.host import Supervisor
from gastown_tui.supervise.notify import Notifier, ring_bell
from gastown_tui.tmux import TownTmux, WindowInfo
from gastown_tui.town.procs import pid_alive
from gastown_tui.town.town import Town
from tests.conftest import run_gt, wait_until
from tests.tmux_helpers import real_tmux

pytest_plugins = ["tests.polecat_fixtures"]

SEEN_WITHIN = 2.0  # issue 12: a waiting agent is seen within two seconds


@pytest.fixture
def slow_demo(monkeypatch: pytest.MonkeyPatch, tmux: TownTmux) -> None:
    """Demo agents that stay at their first step (reading typed lines) for the whole test."""
    monkeypatch.setenv("GT_DEMO_STEP", "3600")


@pytest.fixture
def observer(rig_town: Town, tmux: TownTmux) -> Iterator[LiveObserver]:
    obs = LiveObserver(rig_town, tmux)
    yield obs
    pids = obs.client_pids()
    obs.stop()
    # Nothing left behind: every control client is gone and reaped.
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists(), f"control client {pid} leaked"
    assert not live_path(rig_town).exists(), "a stopped observer leaves no state to trust"


def start_demo(town: Town, tmux: TownTmux, title: str) -> tuple[str, str]:
    """Sling a demo agent; wait until it pauses at its first step. (address, pane id)."""
    bead = town.beads.create(title, rig="alpha")
    result = sling(town, tmux, bead.id, "alpha", runtime="demo")
    address = result.address
    name = address.split("/", 1)[1]
    info = wait_until(lambda: tmux.find_window("gt-alpha", name), what="its window")
    wait_until(lambda: "[1/6]" in tmux.capture(info.pane_id, 60), what="the demo agent to start")
    return address, info.pane_id


def view_of(town: Town, tmux: TownTmux, address: str) -> PolecatView:
    return next(v for v in observe(town, tmux) if v.address == address)


def state_from_file(town: Town, tmux: TownTmux, address: str) -> str:
    """The state as a reader of live.json gets it (no tmux call of its own)."""
    assert read_live(town, tmux.socket_name) is not None, "no live.json: " + (
        live_path(town).read_text() if live_path(town).exists() else "missing"
    )
    return view_of(town, tmux, address).state


@real_tmux
def test_a_demo_agent_that_starts_waiting_is_seen_within_two_seconds(
    rig_town: Town, tmux: TownTmux, slow_demo: None, observer: LiveObserver
) -> None:
    address, pane = start_demo(rig_town, tmux, "Open the vault")
    observer.start()
    assert observer.ready.wait(5)
    wait_until(lambda: state_from_file(rig_town, tmux, address) == "working", what="working")
    captures = observer.captures
    started = time.monotonic()
    tmux.send_literal(pane, ASK_LINE)
    tmux.send_enter(pane)
    wait_until(
        lambda: state_from_file(rig_town, tmux, address) == "waiting",
        timeout=10,
        what="the observer to see it waiting",
    )
    seen = time.monotonic() - started
    assert seen < SEEN_WITHIN, f"seen waiting after {seen:.2f}s"
    view = view_of(rig_town, tmux, address)
    assert view.prompt is not None and view.prompt.question == "Do you want to proceed?"
    assert [c.label for c in view.prompt.choices] == ["Yes", "No"]
    # Only the pane that printed was read again (a handful of reads, not one per tick).
    assert observer.captures - captures <= 4
    # `gt polecat list` (another process) shows what the observer saw.
    out = run_gt(rig_town, "polecat", "list", "--json")
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    rows = rows["polecats"] if isinstance(rows, dict) else rows
    assert [r["state"] for r in rows if r["address"] == address] == ["waiting"]
    # Answered: working again, seen as quickly.
    tmux.send_literal(pane, "1")
    tmux.send_enter(pane)
    wait_until(
        lambda: state_from_file(rig_town, tmux, address) == "working",
        timeout=SEEN_WITHIN,
        what="the answer to end the wait",
    )


@real_tmux
def test_a_killed_agent_and_a_closed_window_are_seen_dead(
    rig_town: Town, tmux: TownTmux, slow_demo: None, observer: LiveObserver
) -> None:
    first, _ = start_demo(rig_town, tmux, "First")
    second, _ = start_demo(rig_town, tmux, "Second")
    observer.start()
    assert observer.ready.wait(5)
    wait_until(lambda: state_from_file(rig_town, tmux, second) == "working", what="working")
    # The agent's process dies: its pane stays (remain-on-exit) but is dead.
    info = tmux.find_window("gt-alpha", first.split("/", 1)[1])
    assert info is not None and info.pane_pid
    os.kill(info.pane_pid, signal.SIGKILL)
    wait_until(
        lambda: state_from_file(rig_town, tmux, first) == "zombie",
        timeout=SEEN_WITHIN,
        what="the dead agent",
    )
    # A window that closes: tmux tells the control client (%window-close).
    tmux.kill_window("gt-alpha", second.split("/", 1)[1])
    wait_until(
        lambda: (v := view_of(rig_town, tmux, second)).state == "zombie" and v.window is None,
        timeout=SEEN_WITHIN,
        what="the closed window",
    )


@real_tmux
def test_the_observer_recovers_after_its_control_client_is_killed_and_a_server_restart(
    rig_town: Town, tmux: TownTmux, slow_demo: None, observer: LiveObserver
) -> None:
    address, pane = start_demo(rig_town, tmux, "Keep going")
    observer.start()
    assert observer.ready.wait(5)
    [pid] = wait_until(observer.client_pids, what="a control client")
    os.kill(pid, signal.SIGKILL)
    wait_until(
        lambda: observer.client_pids() and observer.client_pids() != [pid],
        what="a new control client",
    )
    tmux.send_literal(pane, ASK_LINE)
    tmux.send_enter(pane)
    wait_until(
        lambda: state_from_file(rig_town, tmux, address) == "waiting",
        timeout=SEEN_WITHIN + 1,
        what="waiting, seen by the new client",
    )
    # The whole server goes away and comes back with a new agent.
    tmux.kill_server()
    wait_until(lambda: not observer.client_pids(), what="the clients to end with the server")
    wait_until(lambda: view_of(rig_town, tmux, address).state == "zombie", what="the agent gone")
    again, pane = start_demo(rig_town, tmux, "After the restart")
    wait_until(observer.client_pids, timeout=5, what="a client on the new server")
    wait_until(lambda: state_from_file(rig_town, tmux, again) == "working", what="the new agent")
    tmux.send_literal(pane, ASK_LINE)
    tmux.send_enter(pane)
    wait_until(
        lambda: state_from_file(rig_town, tmux, again) == "waiting",
        timeout=SEEN_WITHIN + 1,
        what="waiting on the new server",
    )


@real_tmux
def test_the_control_client_is_not_a_person_at_the_terminal(
    rig_town: Town, tmux: TownTmux, slow_demo: None, observer: LiveObserver
) -> None:
    start_demo(rig_town, tmux, "Nobody watches")
    size = ("list-windows", "-a", "-F", "#{window_width}x#{window_height}")
    before = tmux.query(*size)
    observer.start()
    assert observer.ready.wait(5)
    wait_until(observer.client_pids, what="a control client")
    # tmux counts it as a client, but no message or bell is meant for it.
    modes = tmux.query("list-clients", "-F", "#{client_control_mode}")
    assert modes and set(modes) == {"1"}, modes
    assert tmux.display_message("gt: nobody should see this") == 0
    assert ring_bell(tmux) == 0
    # It never resizes the agents' windows to its own size (ignore-size).
    assert tmux.query(*size) == before


@real_tmux
def test_the_hook_signal_records_waiting_at_once(
    rig_town: Town, tmux: TownTmux, slow_demo: None, observer: LiveObserver
) -> None:
    address, _ = start_demo(rig_town, tmux, "Ask through the hook")
    hook = json.dumps(
        {"hook_event_name": "Notification", "notification_type": "permission_prompt",
         "message": "Claude needs your permission to use Bash"}
    )  # fmt: skip
    # Without an observer: `observe` reads the signal itself.
    out = run_gt(rig_town, "signal", "waiting", agent=address, input=hook)
    assert out.returncode == 0, out.stderr
    view = view_of(rig_town, tmux, address)
    assert view.state == "waiting"
    assert view.prompt is not None and "permission to use Bash" in view.prompt.question
    # With one: it is in the live state within a moment.
    observer.start()
    assert observer.ready.wait(5)
    assert state_from_file(rig_town, tmux, address) == "waiting"
    out = run_gt(rig_town, "signal", "turn-ended", agent=address, input="")
    assert out.returncode == 0, out.stderr
    wait_until(
        lambda: state_from_file(rig_town, tmux, address) == "working",
        timeout=SEEN_WITHIN,
        what="the end of the signalled wait",
    )
    assert view_of(rig_town, tmux, address).signal.kind == "turn-ended"  # type: ignore[union-attr]
    # Claude Code's "waiting for your input" after 60 s idle is the end of a turn.
    idle = json.dumps({"notification_type": "idle_prompt", "message": "waiting for your input"})
    assert run_gt(rig_town, "signal", "waiting", agent=address, input=idle).returncode == 0
    time.sleep(0.3)  # nothing to wait for: it must NOT become waiting
    assert state_from_file(rig_town, tmux, address) == "working"
    # Bad input: one line, exit 2, nothing written.
    bad = run_gt(rig_town, "signal", "waiting", agent="../../etc")
    assert bad.returncode == 2 and "not an agent address" in bad.stderr
    assert "Traceback" not in bad.stderr


@real_tmux
def test_a_waiting_agent_brings_its_witness_forward(
    rig_town: Town, tmux: TownTmux, slow_demo: None
) -> None:
    address, pane = start_demo(rig_town, tmux, "Tell me now")
    notifier = Notifier()
    supervisor = Supervisor(rig_town, tmux, notifier)
    supervisor.start_observing()
    try:
        supervisor.run_all()  # every patrol has run once: the next witness is 30 s away
        assert not [p for p in supervisor.due() if p.group == "witness"]
        tmux.send_literal(pane, ASK_LINE)
        tmux.send_enter(pane)
        assert supervisor.wake.wait(SEEN_WITHIN + 1), "the observer woke the supervisor"
        wait_until(
            lambda: [p for p in supervisor.due() if p.group == "witness"],
            timeout=2,
            what="the witness to be due",
        )
        supervisor.run_due()
        assert any(f"{address} is waiting for you" in text for text, _ in notifier.sent)
    finally:
        pids = supervisor.observer.client_pids()
        supervisor.stop_observing()
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists()


@real_tmux
def test_the_witness_nudges_many_stalled_agents_in_one_patrol(
    rig_town: Town, tmux: TownTmux, slow_demo: None
) -> None:
    """Stalled agents are nudged side by side (supervise/witness.py PARALLEL), each once."""
    from gastown_tui.supervise.witness import Witness

    agents = [start_demo(rig_town, tmux, f"Job {n}") for n in range(4)]
    later = rig_town.clock.now() + 3600  # an hour without activity: every one is stalled
    actions = Witness(rig_town, tmux, "alpha").patrol(now=later)
    nudged = [a for a in actions if "no activity for" in a]
    assert sorted(a.split(" ", 1)[0] for a in nudged) == sorted(a for a, _ in agents)
    for address, pane in agents:
        wait_until(
            lambda pane=pane: "nudge received: [GAS TOWN] witness" in tmux.capture(pane, 60),
            what=f"the nudge typed into {address}",
        )


@real_tmux
def test_the_app_supervising_runs_the_observer_and_reads_it(
    rig_town: Town, tmux: TownTmux, slow_demo: None
) -> None:
    """The app's supervision (tui/supervision.py) runs the shared supervisor loop
    (supervise/loop.py), which runs the observer with the lease; the app's rows come from its
    state (views/queries.py), refreshed on the `live` scope."""
    from gastown_tui.supervise.loop import SupervisorLoop
    from gastown_tui.views.actions import TownData
    from gastown_tui.views.changes import change_scope

    class Quiet:
        def took_over(self, pid: int) -> None: ...

        def recovered(self, actions: list[str]) -> None: ...

        def stepped_down(self, reason: str | None) -> None: ...

        def viewer(self, holder: object) -> None: ...

    address, pane = start_demo(rig_town, tmux, "Seen by the app")
    root = str(rig_town.root.resolve())
    assert change_scope(root, f"{root}/.runtime/live.json") == "live"
    loop = SupervisorLoop(rig_town, tmux, "app", report=Quiet(), run_patrols=lambda due: None)
    data = TownData(rig_town, tmux)
    try:
        assert loop.step()
        pids = wait_until(loop.supervisor.observer.client_pids, what="its control client")
        assert read_live(rig_town, tmux.socket_name) is not None
        tmux.send_literal(pane, ASK_LINE)
        tmux.send_enter(pane)
        row = wait_until(
            lambda: next((r for r in data.load_polecats() if r.state == "waiting"), None),
            timeout=SEEN_WITHIN,
            what="the app's row to say waiting",
        )
        assert row.address == address and data.observed_live()
    finally:
        loop.close()
    assert read_live(rig_town, tmux.socket_name) is None, "released: nobody keeps it"
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists()
    data.load_polecats()
    assert not data.observed_live()  # without an observer the app looks at tmux itself


@real_tmux
def test_a_death_whose_exit_is_not_known_yet_is_listed_again_at_once(
    rig_town: Town, tmux: TownTmux, tmp_path: Path
) -> None:
    """tmux marks a pane dead when its terminal closes, before it learns how the process ended
    (WindowInfo.exit_pending, tmux/server.py). The observer lists again soon for that, not a
    tick later: here the tick is a minute. The process closes its terminal and exits only when
    told, so the in-between state lasts as long as the test needs."""
    go = tmp_path / "go"
    script = (
        "trap '' HUP; exec </dev/null >/dev/null 2>&1;"
        f" while [ ! -e {shlex.quote(str(go))} ]; do sleep 0.02; done; exit 6"
    )
    tmux.start_window("gt-alpha", "lingerer", ["sh", "-c", script], start_dir=tmp_path, env={})
    wait_until(
        lambda: (w := tmux.find_window("gt-alpha", "lingerer")) and w.pane_dead,
        what="its terminal to close",
    )

    def seen() -> WindowInfo | None:
        state = read_live(rig_town, tmux.socket_name)
        window = state.by_identity().get(("gt-alpha", "lingerer")) if state else None
        return window.info if window else None

    observer = LiveObserver(rig_town, tmux, tick=60.0)
    observer.start()
    try:
        assert observer.ready.wait(10)
        first = seen()
        assert first is not None and first.pane_dead and first.exit_pending
        go.touch()
        ended = wait_until(
            lambda: (w := seen()) and not w.exit_pending and w, what="the observer to see the end"
        )
        assert ended.dead_status == 6
    finally:
        observer.stop()


OBSERVER_SCRIPT = """
import sys, time
from gastown_tui.town.town import Town
from gastown_tui.dispatch.tmuxfor import tmux_for
from gastown_tui.dispatch.live import LiveObserver
town = Town.open(sys.argv[1])
obs = LiveObserver(town, tmux_for(town))
obs.start()
obs.ready.wait(10)
print(*obs.client_pids(), flush=True)
time.sleep(600)
"""


def kill_a_supervisor(town: Town, before_kill: Callable[[], None] = lambda: None) -> list[int]:
    """Run an observer in a process of its own, as a supervisor does; SIGKILL it. Returns the
    pids of its control clients."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    proc = subprocess.Popen(
        [sys.executable, "-c", OBSERVER_SCRIPT, str(town.root)], stdout=subprocess.PIPE, env=env
    )
    try:
        pids = [int(p) for p in proc.stdout.readline().split()]  # type: ignore[union-attr]
        assert pids, "it attached a control client"
        before_kill()
        proc.kill()
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    return pids


def wait_until_ended(pids: list[int]) -> None:
    # Orphans are reaped by PID 1, which may never wait for them (a container's init that does
    # not reap): a client that has exited but is still a zombie has ended all the same.
    wait_until(lambda: not any(pid_alive(pid) for pid in pids), what="its control clients to end")


@real_tmux
def test_a_killed_supervisor_leaves_no_control_client_behind(
    rig_town: Town, tmux: TownTmux, slow_demo: None
) -> None:
    """Its clients read their stdin from the supervisor: SIGKILL closes the pipe, and tmux
    ends a control client at EOF. Nothing is left to clean up."""
    start_demo(rig_town, tmux, "Outlive the supervisor")
    wait_until_ended(kill_a_supervisor(rig_town))
    # The server drops a client when it reads the closed socket, which may be just after the
    # client process has gone.
    wait_until(
        lambda: tmux.query("list-clients", "-F", "#{client_pid}") == [],
        what="the server to drop its clients",
    )
    assert read_live(rig_town, tmux.socket_name) is None, "a dead observer's file is not trusted"


@real_tmux
def test_a_killed_supervisors_clients_end_even_while_the_server_cannot_answer(
    rig_town: Town, tmux: TownTmux, slow_demo: None
) -> None:
    """tmux 3.3a can keep an exiting control client waiting for ever, in the server, when its
    owner dies (tmux/control.py start_client). The observer's clients die with their owner
    instead: here the server is stopped, so only that can end them."""
    if shutil.which("setpriv") is None:
        pytest.skip("util-linux setpriv is not installed: clients end through the server")
    start_demo(rig_town, tmux, "Outlive the supervisor, again")
    server = int(tmux.query("display-message", "-p", "#{pid}")[0])
    try:
        pids = kill_a_supervisor(rig_town, lambda: os.kill(server, signal.SIGSTOP))
        wait_until_ended(pids)
    finally:
        os.kill(server, signal.SIGCONT)
    wait_until(
        lambda: tmux.query("list-clients", "-F", "#{client_pid}") == [],
        what="the server to drop its clients",
    )
