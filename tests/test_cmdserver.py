"""The town's command server (gastown_tui/cmdserver.py) and `gt`'s side of it (cmdwire.py).

A real server process on a real town, the real `gt` script as the caller. Whether a call ran
in the server is read from the caller's own imports (`python -X importtime`): a call that ran
itself imports its command's module, one the server ran does not.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from gastown_tui.cmdserver import CHECK_EVERY
from gastown_tui.cmdwire import Request, decode_request, encode_request, socket_path
from gastown_tui.supervise.loop import SupervisorLoop
from gastown_tui.tmux import TownTmux
from gastown_tui.town import jsoncodec
from gastown_tui.town.procs import pid_alive
from gastown_tui.town.town import Town
from tests import polecat_fixtures as pf
from tests.conftest import wait_until
from tests.polecat_fixtures import hook_without_window
from tests.tmux_helpers import assert_received

polecat_env, tmux, reader = pf.polecat_env, pf.tmux, pf.reader

ROOT = Path(__file__).resolve().parent.parent
GT = Path(sys.executable).with_name("gt")
COMMAND_MODULE = "gastown_tui.commands.beads"  # what a `gt bead ...` call imports to run


class Server:
    def __init__(self, town: Town, env: dict[str, str] | None = None) -> None:
        self.town = town
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gastown_tui.cmdserver", "--town", str(town.root)],
            env={**os.environ, **(env or {})},
            cwd="/",
            stderr=subprocess.PIPE,
        )
        wait_until(lambda: town.paths.command_socket.exists(), what="the server's socket")

    def children(self) -> list[int]:
        path = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in path.read_text().split()]

    def stop(self) -> None:
        if self.process.poll() is None:
            left = self.children()
            self.process.terminate()
            self.process.wait(10)
            # Its spare leaves with it, and a call's process with its call: none is left.
            for pid in left:
                wait_until(lambda pid=pid: not pid_alive(pid), what=f"process {pid} to end")


@pytest.fixture
def server(rig_town: Town) -> Iterator[Server]:
    running = Server(rig_town)
    yield running
    running.stop()


def call(
    town: Town,
    *args: str,
    env: dict[str, str] | None = None,
    input: str | None = None,
    cwd: Path | str = ROOT,
) -> tuple[subprocess.CompletedProcess[str], bool]:
    """Run the installed `gt` script; also say whether the call ran in the server."""
    full = {**os.environ, "GT_TOWN": str(town.root), **(env or {})}
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", str(GT), *args],
        capture_output=True,
        text=True,
        env=full,
        input=input,
        cwd=cwd,
        timeout=60,
    )
    imported = {
        line.split("|")[-1].strip()
        for line in proc.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert "gastown_tui.cli" in imported, proc.stderr
    stderr = "".join(
        line + "\n" for line in proc.stderr.splitlines() if not line.startswith("import time:")
    )
    served = not any(name.startswith("gastown_tui.commands.") for name in imported)
    return subprocess.CompletedProcess(proc.args, proc.returncode, proc.stdout, stderr), served


def test_the_request_survives_the_wire() -> None:
    request = Request(
        ["gt", "nudge", "alpha/nux", "héllo wörld", "a\tb", "x=y", ""],
        "/tmp/a folder",
        {"GT_TOWN": "/t", "EMPTY": "", "EQ": "a=b=c", "ODD": "\udcff"},
        0o022,
        4242,
        [("utf-8", "strict"), ("utf-8", "surrogateescape"), ("ascii", "backslashreplace")],
    )
    back = decode_request(encode_request(request))
    for name in Request.__slots__:
        assert getattr(back, name) == getattr(request, name), name
    with pytest.raises(ValueError):
        decode_request(b"GTW1" + encode_request(request)[4:-1])  # cut short


def test_the_socket_path_is_the_towns(town: Town) -> None:
    assert Path(socket_path(str(town.root))) == town.paths.command_socket


def test_a_call_reads_the_same_in_the_server_as_in_its_own_process(
    rig_town: Town, server: Server
) -> None:
    bead = rig_town.beads.create("a bead to look at", rig="alpha")
    lines = [
        ("bead", "show", bead.id),
        ("bead", "show", "al-nope"),  # an error: exit 2, the message on stderr
        ("bead", "list", "--rig", "alpha"),
        ("bead", "create", "--rig", "nowhere", "a title"),
        ("ready",),
        ("hook",),  # no agent: the usage error
        ("mail", "inbox", "mayor"),
    ]
    for line in lines:
        served, via_server = call(rig_town, *line)
        itself, via_own = call(rig_town, *line, env={"GT_COMMAND_SERVER": "off"})
        assert via_server and not via_own, line
        assert (served.returncode, served.stdout, served.stderr) == (
            itself.returncode,
            itself.stdout,
            itself.stderr,
        ), line
    assert call(rig_town, "bead", "show", "al-nope")[0].returncode == 2


def test_a_call_gets_the_callers_folder_environment_and_input(
    rig_town: Town, server: Server, tmp_path: Path
) -> None:
    # A relative --town is the caller's folder's, not the server's ("/").
    relative = os.path.relpath(rig_town.root, tmp_path)
    made, served = call(
        rig_town, "--town", relative, "bead", "create", "from a folder", "--rig", "alpha",
        cwd=tmp_path,
    )  # fmt: skip
    assert served and made.returncode == 0, made.stderr
    assert any(b.title == "from a folder" for b in Town.open(rig_town.root).beads.list())
    # Standard input is the caller's: the body comes from the pipe.
    sent, served = call(
        rig_town, "mail", "send", "mayor", "-s", "piped", "--stdin", input="the body\nline 2\n"
    )
    assert served and sent.returncode == 0, sent.stderr
    inbox = Town.open(rig_town.root).mail.inbox("mayor")
    assert [m.body for m in inbox if m.subject == "piped"] == ["the body\nline 2\n"]
    # The environment is the caller's: GT_AGENT says who calls, and the heartbeat names the
    # caller's parent (this test), not the server.
    address = hook_without_window(rig_town, rig_town.beads.create("hooked", rig="alpha").id)
    hooked, served = call(rig_town, "hook", env={"GT_AGENT": address})
    assert served and hooked.returncode == 0 and "hooked" in hooked.stdout, hooked.stderr
    beat = jsoncodec.loads(rig_town.paths.heartbeat(address).read_bytes())
    assert beat["pid"] == os.getpid()


def test_no_server_or_a_refusing_one_means_the_call_runs_itself(rig_town: Town) -> None:
    made, served = call(rig_town, "bead", "create", "no server", "--rig", "alpha")
    assert made.returncode == 0 and not served
    # A socket nobody listens on (a server that was killed): the call still runs, once.
    rig_town.paths.command_socket.parent.mkdir(parents=True, exist_ok=True)
    import socket

    dead = socket.socket(socket.AF_UNIX)
    dead.bind(str(rig_town.paths.command_socket))
    dead.close()
    made, served = call(rig_town, "bead", "create", "dead socket", "--rig", "alpha")
    assert made.returncode == 0 and not served, made.stderr
    titles = [b.title for b in Town.open(rig_town.root).beads.list()]
    assert titles.count("dead socket") == 1


def test_a_long_town_path_is_served(tmp_path: Path, git_repo: Path) -> None:
    deep = tmp_path / ("x" * 60) / ("y" * 60) / "town"
    town = Town.init(deep, name="deep")
    town.rigs.add("alpha", str(git_repo), prefix="al")
    assert len(str(town.paths.command_socket)) > 108  # longer than an AF_UNIX address
    running = Server(town)
    try:
        made, served = call(town, "bead", "create", "deep", "--rig", "alpha")
        assert served and made.returncode == 0, made.stderr
    finally:
        running.stop()


def test_calls_in_parallel_each_run_once(rig_town: Town, server: Server) -> None:
    def create(n: int) -> tuple[int, bool]:
        proc, served = call(rig_town, "bead", "create", f"parallel {n}", "--rig", "alpha")
        return proc.returncode, served

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(create, range(16)))
    assert results == [(0, True)] * 16
    titles = sorted(b.title for b in Town.open(rig_town.root).beads.list())
    assert titles == sorted(f"parallel {n}" for n in range(16))


def start_waiting_call(town: Town) -> subprocess.Popen[str]:
    """`gt mail send --stdin` with the pipe held open: its process waits for the body."""
    return subprocess.Popen(
        [str(GT), "mail", "send", "mayor", "-s", "waits", "--stdin"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "GT_TOWN": str(town.root)},
    )


def wait_for_read(server: Server) -> int:
    """The call's process, once it runs the command: it waits on the caller's stdin pipe."""

    def reading() -> int | None:
        for pid in server.children():
            try:
                if "pipe" in Path(f"/proc/{pid}/wchan").read_text():
                    return pid
            except OSError:
                continue
        return None

    return wait_until(reading, what="the call's process to read its stdin")


def test_ctrl_c_and_kill_reach_the_command(rig_town: Town, server: Server) -> None:
    waiting = start_waiting_call(rig_town)
    call = wait_for_read(server)
    waiting.send_signal(signal.SIGINT)
    _out, err = waiting.communicate(timeout=10)
    assert waiting.returncode == 130 and "gt: interrupted" in err
    wait_until(lambda: not pid_alive(call), what="the interrupted call to end")

    waiting = start_waiting_call(rig_town)
    call = wait_for_read(server)
    waiting.send_signal(signal.SIGTERM)
    waiting.communicate(timeout=10)
    assert waiting.returncode == -signal.SIGTERM  # killed as its own process would have been
    wait_until(lambda: not pid_alive(call), what="the terminated call to end")
    assert not any(m.subject == "waits" for m in Town.open(rig_town.root).mail.inbox("mayor"))


def test_a_command_killed_in_the_server_is_reported_not_run_again(
    rig_town: Town, server: Server
) -> None:
    waiting = start_waiting_call(rig_town)
    os.kill(wait_for_read(server), signal.SIGKILL)
    _out, err = waiting.communicate(timeout=10)
    assert waiting.returncode == -signal.SIGKILL, err
    assert server.process.poll() is None  # the server itself goes on
    made, served = call(rig_town, "bead", "create", "after the kill", "--rig", "alpha")
    assert served and made.returncode == 0


def test_a_server_whose_code_changed_steps_aside(rig_town: Town, tmp_path: Path) -> None:
    # The server runs a copy of the package; an upgrade touches one of its files.
    copy = tmp_path / "site"
    shutil.copytree(
        ROOT / "gastown_tui", copy / "gastown_tui", ignore=shutil.ignore_patterns("__pycache__")
    )
    running = Server(rig_town, env={"PYTHONPATH": str(copy)})
    try:
        assert call(rig_town, "bead", "list")[1]
        changed = copy / "gastown_tui" / "commands" / "beads.py"
        os.utime(changed, ns=(time.time_ns(), time.time_ns() + 10**9))
        # It looks at its files once a second: it leaves, and takes its socket with it.
        wait_until(lambda: not rig_town.paths.command_socket.exists(), timeout=3 * CHECK_EVERY)
        made, served = call(rig_town, "bead", "create", "after the upgrade", "--rig", "alpha")
        assert made.returncode == 0 and not served, made.stderr
        running.process.wait(10)
    finally:
        running.stop()
    titles = [b.title for b in Town.open(rig_town.root).beads.list()]
    assert titles.count("after the upgrade") == 1


def test_a_newer_server_takes_the_socket_and_the_older_leaves(rig_town: Town) -> None:
    older = Server(rig_town)
    first = rig_town.paths.command_socket.stat().st_ino
    newer = Server(rig_town)
    try:
        wait_until(lambda: rig_town.paths.command_socket.stat().st_ino != first)
        older.process.wait(10)
        assert call(rig_town, "bead", "list")[1]
    finally:
        older.stop()
        newer.stop()


def test_the_server_leaves_with_its_parent(rig_town: Town) -> None:
    # A parent that starts the server and exits at once: the server notices within a second.
    code = (
        "import subprocess, sys\n"
        "p = subprocess.Popen([sys.executable, '-m', 'gastown_tui.cmdserver', '--town',"
        f" {str(rig_town.root)!r}, '--parent', str(__import__('os').getpid())])\n"
        "print(p.pid, flush=True)\n"
        f"import time, os.path\nwhile not os.path.exists({str(rig_town.paths.command_socket)!r}):"
        " time.sleep(0.02)\n"
    )
    parent = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, cwd=ROOT
    )
    pid = int(parent.stdout.split()[0])
    spares = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    wait_until(lambda: not pid_alive(pid), timeout=10, what="the orphaned server to leave")
    assert not rig_town.paths.command_socket.exists()
    for spare in spares:  # and its spare with it
        wait_until(lambda spare=spare: not pid_alive(int(spare)), what="the spare to leave")


class _Quiet:
    def took_over(self, pid: int) -> None: ...
    def recovered(self, actions: list[str]) -> None: ...
    def stepped_down(self, reason: str | None) -> None: ...
    def viewer(self, holder: object) -> None: ...


def test_the_supervisor_runs_the_server_while_it_holds_the_lease(rig_town: Town) -> None:
    from gastown_tui.dispatch.tmuxfor import tmux_for

    loop = SupervisorLoop(rig_town, tmux_for(rig_town), "daemon", report=_Quiet())
    try:
        assert loop.step()
        wait_until(lambda: rig_town.paths.command_socket.exists(), what="the server")
        assert call(rig_town, "bead", "list")[1]
        process = loop.command_server.process if loop.command_server else None
        assert process is not None
    finally:
        loop.close()
    assert process.poll() is not None and not rig_town.paths.command_socket.exists()
    assert not call(rig_town, "bead", "list")[1]


def test_the_server_can_be_turned_off_in_town_toml(rig_town: Town) -> None:
    from gastown_tui.dispatch.tmuxfor import tmux_for

    toml = rig_town.paths.town_toml
    text = toml.read_text()
    assert "command_server = true" in text  # the template says what the default is
    toml.write_text(text.replace("command_server = true", "command_server = false"))
    town = Town.open(rig_town.root)
    loop = SupervisorLoop(town, tmux_for(town), "daemon", report=_Quiet())
    try:
        assert loop.step()
        time.sleep(0.5)
        assert loop.command_server is not None and not loop.command_server.running
        assert not town.paths.command_socket.exists()
    finally:
        loop.close()


def test_agents_run_the_towns_own_gt_and_it_is_served(
    rig_town: Town, server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gastown_tui.dispatch.agents import agent_bin, window_env

    env = window_env(rig_town, "alpha/nux", "al-x")
    first = env["PATH"].split(os.pathsep)[0]
    assert first == str(rig_town.paths.runtime / "bin")
    assert not Path(first).exists()  # written only as a window starts, not by asking
    assert agent_bin(rig_town) == first
    script = Path(first) / "gt"
    assert sys.executable in script.read_text().splitlines()[int(" " in sys.executable)]
    assert os.access(script, os.X_OK)
    full = {**os.environ, "GT_TOWN": str(rig_town.root), "PYTHONPROFILEIMPORTTIME": "1"}
    mine = subprocess.run(
        [str(script), "bead", "list"], capture_output=True, text=True, env=full, timeout=60
    )
    theirs = subprocess.run(
        [str(GT), "bead", "list"], capture_output=True, text=True, env=full, timeout=60
    )
    assert mine.returncode == theirs.returncode == 0 and mine.stdout == theirs.stdout
    imported = {line.split("|")[-1].strip() for line in mine.stderr.splitlines()}
    assert "gastown_tui.cmdwire" in imported  # it asked the server...
    # ...and loaded no more: not even the interpreter's `site` (it starts with -S)
    assert "re" not in imported and COMMAND_MODULE not in imported and "site" not in imported
    # With no server to run it, it runs the call itself, site-packages and all.
    alone = subprocess.run(
        [str(script), "bead", "list"],
        capture_output=True,
        text=True,
        env={**full, "GT_COMMAND_SERVER": "off"},
        timeout=60,
    )
    assert alone.returncode == 0 and alone.stdout == theirs.stdout
    assert "site" in {line.split("|")[-1].strip() for line in alone.stderr.splitlines()}
    # An interpreter in a folder with a space: sh starts it (the script above, run in such a
    # folder, is that one). One with a quote in its path: the installed gt, as before.
    monkeypatch.setattr(sys, "executable", "/opt/a b/python3")
    assert agent_bin(rig_town) == first
    assert script.read_text().startswith("#!/bin/sh\n'''exec' '/opt/a b/python3' -S \"$0\" \"$@\"")
    monkeypatch.setattr(sys, "executable", "/opt/a'b/python3")
    assert agent_bin(rig_town) is None
    assert window_env(rig_town, "alpha/nux", "al-x")["PATH"].startswith("/opt/a'b:")


def test_a_server_for_a_folder_that_is_no_town_says_so_and_writes_nothing(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "gastown_tui.cmdserver", "--town", str(tmp_path / "nowhere")],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert proc.returncode == 2 and "is not a town" in proc.stderr
    assert "Traceback" not in proc.stderr and list(tmp_path.iterdir()) == []


def test_served_nudges_share_the_servers_one_tmux_client(
    rig_town: Town, tmux: TownTmux, reader: Path
) -> None:
    """Every sling and nudge the server runs uses its one control client: no client attaches
    or detaches per call. (Before tmux 3.7 a client told of a detach while it connects
    crashes the server with every agent in it: tmux/server.py `control_safe`.)"""
    import threading

    from gastown_tui.dispatch.sling import sling
    from gastown_tui.tmux.control import start_client

    sling(rig_town, tmux, rig_town.beads.create("listen", rig="alpha").id, "alpha",
          runtime="reader", to="nux")  # fmt: skip
    server_pid = int(tmux.run("display-message", "-p", "#{pid}").stdout)
    running = Server(rig_town)
    try:

        def servers_client() -> int | None:
            for line in tmux.run("list-clients", "-F", "#{client_pid}").lines:
                if int(line) in running.children():
                    return int(line)
            return None

        shared = wait_until(servers_client, what="the server's own tmux client")
        # A watcher of ours hears of every client that detaches from now on.
        watcher = start_client(tmux.base_argv(), "gt-alpha", "ignore-size,no-output")
        heard: list[str] = []
        assert watcher.stdout is not None
        reading = threading.Thread(
            target=lambda: heard.extend(line.decode() for line in watcher.stdout), daemon=True
        )
        reading.start()
        wait_until(lambda: any(line.startswith("%end") for line in heard), what="attached")
        for n in range(6):
            done, served = call(rig_town, "nudge", "alpha/nux", f"served {n}")
            assert served and done.returncode == 0, done.stderr
        assert_received(reader, [f"served {n}" for n in range(6)])
        assert servers_client() == shared  # the same client throughout
        assert watcher.stdin is not None
        watcher.stdin.close()
        watcher.wait(10)
        reading.join(10)
        assert not [line for line in heard if line.startswith("%client-detached")], heard
        assert int(tmux.run("display-message", "-p", "#{pid}").stdout) == server_pid
    finally:
        running.stop()
    # It leaves with its server.
    wait_until(lambda: tmux.run("list-clients").stdout == "", what="its client to go")
