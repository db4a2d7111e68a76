"""Attach plans for the three places a person can be, and a real attach through a terminal."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from gastown_tui.tmux import TownTmux, WindowInfo, attach_plan
from gastown_tui.tmux.attach import tmux_env_socket
from gastown_tui.town.errors import GtError
from tests.tmux_helpers import real_tmux, throwaway_tmux, wait_until

SLEEPER = [sys.executable, "-c", "import time; time.sleep(120)"]
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def tmux(tmp_path: Path) -> Iterator[TownTmux]:
    with throwaway_tmux(tmp_path) as server:
        yield server


@pytest.fixture
def agent(tmux: TownTmux, tmp_path: Path) -> WindowInfo:
    tmux.start_window("gt-alpha", "first", SLEEPER, start_dir=tmp_path, env={})
    return tmux.start_window("gt-alpha", "furiosa", SLEEPER, start_dir=tmp_path, env={})


def test_tmux_env_socket() -> None:
    assert tmux_env_socket({}) is None
    assert tmux_env_socket({"TMUX": ""}) is None
    assert tmux_env_socket({"TMUX": "/tmp/tmux-1000/default,4242,0"}) == Path(
        "/tmp/tmux-1000/default"
    )
    assert tmux_env_socket({"TMUX": "/tmp/odd,dir/sock,1,2"}) == Path("/tmp/odd,dir/sock")


@real_tmux
def test_outside_tmux_attaches_without_tmux_env(tmux: TownTmux, agent: WindowInfo) -> None:
    environ = {"PATH": os.environ["PATH"], "TERM": "xterm-256color", "TMUX_PANE": "%3"}

    plan = attach_plan(tmux, agent, environ)

    assert plan.mode == "attach" and not plan.nested
    assert plan.argv[1:3] == ["-L", tmux.socket_name]
    assert plan.argv[-3:] == ["attach-session", "-t", agent.pane_id]
    assert "TMUX" not in plan.env and "TMUX_PANE" not in plan.env
    assert plan.env["TERM"] == "xterm-256color"
    assert "gt-alpha:furiosa" in plan.message
    assert "prefix then d" in plan.back


@real_tmux
def test_inside_the_town_server_switches_client(tmux: TownTmux, agent: WindowInfo) -> None:
    socket = tmux.socket_path()
    assert socket.exists()
    environ = {"PATH": os.environ["PATH"], "TMUX": f"{socket},12345,0"}

    plan = attach_plan(tmux, agent, environ)

    assert plan.mode == "switch" and not plan.nested
    assert plan.argv[-3:] == ["switch-client", "-t", agent.pane_id]
    assert plan.env["TMUX"] == environ["TMUX"]  # switch-client finds its client by it
    # The way back is the last session, not prefix d (which detaches the whole client).
    assert "prefix then L" in plan.message and "prefix then L" in plan.back
    assert plan.run_argv[: len(plan.argv)] == plan.argv
    assert plan.run_argv[len(plan.argv) :][:2] == [";", "display-message"]


@real_tmux
def test_inside_another_tmux_server_offers_nesting(tmux: TownTmux, agent: WindowInfo) -> None:
    other = tmux.socket_path().parent / "default"
    environ = {"PATH": os.environ["PATH"], "TMUX": f"{other},999,2"}

    plan = attach_plan(tmux, agent, environ)

    assert plan.mode == "nested" and plan.nested
    assert plan.argv[-3:] == ["attach-session", "-t", agent.pane_id]
    assert "TMUX" not in plan.env
    assert "nest" in plan.message


@real_tmux
def test_target_strings_resolve_and_foreign_ones_are_refused(
    tmux: TownTmux, agent: WindowInfo
) -> None:
    by_name = attach_plan(tmux, "=gt-alpha:=furiosa", {})
    assert by_name.argv[-1] == agent.pane_id
    tmux.run("new-session", "-d", "-s", "mine", "sleep 120")
    with pytest.raises(GtError, match="no town window"):
        attach_plan(tmux, "=mine:", {})
    with pytest.raises(GtError, match="no tmux window"):
        attach_plan(tmux, "=gt-alpha:=nobody", {})


@real_tmux
def test_run_attach_puts_a_terminal_on_the_window(tmux: TownTmux, agent: WindowInfo) -> None:
    plan = attach_plan(tmux, agent, {**os.environ, "TERM": "xterm"})
    # run_attach in its own process, on a pseudo-terminal of its own, as a person would.
    code = (
        "import json, sys\n"
        "from gastown_tui.tmux.attach import AttachPlan, run_attach\n"
        "plan = AttachPlan(**json.loads(sys.argv[1]))\n"
        "sys.exit(run_attach(plan))\n"
    )
    payload = json.dumps(
        {
            "argv": plan.argv,
            "env": plan.env,
            "mode": plan.mode,
            "message": plan.message,
            "back": plan.back,
        }
    )
    controller, terminal = pty.openpty()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    person = subprocess.Popen(
        [sys.executable, "-c", code, payload],
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        env=env,
        start_new_session=True,
    )
    os.close(terminal)
    drain = threading.Thread(target=_drain, args=(controller,), daemon=True)
    drain.start()
    try:
        where = "#{session_name}:#{window_name}"
        wait_until(
            lambda: tmux.run("list-clients", "-F", where).stdout.strip() == "gt-alpha:furiosa",
            what="the client to attach to the agent's window",
        )
        assert tmux.display_message("hello from the town") == 1
        tmux.run("detach-client", "-s", "=gt-alpha")
        assert person.wait(timeout=5) == 0
    finally:
        if person.poll() is None:
            person.kill()
            person.wait()
        os.close(controller)


def _drain(fd: int) -> None:
    """Read the terminal so tmux never blocks writing to it."""
    try:
        while os.read(fd, 65536):
            pass
    except OSError:
        pass
