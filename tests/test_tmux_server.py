"""TownTmux against a real tmux server on a throwaway socket."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from gastown_tui.tmux import TownTmux, WindowInfo
from gastown_tui.tmux.server import (
    HISTORY_LIMIT,
    TmuxCommandFailed,
    control_safe,
    escape_arg,
    pid_alive,
    session_has_live_process,
    zombie_wait_status,
)
from gastown_tui.town.errors import GtError
from gastown_tui.town.paths import TownPaths
from tests.tmux_helpers import (
    assert_received,
    needs_tmux,
    received_lines,
    start_reader,
    throwaway_tmux,
    wait_until,
)

pytestmark = [pytest.mark.tmux, needs_tmux]

SLEEPER = [sys.executable, "-c", "import time; print('UP', flush=True); time.sleep(120)"]


@pytest.fixture
def tmux(tmp_path: Path) -> Iterator[TownTmux]:
    with throwaway_tmux(tmp_path) as server:
        yield server


def _sessions(tmux: TownTmux) -> list[str]:
    return tmux.run("list-sessions", "-F", "#{session_name}", check=False).lines


def test_start_window_creates_session_with_env_and_start_dir(
    tmux: TownTmux, tmp_path: Path
) -> None:
    workdir = tmp_path / "work tree #{pane_id} #1;"
    workdir.mkdir()
    # The program writes what it sees to a file: a pane wraps long lines at its width and
    # drops the trailing space of a wrapped line, so the pane text depends on where the
    # temporary folder is (tmp_path's length).
    report = tmp_path / "seen.json"
    show = (
        "import json, os, sys, time; json.dump({'agent': os.environ['GT_AGENT'], "
        "'note': os.environ['GT_NOTE'], 'cwd': os.getcwd()}, open(sys.argv[1] + '.tmp', 'w')); "
        "os.rename(sys.argv[1] + '.tmp', sys.argv[1]); print('UP', flush=True); time.sleep(120)"
    )
    env = {"GT_AGENT": "alpha/furiosa", "GT_RIG": "alpha", "GT_NOTE": 'it\'s a; "test";'}

    info = tmux.start_window(
        "gt-alpha", "furiosa", [sys.executable, "-c", show, str(report)], start_dir=workdir, env=env
    )

    assert (info.session, info.window, info.target) == ("gt-alpha", "furiosa", "gt-alpha:furiosa")
    assert info.pane_id.startswith("%") and info.window_id.startswith("@")
    assert info.pane_pid and not info.pane_dead
    assert tmux.owned_sessions() == ["gt-alpha"]
    # The session's first window is the agent itself, not a stray shell.
    assert [w.window for w in tmux.list_windows("gt-alpha")] == ["furiosa"]
    wait_until(report.exists, what="the program to report")
    seen = json.loads(report.read_text())
    assert seen == {"agent": "alpha/furiosa", "note": 'it\'s a; "test";', "cwd": str(workdir)}
    assert Path(tmux.find_window("gt-alpha", "furiosa").current_path) == workdir  # type: ignore[union-attr]
    assert tmux.is_alive(info)


def test_server_options_are_set_and_window_names_stay(tmux: TownTmux, tmp_path: Path) -> None:
    # The program asks the terminal to rename its window (ESC k name ESC \\), then says UP.
    rename = "print('\\x1bkbogus\\x1b\\\\', end=''); print('UP', flush=True)"
    command = [sys.executable, "-c", rename + "; import time; time.sleep(120)"]
    info = tmux.start_window("gt-alpha", "nux", command, start_dir=tmp_path, env={})
    wait_until(lambda: "UP" in tmux.capture(info.pane_id), what="the program to start")

    assert [w.window for w in tmux.list_windows()] == ["nux"]
    assert tmux.run("show-options", "-sv", "escape-time").stdout.strip() == "10"
    assert tmux.run("show-options", "-gv", "history-limit").stdout.strip() == str(HISTORY_LIMIT)
    for option, value in (
        ("remain-on-exit", "on"),
        ("automatic-rename", "off"),
        ("allow-rename", "off"),
    ):
        shown = tmux.run("show-options", "-wv", "-t", info.window_id, option).stdout.strip()
        assert shown == value


def test_agent_panes_keep_a_bounded_scrollback_that_covers_every_reader(
    tmux: TownTmux, tmp_path: Path
) -> None:
    """Every agent pane, first of its session or not, keeps at most HISTORY_LIMIT lines of
    scrollback (the server holds them all: memory), and never fewer than the Preview's
    scrollback takes once that much was printed."""
    from gastown_tui.tui.widgets.preview import HISTORY

    lines = 3 * HISTORY_LIMIT
    chatty = f"print('\\n'.join(f'line {{n}}' for n in range({lines})), flush=True); print('DONE')"
    command = [sys.executable, "-c", chatty + "; import time; time.sleep(120)"]
    first = tmux.start_window("gt-alpha", "one", command, start_dir=tmp_path, env={})
    second = tmux.start_window("gt-alpha", "two", command, start_dir=tmp_path, env={})
    for info in (first, second):
        wait_until(lambda i=info: "DONE" in tmux.capture(i.pane_id), what="the output")
        limit, size = tmux.query(
            "display-message", "-p", "-t", info.pane_id, "#{history_limit} #{history_size}"
        )[0].split()
        assert int(limit) == HISTORY_LIMIT
        assert HISTORY <= int(size) <= HISTORY_LIMIT
        # The Preview's scrollback capture gets all the lines it asks for.
        taken = tmux.capture(info.pane_id, lines=HISTORY).splitlines()
        assert len(taken) == HISTORY and taken[-1] == "DONE"
        assert taken[-2] == f"line {lines - 1}"


def test_second_window_joins_existing_session(tmux: TownTmux, tmp_path: Path) -> None:
    tmux.start_window("gt-alpha", "one", SLEEPER, start_dir=tmp_path, env={})
    tmux.start_window("gt-alpha", "two", SLEEPER, start_dir=tmp_path, env={})
    tmux.start_window("gt-beta", "three", SLEEPER, start_dir=tmp_path, env={})
    assert sorted(tmux.owned_sessions()) == ["gt-alpha", "gt-beta"]
    assert [w.window for w in tmux.list_windows("gt-alpha")] == ["one", "two"]
    assert sorted(w.target for w in tmux.list_windows()) == [
        "gt-alpha:one",
        "gt-alpha:two",
        "gt-beta:three",
    ]


def test_a_session_that_ends_after_the_look_is_started_again(
    tmux: TownTmux, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Racing slings: the session's last window closed between start_window's look and its
    # new-window, which then failed with "can't find session: gt-alpha".
    tmux.start_window("gt-beta", "keep", SLEEPER, start_dir=tmp_path, env={})  # server stays
    tmux.start_window("gt-alpha", "one", SLEEPER, start_dir=tmp_path, env={})
    real_list_windows = TownTmux.list_windows

    def look_then_the_session_ends(
        self: TownTmux, session: str | None = None, **narrowed: str
    ) -> list[WindowInfo]:
        seen = real_list_windows(self, session, **narrowed)
        if session == "gt-alpha":
            self.run("kill-session", "-t", "=gt-alpha")
        return seen

    monkeypatch.setattr(TownTmux, "list_windows", look_then_the_session_ends)
    info = tmux.start_window("gt-alpha", "two", SLEEPER, start_dir=tmp_path, env={})
    monkeypatch.undo()
    assert info.session == "gt-alpha" and info.window == "two"
    assert [w.window for w in tmux.list_windows("gt-alpha")] == ["two"]


def test_a_narrowed_listing_finds_a_window_by_name_or_by_its_agent(
    tmux: TownTmux, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A sling asks tmux only for the windows that may be its polecat's, so its cost does not
    # grow with the town: by name, or by the agent option of a window a person renamed.
    for session, window in [("gt-alpha", "nux"), ("gt-alpha", "nuxx"), ("gt-beta", "nux")]:
        env = {"GT_AGENT": f"{session[3:]}/{window}"}
        tmux.start_window(session, window, SLEEPER, start_dir=tmp_path, env=env)
    renamed = tmux.start_window(
        "gt-alpha", "slit", SLEEPER, start_dir=tmp_path, env={"GT_AGENT": "alpha/slit"}
    )
    tmux.run("rename-window", "-t", renamed.window_id, "my-slit")
    every = tmux.list_windows()
    for session, like in [("gt-alpha", "nux"), ("gt-beta", "nux"), ("gt-alpha", "slit")]:
        narrowed = [w.pane_id for w in tmux.list_windows(session, like=like)]
        assert narrowed == [w.pane_id for w in every if w.is_for(session, like)]
        found = tmux.find_window(session, like)
        assert len(narrowed) == 1 and found is not None and found.pane_id == narrowed[0]
    assert tmux.list_windows("gt-alpha", like="my-slit") == []  # a label, not whose it is
    assert tmux.list_windows("gt-alpha", like="dune") == []
    # The agent a new window is for is found too, whatever its window's name.
    [by_agent] = tmux.list_windows("gt-alpha", like="dune", agent="alpha/slit")
    assert by_agent.pane_id == renamed.pane_id
    # A tmux without `list-panes -f` (before 3.2): the whole listing, narrowed here.
    real_query = TownTmux.query

    def no_filter_flag(self: TownTmux, *args: str) -> list[str]:
        if "-f" in args:
            raise TmuxCommandFailed(args, "command list-panes: unknown flag -f")
        return real_query(self, *args)

    monkeypatch.setattr(TownTmux, "query", no_filter_flag)
    assert [w.pane_id for w in tmux.list_windows("gt-alpha", like="nux")] == [
        w.pane_id for w in every if w.is_for("gt-alpha", "nux")
    ]


def test_starting_a_live_window_again_is_refused(tmux: TownTmux, tmp_path: Path) -> None:
    first = tmux.start_window("gt-alpha", "furiosa", SLEEPER, start_dir=tmp_path, env={})
    with pytest.raises(GtError, match="already running"):
        tmux.start_window("gt-alpha", "furiosa", SLEEPER, start_dir=tmp_path, env={})
    assert [w.pane_id for w in tmux.list_windows("gt-alpha")] == [first.pane_id]


def test_dead_window_is_detected_and_replaced(tmux: TownTmux, tmp_path: Path) -> None:
    # (A short pause first: tmux 3.3a can drop the output of a process that exits at once.)
    command = ["sh", "-c", "echo last words; sleep 0.1; exit 3"]
    info = tmux.start_window("gt-alpha", "furiosa", command, start_dir=tmp_path, env={})

    def dead_with_status() -> WindowInfo | None:
        # tmux marks the pane dead when its terminal closes; the exit status follows.
        window = tmux.find_window("gt-alpha", "furiosa")
        if window and window.pane_dead and window.dead_status is not None:
            return window
        return None

    dead = wait_until(dead_with_status, what="the pane to die")
    assert dead.dead_status == 3
    assert not tmux.is_alive(info)
    # remain-on-exit keeps the pane, so its last output can still be read.
    assert "last words" in tmux.capture(info.pane_id)

    # Starting it again respawns the dead pane in place, with the new command and env.
    show = "import os, time; print(os.environ['GT_TRY'], flush=True); time.sleep(120)"
    command = [sys.executable, "-c", show]
    again = tmux.start_window(
        "gt-alpha", "furiosa", command, start_dir=tmp_path, env={"GT_TRY": "second"}
    )
    assert again.pane_pid != info.pane_pid and not again.pane_dead
    assert [w.pane_id for w in tmux.list_windows("gt-alpha")] == [again.pane_id]
    wait_until(lambda: "second" in tmux.capture(again.pane_id), what="the respawned agent")
    assert tmux.is_alive(again)
    assert tmux.run("show-options", "-wv", "-t", again.window_id, "remain-on-exit").stdout == "on\n"


def test_kill_9_of_the_agent_leaves_a_dead_pane(tmux: TownTmux, tmp_path: Path) -> None:
    info = tmux.start_window("gt-alpha", "furiosa", SLEEPER, start_dir=tmp_path, env={})
    wait_until(lambda: "UP" in tmux.capture(info.pane_id), what="the agent to start")
    assert tmux.is_alive(info)
    assert info.pane_pid is not None

    os.kill(info.pane_pid, signal.SIGKILL)

    wait_until(lambda: not tmux.is_alive(info), what="liveness to notice the kill")
    window = tmux.find_window("gt-alpha", "furiosa")
    assert window is not None and window.pane_dead


def test_foreign_sessions_on_the_same_socket_are_never_touched(
    tmux: TownTmux, tmp_path: Path
) -> None:
    agent = tmux.start_window("gt-alpha", "furiosa", SLEEPER, start_dir=tmp_path, env={})
    tmux.run("new-session", "-d", "-s", "mine", "-n", "furiosa", "sleep 120")

    assert tmux.owned_sessions() == ["gt-alpha"]
    assert [w.session for w in tmux.list_windows()] == ["gt-alpha"]
    found, by_pane = tmux.find_window("gt-alpha", "furiosa"), tmux.pane_info(agent.pane_id)
    assert found is not None and by_pane is not None and found.pane_id == agent.pane_id
    # tmux reads a pane's current path from its process, which may not have its cwd yet when
    # the first of the two reads is made: compare everything else.
    assert replace(found, current_path="") == replace(by_pane, current_path="")
    mine_pane = tmux.run("display-message", "-p", "-t", "=mine:", "#{pane_id}").stdout.strip()
    assert mine_pane.startswith("%")
    assert tmux.pane_info(mine_pane) is None
    for refused in (
        lambda: tmux.kill_session("mine"),
        lambda: tmux.kill_window("mine", "furiosa"),
        lambda: tmux.list_windows("mine"),
        lambda: tmux.start_window("mine", "x", SLEEPER, start_dir=tmp_path, env={}),
    ):
        with pytest.raises(GtError, match="refusing"):
            refused()

    assert tmux.kill_window("gt-alpha", "furiosa") == 1
    assert tmux.kill_session("gt-alpha") is False  # its last window took it along
    assert _sessions(tmux) == ["mine"]


def test_kill_session_leaves_others(tmux: TownTmux, tmp_path: Path) -> None:
    tmux.start_window("gt-alpha", "one", SLEEPER, start_dir=tmp_path, env={})
    tmux.start_window("gt-beta", "two", SLEEPER, start_dir=tmp_path, env={})
    assert tmux.kill_session("gt-alpha") is True
    assert tmux.owned_sessions() == ["gt-beta"]
    assert tmux.find_window("gt-alpha", "one") is None


def test_capture_returns_the_tail(tmux: TownTmux, tmp_path: Path) -> None:
    script = "for i in range(1, 101): print(f'line {i}')\nprint('\\x1b[31mred\\x1b[0m', flush=True)"
    script += "\nimport time; time.sleep(120)"
    info = tmux.start_window(
        "gt-alpha", "talker", [sys.executable, "-c", script], start_dir=tmp_path, env={}
    )
    wait_until(lambda: "red" in tmux.capture(info.pane_id), what="the output")

    tail = tmux.capture(info.pane_id, lines=5)
    assert tail.split("\n") == ["line 97", "line 98", "line 99", "line 100", "red"]
    assert "line 40" in tmux.capture(info.pane_id, lines=80)
    assert "\x1b[31mred" in tmux.capture(info.pane_id, lines=3, escape_sequences=True)
    assert tmux.capture(info.pane_id, lines=0) == ""


def test_pane_digest_changes_with_output(tmux: TownTmux, tmp_path: Path) -> None:
    info, _ = start_reader(tmux, tmp_path)
    before = tmux.pane_digest(info.pane_id)
    assert tmux.pane_digest(info.pane_id) == before
    tmux.send_literal(info.pane_id, "typing")
    wait_until(lambda: tmux.pane_digest(info.pane_id) != before, what="the digest to change")


def test_copy_mode_is_detected_and_left(tmux: TownTmux, tmp_path: Path) -> None:
    info, _ = start_reader(tmux, tmp_path)
    assert not tmux.in_copy_mode(info.pane_id)
    tmux.run("copy-mode", "-t", info.pane_id)
    assert tmux.in_copy_mode(info.pane_id)
    tmux.leave_copy_mode(info.pane_id)
    assert not tmux.in_copy_mode(info.pane_id)
    tmux.run("clock-mode", "-t", info.pane_id)  # a mode that ignores `-X cancel`
    tmux.leave_copy_mode(info.pane_id)
    assert not tmux.in_copy_mode(info.pane_id)


def test_display_message_without_clients_is_harmless(tmux: TownTmux, tmp_path: Path) -> None:
    assert tmux.display_message("no one is watching") == 0
    tmux.start_window("gt-alpha", "one", SLEEPER, start_dir=tmp_path, env={})
    assert tmux.display_message("#{pane_id} stays literal;") == 0


def test_empty_server_answers_empty(tmux: TownTmux) -> None:
    assert not tmux.is_running()
    assert tmux.owned_sessions() == []
    assert tmux.list_windows() == []
    assert tmux.find_window("gt-alpha", "furiosa") is None
    assert tmux.pane_info("%99") is None
    assert tmux.kill_session("gt-alpha") is False
    tmux.kill_server()
    assert tmux.socket_path().name == tmux.socket_name


def test_bad_names_and_inputs_are_refused(tmux: TownTmux, tmp_path: Path) -> None:
    with pytest.raises(GtError, match="invalid window name"):
        tmux.start_window("gt-alpha", "a.b", SLEEPER, start_dir=tmp_path, env={})
    with pytest.raises(GtError, match="invalid rig name"):
        tmux.session_name("Alpha:1")
    with pytest.raises(GtError, match="invalid rig name"):
        tmux.session_name("alpha\n")
    with pytest.raises(GtError, match="does not exist"):
        tmux.start_window("gt-alpha", "x", SLEEPER, start_dir=tmp_path / "nope", env={})
    with pytest.raises(GtError, match="environment"):
        tmux.start_window("gt-alpha", "x", SLEEPER, start_dir=tmp_path, env={"A B": "1"})
    with pytest.raises(GtError, match="no command"):
        tmux.start_window("gt-alpha", "x", [], start_dir=tmp_path, env={})
    assert tmux.session_name("alpha") == "gt-alpha"
    assert not tmux.is_running()


def test_missing_tmux_binary_is_a_clear_error(tmp_path: Path) -> None:
    tmux = TownTmux("gt-test-none", tmp_path, tmux_bin="no-such-tmux-binary")
    assert not tmux.available()
    with pytest.raises(GtError, match="tmux is not installed") as caught:
        tmux.require()
    assert caught.value.hint and "apt-get install tmux" in caught.value.hint


def test_socket_name_and_arg_escaping() -> None:
    town = TownTmux.for_town(TownPaths(Path("/home/me/gt")))
    assert town.socket_name == TownPaths(Path("/home/me/gt")).tmux_socket
    assert town.socket_name.startswith("gt-")
    assert town.lock_dir == Path("/home/me/gt/.runtime/locks")
    assert town.socket_name != TownTmux.for_town(TownPaths(Path("/home/me/other"))).socket_name
    assert escape_arg("a;") == "a\\;"
    assert escape_arg("a\\;") == "a\\\\;"
    assert escape_arg("plain") == "plain"


def test_libtmux_view_shares_the_socket(tmux: TownTmux, tmp_path: Path) -> None:
    info = tmux.start_window("gt-alpha", "furiosa", SLEEPER, start_dir=tmp_path, env={})
    server = tmux.server
    assert [s.session_name for s in server.sessions] == ["gt-alpha"]
    assert server.panes[0].pane_id == info.pane_id


def test_start_is_quick(tmux: TownTmux, tmp_path: Path) -> None:
    started = time.monotonic()
    for index in range(5):
        tmux.start_window("gt-alpha", f"w{index}", SLEEPER, start_dir=tmp_path, env={})
    assert time.monotonic() - started < 2.0


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_a_pane_dead_before_its_process_ends_says_its_exit_is_pending(
    tmux: TownTmux, tmp_path: Path
) -> None:
    """tmux marks a pane dead when its terminal closes, which an exiting process does before
    tmux reaps it. Here the process closes its terminal and lives on until told to exit, so
    the in-between state lasts as long as the test needs. A process killed by a signal ends
    with no status, and that is not pending."""
    go = tmp_path / "go"
    # (Closing the terminal brings a SIGHUP, which it ignores so as to live on.)
    script = (
        "trap '' HUP; exec </dev/null >/dev/null 2>&1;"
        f" while [ ! -e {shlex.quote(str(go))} ]; do sleep 0.02; done; exit 5"
    )
    tmux.start_window("gt-alpha", "furiosa", ["sh", "-c", script], start_dir=tmp_path, env={})
    pending = wait_until(
        lambda: (w := tmux.find_window("gt-alpha", "furiosa")) and w.pane_dead and w,
        what="the pane to be marked dead",
    )
    assert pending.exit_pending and pending.dead_status is None
    assert pending.pane_pid and pid_alive(pending.pane_pid), "its process still runs"
    by_pane = tmux.pane_info(pending.pane_id)
    assert by_pane is not None and by_pane.exit_pending and by_pane.dead_status is None
    go.touch()
    ended = wait_until(
        lambda: (w := tmux.find_window("gt-alpha", "furiosa")) and not w.exit_pending and w,
        what="tmux to learn how it ended",
    )
    assert ended.pane_dead and ended.dead_status == 5

    killed = tmux.start_window("gt-alpha", "nux", SLEEPER, start_dir=tmp_path, env={})
    assert killed.pane_pid
    os.kill(killed.pane_pid, signal.SIGKILL)
    gone = wait_until(
        lambda: (w := tmux.find_window("gt-alpha", "nux")) and w.pane_dead and w,
        what="the killed pane to be marked dead",
    )
    if gone.exit_pending:  # looked between the terminal closing and the reap
        gone = wait_until(
            lambda: (w := tmux.find_window("gt-alpha", "nux")) and not w.exit_pending and w,
            what="tmux to reap the killed process",
        )
    assert gone.dead_status is None and not gone.exit_pending


def test_a_dead_pane_reaped_after_tmux_answered_is_still_pending_where_tmux_says_exits() -> None:
    """The race CI met: list-panes says dead with no pane_dead_time, then tmux reaps the
    process before the parser looks at /proc. tmux 3.3+ sets pane_dead_time once it knows
    how the process ended, so the pane stays pending until a later look; an older tmux never
    sets it, and there a process that is gone is not pending (or it would be for ever)."""
    from gastown_tui.tmux.server import _SEP, _WINDOW_FIELDS

    gone = subprocess.Popen(["true"])
    gone.wait()  # reaped: no /proc entry for its pid

    def parse(version: str, dead_time: str = "", status: str = "") -> WindowInfo:
        fields = dict.fromkeys(_WINDOW_FIELDS, "")
        fields.update(
            session_name="gt-alpha", window_name="furiosa", window_id="@1", pane_id="%1",
            pane_pid=str(gone.pid), pane_dead="1", pane_dead_status=status,
            pane_dead_time=dead_time, version=version, window_activity="1",
        )  # fmt: skip
        info = TownTmux._parse_window(_SEP.join(fields[name] for name in _WINDOW_FIELDS))
        assert info is not None
        return info

    assert parse("3.3a").exit_pending and parse("3.3a").dead_status is None
    assert parse("next-3.6").exit_pending
    assert not parse("3.2a").exit_pending, "tmux 3.2 has no pane_dead_time: never pending"
    assert not parse("").exit_pending
    ended = parse("3.3a", dead_time="1796641089", status="5")
    assert not ended.exit_pending and ended.dead_status == 5


def test_zombie_exit_status_and_liveness_helpers() -> None:
    # tmux 3.3a sometimes never reaps a pane process that exits at once; the status of such
    # a zombie is read from /proc instead, and a zombie never counts as alive.
    child = os.fork()
    if child == 0:
        os._exit(7)
    try:
        status = wait_until(lambda: zombie_wait_status(child), what="the child to exit")
        assert os.waitstatus_to_exitcode(status) == 7
        assert not pid_alive(child)
    finally:
        os.waitpid(child, 0)
    assert zombie_wait_status(os.getpid()) is None
    assert pid_alive(os.getpid())
    assert session_has_live_process(os.getsid(0))


def test_a_users_tmux_conf_cannot_undo_the_towns_settings(tmp_path: Path) -> None:
    conf = tmp_path / "tmux.conf"
    conf.write_text(
        "set -g destroy-unattached on\n"
        "set -g base-index 1\n"
        "set -wg remain-on-exit off\n"
        "set -wg automatic-rename on\n"
        "set -g history-limit 100\n"
    )
    tmux = TownTmux(f"gt-test-conf-{os.getpid()}", tmp_path / "locks", config_file=conf)
    try:
        info = tmux.start_window(
            "gt-alpha", "furiosa", ["sh", "-c", "exit 5"], start_dir=tmp_path, env={}
        )
        wait_until(lambda: not tmux.is_alive(info), what="the pane to die")
        window = tmux.find_window("gt-alpha", "furiosa")
        assert window is not None and window.pane_dead  # kept: remain-on-exit won
        assert tmux.owned_sessions() == ["gt-alpha"]  # kept: destroy-unattached lost
        assert tmux.run("show-options", "-gv", "history-limit").stdout.strip() == str(HISTORY_LIMIT)
    finally:
        tmux.kill_server()


def test_kill_server_removes_its_socket(tmux: TownTmux, tmp_path: Path) -> None:
    tmux.start_window("gt-alpha", "one", SLEEPER, start_dir=tmp_path, env={})
    socket = tmux.socket_path()
    assert socket.exists()
    tmux.kill_server()
    assert not tmux.is_running()
    assert not socket.exists()


# -- batched calls: one control-mode client instead of a process per call ----------------------


def test_batched_calls_use_a_control_client_only_on_a_tmux_that_survives_them(
    tmux: TownTmux, tmp_path: Path
) -> None:
    # Before tmux 3.7 a server dies (SIGSEGV) when a control client is told of an event while
    # it is still connecting: a call's own client is used only from 3.7 on.
    def fake_tmux(says: str) -> str:
        path = tmp_path / f"tmux-{len(list(tmp_path.iterdir()))}"
        path.write_text(f"#!/bin/sh\necho '{says}'\n")
        path.chmod(0o755)
        return str(path)

    for says, safe in [
        ("tmux 3.3a", False),
        ("tmux 3.6b", False),
        ("tmux 3.7", True),
        ("tmux next-3.8", True),
        ("tmux 4.0", True),
        ("tmux master", True),  # a build from git
    ]:
        assert control_safe(fake_tmux(says)) is safe, says
    assert not control_safe(None)
    start_reader(tmux, tmp_path)
    with tmux.batched("gt-alpha"):
        assert (tmux._pipe is not None) is control_safe(tmux.tmux_bin)
    tmux.command_pipes = False
    with tmux.batched("gt-alpha"):
        assert tmux._pipe is None


def test_batched_calls_answer_as_processes_do(tmux: TownTmux, tmp_path: Path) -> None:
    tmux.command_pipes = True  # whatever this tmux is: the client itself is tested here
    info, received = start_reader(tmux, tmp_path)
    tricky = 'it\'s ; $HOME #{pane_id} \\ "q" ~ x;'  # quotes, separators, formats, a final ;
    calls = [
        ("list-panes", "-a", "-F", "#{session_name} #{window_name} #{pane_id}"),
        ("display-message", "-p", "-t", info.pane_id, "#{pane_id}", ";", "display", "-p", "x"),
        ("display-message", "-p", "-t", "%999999", "#{pane_id}"),
        ("send-keys", "-t", "%999999", "Enter"),  # an error: no such pane
        ("capture-pane", "-p", "-t", info.pane_id, "-S", "-5"),
    ]
    plain = [tmux.run(*call, check=False) for call in calls]
    with tmux.batched("gt-alpha"):
        assert tmux._pipe is not None  # attached: the calls below go down the pipe
        piped = [tmux.run(*call, check=False) for call in calls]
        tmux.send_literal(info.pane_id, tricky)
        tmux.send_enter(info.pane_id)
    assert piped == plain
    assert plain[3].returncode == 1 and "can't find pane" in plain[3].stderr
    assert_received(received, [tricky])  # typed exactly as given
    assert tmux._pipe is None
    # Detached again: no client of ours is left on the session.
    wait_until(lambda: tmux.run("list-clients").stdout == "", what="the control client to go")


def test_a_batch_whose_session_ends_goes_on_as_processes(tmux: TownTmux, tmp_path: Path) -> None:
    tmux.command_pipes = True
    info, received = start_reader(tmux, tmp_path)
    with tmux.batched("gt-alpha"):
        assert tmux._pipe is not None
        # Killing the session's only window ends the session, and the client attached to it.
        tmux.run("kill-window", "-t", info.pane_id)
        other, other_received = start_reader(tmux, tmp_path, window="again")
        tmux.send_literal(other.pane_id, "after the end")
        tmux.send_enter(other.pane_id)
    assert_received(other_received, ["after the end"])  # once: not typed twice
    assert received_lines(received) == []


def test_batched_without_the_session_runs_processes(tmux: TownTmux, tmp_path: Path) -> None:
    tmux.command_pipes = True
    info, received = start_reader(tmux, tmp_path)
    with tmux.batched("gt-nowhere"):
        tmux.send_literal(info.pane_id, "no pipe")
        assert tmux._pipe is not None and tmux._pipe[1].closed  # it could not attach
        tmux.send_enter(info.pane_id)
    assert_received(received, ["no pipe"])


def test_a_pipe_that_leaves_mid_command_answers_as_a_dead_server() -> None:
    """A control client that ends after it began a command (its server died under it) gives
    that command the answer a `tmux` process gives then, which callers read as "no server"
    (dispatch/sling/start.py starts the window again); one that ends before beginning it
    took nothing. A scripted peer stands in for tmux here: the timing cannot be forced."""
    import subprocess

    from gastown_tui.tmux.control import CommandPipe
    from gastown_tui.tmux.server import TmuxCommandFailed

    script = (
        'printf "%%begin 1 1 0\\n%%end 1 1 0\\n"; read line; '  # attached; one command comes
        'printf "%%begin 2 2 1\\n"; exit 0'  # begun, then gone
    )
    pipe = CommandPipe(
        subprocess.Popen(["sh", "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE), 5
    )
    code, out, err, taken = pipe.run([["new-window"], ["display", "-p", "x"]])
    pipe.close()
    assert (code, out, taken) == (1, "", 1) and pipe.closed
    assert TmuxCommandFailed(["new-window"], err).no_server

    gone_first = 'printf "%%begin 1 1 0\\n%%end 1 1 0\\n"; read line; exit 0'
    pipe = CommandPipe(
        subprocess.Popen(["sh", "-c", gone_first], stdin=subprocess.PIPE, stdout=subprocess.PIPE), 5
    )
    assert pipe.run([["new-window"]]) == (0, "", "", 0)  # nothing taken: run it as a process
    pipe.close()


def test_a_wordless_failure_down_the_pipe_is_asked_again_as_a_process(
    tmux: TownTmux, tmp_path: Path
) -> None:
    """A control client whose session is ending answered with an error and no words (racing
    slings: "tmux list-panes failed: no error output", and a sling's look at its new pane
    read as "the window vanished right after it started"). The call and the ones after it
    go as processes. A scripted peer stands in for that client."""
    import subprocess
    import threading

    from gastown_tui.tmux.control import CommandPipe

    info = tmux.start_window("gt-alpha", "one", SLEEPER, start_dir=tmp_path, env={})
    script = (
        'printf "%%begin 1 1 0\\n%%end 1 1 0\\n"; read line; '  # attached; a command comes
        'printf "%%begin 2 2 1\\n%%error 2 2 1\\n"; read line'  # failed, without a word
    )
    for ask in (
        lambda: [w.window for w in tmux.list_windows()] == ["one"],
        lambda: tmux.pane_screen(info.pane_id)[0] is not None,  # a sling's look at its pane
    ):
        pipe = CommandPipe(
            subprocess.Popen(["sh", "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE),
            5,
        )
        tmux._pipe = (threading.get_ident(), pipe)
        try:
            assert ask()
            assert pipe.closed  # the calls after it go as processes too
        finally:
            tmux._pipe = None
            pipe.close()


def test_a_session_started_anew_in_a_batch_leaves_the_old_servers_client(
    tmux: TownTmux, tmp_path: Path
) -> None:
    """Racing slings: a batch's control client stayed attached to a server whose sessions
    had all ended, while a new server answered on the socket; the sling's look at its new
    pane went to the old one ("the window ... vanished right after it started"). A scripted
    peer plays that old server: it has no session for a new window, and every other command
    succeeds and prints nothing."""
    import subprocess
    import threading

    from gastown_tui.tmux.control import CommandPipe

    tmux.start_window("gt-beta", "keep", SLEEPER, start_dir=tmp_path, env={})
    old_server = (
        'printf "%%begin 1 1 0\\n%%end 1 1 0\\n"; n=2; while read line; do '
        'case "$line" in *new-window*) printf "%%begin $n $n 1\\ncan\'t find session: gt-alpha'
        '\\n%%error $n $n 1\\n";; *) printf "%%begin $n $n 1\\n%%end $n $n 1\\n";; esac; '
        "n=$((n+1)); done"
    )
    pipe = CommandPipe(
        subprocess.Popen(["sh", "-c", old_server], stdin=subprocess.PIPE, stdout=subprocess.PIPE),
        5,
    )
    tmux._pipe = (threading.get_ident(), pipe)
    try:
        assert tmux.pane_screen("%0") == (None, [])  # the old server knows no such pane
        info = tmux.start_window("gt-alpha", "one", SLEEPER, start_dir=tmp_path, env={})
        assert pipe.closed  # a new session: the old client is left
        assert tmux.pane_screen(info.pane_id)[0] is not None
    finally:
        tmux._pipe = None
        pipe.close()
    pipe = CommandPipe(
        subprocess.Popen(["sh", "-c", old_server], stdin=subprocess.PIPE, stdout=subprocess.PIPE),
        5,
    )
    tmux._pipe = (threading.get_ident(), pipe)
    try:  # a look in a process of its own asks the server on the socket
        assert tmux.pane_screen(info.pane_id)[0] is None
        assert tmux.pane_screen(info.pane_id, own_process=True)[0] is not None
    finally:
        tmux._pipe = None
        pipe.close()


# -- the command server's one control client, shared by the processes it forks -----------------


def test_a_shared_client_answers_each_process_its_own_and_skips_what_was_left(
    tmux: TownTmux, tmp_path: Path
) -> None:
    from gastown_tui.tmux import server as tmux_server
    from gastown_tui.tmux.control import SharedClient, SharedPipe

    start_reader(tmux, tmp_path)
    lock = tmp_path / "shared.lock"
    client = SharedClient(tmux.base_argv(), tmux.socket_name, lock, tmux.owned_sessions)
    try:
        client.keep()
        fds = client.fds()
        assert fds is not None
        pipe = SharedPipe(fds[0], fds[1], lock, 5.0)
        # A call killed after it wrote its command and before it read the answer left that
        # answer in the pipe: the next turn reads past it.
        os.write(fds[0], b"display-message -p stale\n")
        assert pipe.run([["display-message", "-p", "fresh"]]) == (0, "fresh\n", "", 1)
        # Processes forked from the owner take turns, each reading only its own answers.
        children = []
        for n in range(3):
            pid = os.fork()
            if pid == 0:  # pragma: no cover - the child leaves by _exit
                ok = True
                mine = SharedPipe(fds[0], fds[1], lock, 5.0)
                for i in range(40):
                    code, out, _, _ = mine.run([["display-message", "-p", f"{n}-{i}"]])
                    ok = ok and (code, out) == (0, f"{n}-{i}\n")
                os._exit(0 if ok else 1)
            children.append(pid)
        for pid in children:
            assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
        # The owner drains what tmux told the client meanwhile; it is still the same client.
        tmux.start_window("gt-alpha", "more", SLEEPER, start_dir=tmp_path, env={})
        client.keep()
        assert client.fds() == fds
        # A process of the owner's uses it in `batched`, on any tmux; once it has gone, the
        # calls go as processes and still answer.
        tmux_server.use_shared_client(tmux.socket_name, fds, lock)
        with tmux.batched("gt-alpha"):
            assert tmux._pipe is not None and isinstance(tmux._pipe[1], SharedPipe)
            assert tmux.run("display-message", "-p", "via the client").stdout == "via the client\n"
            client.close()
            assert tmux.run("display-message", "-p", "as a process").stdout == "as a process\n"
    finally:
        tmux_server._shared_pipe = None
        client.close()
