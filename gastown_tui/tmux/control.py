"""A tmux control-mode client (`tmux -C attach`): output and window events as they happen.

tmux tells a control client of every write to a pane of its session (`%output %N ...`),
of windows opening and closing (`%window-add`, `%window-close`, `%unlinked-window-close`),
of sessions coming and going (`%sessions-changed`) and of its own end (`%exit`), and answers
commands written to its stdin in `%begin`/`%end` blocks. So one long-lived client replaces a
`capture-pane` exec per pane per look: the observer (dispatch/live.py) learns *which* panes
changed and asks only about those, through the same pipe, without starting a process.

Found by probing tmux 3.3a:

- `%output` comes only for panes of the client's own session: one client per session.
- The client is attached with `-f read-only,ignore-size`: it cannot type into a pane, and
  it never shrinks the agents' windows to its own (default 80x24) size.
- A control client counts as attached (`session_attached`) and is listed by `list-clients`
  (`client_control_mode` 1): tmux/server.py and supervise/notify.py leave such clients out.
- EOF on its stdin detaches it, so a supervisor that dies (even by SIGKILL) leaves no client
  behind: the pipe closes with the process.
- Command output is not escaped: a pane whose text holds a line like `%end ...` could cut a
  capture short. Blocks are matched on their own time and number, and the worst an agent
  can do that way is garble its own capture (the next capture reads it again).
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from gastown_tui.town.errors import GtFailure

# What the observer is told: ("output", "%N"), ("topology", name), ("exit", reason).
Listener = Callable[[str, str], None]

_TOPOLOGY = frozenset(
    {
        b"%window-add",
        b"%window-close",
        b"%unlinked-window-add",
        b"%unlinked-window-close",
        b"%window-renamed",
        b"%unlinked-window-renamed",
        b"%sessions-changed",
        b"%session-changed",
        b"%layout-change",
        b"%pane-mode-changed",
    }
)


class ControlClosed(GtFailure):
    """The control client is gone (its session ended, the server died, it was killed)."""


@dataclass
class _Pending:
    done: threading.Event
    lines: list[str]
    ok: bool = False
    closed: bool = False


def quote(arg: str) -> str:
    """One argument of a control-mode command line: single-quoted (tmux's parser takes `#`
    outside quotes as a comment). Our arguments never hold a quote or a newline."""
    if "'" in arg or "\n" in arg:
        raise ValueError(f"not a control-mode argument: {arg!r}")
    return f"'{arg}'"


def start_client(
    base_argv: Sequence[str], session: str, flags: str, *, dies_with_owner: bool = False
) -> subprocess.Popen[bytes]:
    """`tmux -C attach-session -f FLAGS -t =SESSION`, talked to through its stdin/stdout.

    `dies_with_owner`: the client is killed when the thread that starts it ends, however it
    ends (util-linux `setpriv --pdeathsig`, ~1 ms more, where it is installed). A client
    normally ends at EOF on its stdin, but tmux 3.3a reads that EOF in the server, and an
    exiting control client waits there until its queued output is written, which with its
    owner gone can be for ever (seen once here: the client and the server outlived a
    SIGKILLed observer; tmux gives up after 10 s since its issue 5444, after 3.3a). A killed
    client closes its socket, and the server lets it go at once."""
    argv = [base_argv[0], "-u", *base_argv[1:]]
    if dies_with_owner and (setpriv := _setpriv()):
        argv = [setpriv, "--pdeathsig", "KILL", *argv]
    argv += ["-C", "attach-session", "-f", flags, "-t", f"={session}"]
    # A TMUX inherited from the user's own tmux must not steer it (tmux/server.py run).
    env = {k: v for k, v in os.environ.items() if k not in ("TMUX", "TMUX_PANE")}
    return subprocess.Popen(
        argv,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
        # Its own session: a Ctrl-C meant for the app is not its business, and it ends
        # through its stdin instead (see close).
        start_new_session=True,
    )


@functools.cache
def _setpriv() -> str | None:
    return shutil.which("setpriv")


class ControlClient:
    """One `tmux -C attach` on one session of the town's server, for as long as the thread
    that starts it (the observer's, dispatch/live.py) runs."""

    def __init__(self, base_argv: Sequence[str], session: str, listener: Listener) -> None:
        self.session = session
        self._listener = listener
        self._proc = start_client(base_argv, session, "read-only,ignore-size", dies_with_owner=True)
        self._write_lock = threading.Lock()
        self._pending: deque[_Pending] = deque()
        self._alive = True
        self.exit_reason = ""
        self._reader = threading.Thread(
            target=self._read, name=f"tmux-control {session}", daemon=True
        )
        self._reader.start()

    @property
    def pid(self) -> int:
        return self._proc.pid

    @property
    def alive(self) -> bool:
        return self._alive and self._proc.poll() is None

    # -- commands -------------------------------------------------------------------------
    def commands(self, lines: Sequence[str], timeout: float = 5.0) -> list[tuple[bool, list[str]]]:
        """Send command lines at once (pipelined) and wait for every answer, in order:
        (ok, output lines) each. Raises ControlClosed if the client goes away first."""
        if not lines:
            return []
        waits = [_Pending(threading.Event(), []) for _ in lines]
        payload = "".join(f"{line}\n" for line in lines).encode("utf-8")
        with self._write_lock:
            if not self.alive or self._proc.stdin is None:
                raise ControlClosed(f"tmux control client of {self.session} is gone")
            # Queued before the write: tmux may answer before write() returns.
            self._pending.extend(waits)
            try:
                self._proc.stdin.write(payload)
                self._proc.stdin.flush()
            except (OSError, ValueError):
                self._fail_pending()
                raise ControlClosed(f"tmux control client of {self.session} is gone") from None
        for pending in waits:
            if not pending.done.wait(timeout):
                raise ControlClosed(f"tmux control client of {self.session} did not answer")
            if pending.closed:
                raise ControlClosed(f"tmux control client of {self.session} is gone")
        return [(p.ok, p.lines) for p in waits]

    def command(self, line: str, timeout: float = 5.0) -> list[str]:
        ok, out = self.commands([line], timeout)[0]
        if not ok:
            raise GtFailure(f"tmux {line.split(' ', 1)[0]} failed: {' '.join(out)}")
        return out

    # -- reading --------------------------------------------------------------------------
    def _read(self) -> None:
        stdout = self._proc.stdout
        assert stdout is not None
        block: _Pending | None = None
        guard = b""
        try:
            for raw in stdout:
                line = raw.rstrip(b"\n")
                if block is not None:
                    if line.startswith((b"%end ", b"%error ")) and line.split(b" ", 1)[1] == guard:
                        block.ok = line.startswith(b"%end")
                        block.done.set()
                        block = None
                    else:
                        block.lines.append(line.decode("utf-8", "replace"))
                    continue
                if line.startswith(b"%output "):
                    pane = line[8 : line.find(b" ", 8)]
                    self._tell("output", pane.decode("ascii", "replace"))
                elif line.startswith(b"%begin "):
                    guard = line.split(b" ", 1)[1]
                    # Flags 1: a command this client sent; 0: its own attach at start.
                    if guard.endswith(b" 1") and self._pending:
                        block = self._pending.popleft()
                    else:
                        block = _Pending(threading.Event(), [])
                elif line.startswith(b"%exit"):
                    self.exit_reason = line[6:].decode("utf-8", "replace").strip()
                    break
                else:
                    word = line.split(b" ", 1)[0]
                    if word in _TOPOLOGY:
                        self._tell("topology", word.decode("ascii", "replace"))
        except (OSError, ValueError):
            pass
        finally:
            self._alive = False
            if block is not None:
                block.closed = True
                block.done.set()
            self._fail_pending()
            self._tell("exit", self.exit_reason or "closed")

    def _tell(self, kind: str, what: str) -> None:
        with contextlib.suppress(Exception):  # the observer's trouble is not the reader's
            self._listener(kind, what)

    def _fail_pending(self) -> None:
        while self._pending:
            pending = self._pending.popleft()
            pending.closed = True
            pending.done.set()

    # -- ending ---------------------------------------------------------------------------
    def close(self, timeout: float = 2.0) -> None:
        """Detach (EOF on stdin), then make sure the process is gone and reaped."""
        with self._write_lock, contextlib.suppress(OSError, ValueError):
            if self._proc.stdin is not None:
                self._proc.stdin.close()
        try:
            self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(timeout)
        self._reader.join(timeout)
        with contextlib.suppress(OSError, ValueError):
            if self._proc.stdout is not None:
                self._proc.stdout.close()
        self._alive = False


def split_commands(args: Sequence[str]) -> list[list[str]]:
    """An argv of tmux commands as tmux's own argv parser splits it (tmux/server.py
    `escape_arg`): `;` alone separates, a trailing `;` ends the argument and the command, a
    trailing `\\;` is a literal `;`."""
    commands: list[list[str]] = [[]]
    for arg in args:
        if arg == ";":
            commands.append([])
        elif arg.endswith("\\;"):
            commands[-1].append(arg[:-2] + ";")
        elif arg.endswith(";"):
            commands[-1].append(arg[:-1])
            commands.append([])
        else:
            commands[-1].append(arg)
    return [command for command in commands if command]


class _NotTaken(Exception):
    """The control client left before it began the command: the command did not run."""


class _LeftMidCommand(Exception):
    """The control client left after it began the command and before its answer."""


# What a `tmux` process prints when its server dies under it (tmux/server.py reads "server
# exited" as no server).
LEFT_MID_COMMAND = "server exited unexpectedly (the control client left mid-command)\n"


def _joined(lines: list[str]) -> str:
    return "".join(f"{line}\n" for line in lines)


def quote_any(arg: str) -> str:
    """Any argument without a line break, for tmux's command parser: single-quoted (nothing
    is special inside), a `'` written as `"'"` between two quoted parts."""
    return "'" + arg.replace("'", "'\"'\"'") + "'"


class CommandPipe:
    """A control-mode client used only to run commands, one at a time, from one thread: a
    call costs ~0.2 ms instead of a `tmux` process of ~2.5 ms (tmux/server.py `batched`).
    Attached with `ignore-size,no-output`: it never resizes a window and is told of no
    output. Its answers read exactly as a `tmux` process's output (the same command prints
    the same lines), an error as a failed call with tmux's message."""

    def __init__(self, proc: subprocess.Popen[bytes], timeout: float) -> None:
        self._proc = proc
        self._timeout = timeout
        self._buffer = b""
        self._attached: bool | None = None

    @classmethod
    def open(cls, base_argv: Sequence[str], session: str, timeout: float) -> CommandPipe | None:
        """A client attaching to `session`; None if it could not be started. Without such a
        session (or server) its first call takes nothing, and the calls go as processes."""
        try:
            proc = start_client(base_argv, session, "ignore-size,no-output")
        except OSError:
            return None
        # Its attach is read with the first call, so it goes on while the caller does other
        # work (a nudge reads the town meanwhile).
        return cls(proc, timeout)

    def _attach(self) -> bool:
        if self._attached is None:
            try:
                self._attached, _ = self._block(ours=False)  # the attach's own block
            except (GtFailure, _NotTaken):  # no server: it left at once
                self._attached = False
            if not self._attached:  # no such session: %error, then it leaves
                self.closed = True
        return self._attached

    closed = False  # it left: the calls after go as processes

    def retire(self) -> None:
        """Take no more calls (they go as processes); the client is ended by `close`."""
        self.closed = True

    def detach(self) -> None:
        """Take no more calls, and let the client start leaving now (EOF on its stdin):
        `close` then only reaps it."""
        self.closed = True
        with contextlib.suppress(OSError, ValueError):
            if self._proc.stdin is not None:
                self._proc.stdin.close()

    @staticmethod
    def fits(commands: list[list[str]]) -> bool:
        """Can these go down a control line? Not with a line break in an argument."""
        return not any(ch in arg for command in commands for arg in command for ch in "\n\r\0")

    def run(self, commands: list[list[str]]) -> tuple[int, str, str, int]:
        """(returncode, stdout, stderr) as one `tmux` process would give them for these
        commands, and how many of them it took. Fewer than all with returncode 0: the client
        left (its session ended, say by the kill of its last window) before the next one,
        which did not run, or answered it with a wordless failure. Left in the middle of
        one: failed, as a process whose server died. GtFailure when tmux did not answer in
        time."""
        out: list[str] = []
        if not self._attach():
            return 0, "", "", 0
        for taken, command in enumerate(commands):
            line = " ".join(quote_any(arg) for arg in command) + "\n"
            try:
                self._send(line.encode("utf-8", "surrogateescape"))
                ok, lines = self._block()
            except (OSError, ValueError, _NotTaken):
                self.closed = True
                return 0, _joined(out), "", taken
            except _LeftMidCommand:
                # Its session or the server ended while the command ran: answered as a `tmux`
                # process whose server went away is (a sling's window start then starts it
                # again, on a fresh server: dispatch/sling/start.py).
                self.closed = True
                return 1, _joined(out), LEFT_MID_COMMAND, taken + 1
            if not ok and not lines:
                # A failure without a word: this client is leaving (its session ending) and
                # tmux dropped the message with it. Seen under racing slings on `list-panes`
                # and on a pane's screen. Taken as a command not begun, as when the client
                # leaves before one: it and the rest go as processes, for a real answer.
                self.closed = True
                return 0, _joined(out), "", taken
            if not ok:  # as in one tmux call: the commands after a failed one do not run
                return 1, _joined(out), "\n".join(lines) + "\n", taken + 1
            out.extend(lines)
        return 0, _joined(out), "", len(commands)

    def _send(self, data: bytes) -> None:
        assert self._proc.stdin is not None
        self._proc.stdin.write(data)
        self._proc.stdin.flush()

    def _read_fd(self) -> int:
        assert self._proc.stdout is not None
        return self._proc.stdout.fileno()

    def _block(self, ours: bool = True) -> tuple[bool, list[str]]:
        """The next answer block (`ours`: of a command this client sent, flags 1; a hook's
        or the attach's own block, flags 0, is read past)."""
        guard: bytes | None = None
        lines: list[str] = []
        while True:
            line = self._line(begun=guard is not None)
            if guard is None:
                if line.startswith(b"%begin "):
                    guard = line.split(b" ", 1)[1]
                elif line.startswith(b"%exit"):
                    raise _NotTaken(line[6:].decode("utf-8", "replace"))
                continue  # notifications: not ours to read
            if line.startswith((b"%end ", b"%error ")) and line.split(b" ", 1)[1] == guard:
                if not ours or guard.endswith(b" 1"):
                    return line.startswith(b"%end"), lines
                guard, lines = None, []
                continue
            lines.append(line.decode("utf-8", "replace"))

    def _line(self, begun: bool = False) -> bytes:
        import select

        deadline = time.monotonic() + self._timeout
        stdout = self._read_fd()
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([stdout], [], [], left)[0]:
                raise GtFailure(f"tmux did not answer within {self._timeout:.0f}s")
            chunk = os.read(stdout, 65536)
            if not chunk:
                raise _LeftMidCommand() if begun else _NotTaken("closed")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return line

    def close(self) -> None:
        """Detach (EOF on stdin) and reap it."""
        with contextlib.suppress(OSError, ValueError):
            if self._proc.stdin is not None:
                self._proc.stdin.close()
        try:
            self._proc.wait(2.0)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        with contextlib.suppress(OSError, ValueError):
            if self._proc.stdout is not None:
                self._proc.stdout.close()


# A control line of at most this many bytes is written whole to a pipe (POSIX PIPE_BUF), so
# a call killed while writing one leaves no half line for the next user of a shared client.
SHARED_LINE_MAX = 4000


class SharedClient:
    """The one control-mode client of a long-lived process (the town's command server,
    cmdserver.py), used by the processes it forks to run calls (SharedPipe). It connects
    once and stays, where a client per call connects and detaches every time: before tmux
    3.7 each of those is a chance to crash the server (tmux/server.py `control_safe`).

    It attaches to any session of the town's (commands name their targets) and is started
    again when it has gone (its session ended) and a session exists. What tmux tells it that
    no call reads (windows and sessions coming and going) is drained by its owner."""

    RETRY = 1.0  # seconds between attempts to start it, doubled while there is no session
    RETRY_MAX = 8.0

    def __init__(
        self,
        base_argv: Sequence[str],
        socket_name: str,
        lock_path: Path,
        sessions: Callable[[], list[str]],
    ) -> None:
        self.base_argv = list(base_argv)
        self.socket_name = socket_name
        self.lock_path = lock_path
        self._sessions = sessions
        self._proc: subprocess.Popen[bytes] | None = None
        self._next_try = 0.0
        self._retry = self.RETRY

    def keep(self) -> None:
        """From the owner's loop: start it when none runs and there is a session to attach
        to (at most once a RETRY), else drain it."""
        if self._proc is not None and self._proc.poll() is not None:
            self.close()
        if self._proc is None:
            if time.monotonic() < self._next_try:
                return
            sessions = self._sessions()  # a `tmux` process: not every second of an idle town
            self._retry = self.RETRY if sessions else min(self._retry * 2, self.RETRY_MAX)
            self._next_try = time.monotonic() + self._retry
            if sessions:
                with contextlib.suppress(OSError):
                    self._proc = start_client(
                        self.base_argv, sessions[0], "ignore-size,no-output", dies_with_owner=True
                    )
            return
        self._drain()

    def fds(self) -> tuple[int, int] | None:
        """(its stdin, its stdout) while it runs, for SharedPipe in a forked process. (Not
        `poll`ed: a forked process cannot wait for its owner's child; `keep` does.)"""
        proc = self._proc
        if proc is None or proc.stdin is None or proc.stdout is None or proc.returncode is not None:
            return None
        return proc.stdin.fileno(), proc.stdout.fileno()

    def _drain(self) -> None:
        import select

        from gastown_tui.town.storage.files import try_flock

        held = try_flock(self.lock_path)
        if held is None:
            return  # a call is using it: it reads past what came meanwhile
        try:
            fds = self.fds()
            while fds is not None and select.select([fds[1]], [], [], 0)[0]:
                if not os.read(fds[1], 65536):
                    break
        finally:
            os.close(held)

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        proc.kill()  # not EOF: tmux 3.3a can keep an exiting client waiting (start_client)
        proc.wait()
        for stream in (proc.stdin, proc.stdout):
            with contextlib.suppress(OSError, ValueError):
                if stream is not None:
                    stream.close()


class SharedPipe(CommandPipe):
    """A SharedClient as seen from a process forked by its owner: a CommandPipe whose calls
    take turns under a flock. A turn begins by asking for a fresh word and reading up to its
    answer, which skips whatever a call before (one killed half-way, say) left unread."""

    def __init__(self, write_fd: int, read_fd: int, lock_path: Path, timeout: float) -> None:
        self._write = write_fd
        self._read = read_fd
        self._lock_path = lock_path
        self._timeout = timeout
        self._buffer = b""
        self._attached = True
        self._turns = 0

    def _send(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self._write, view) :]

    def _read_fd(self) -> int:
        return self._read

    @staticmethod
    def fits(commands: list[list[str]]) -> bool:
        if not CommandPipe.fits(commands):
            return False
        return all(
            len(" ".join(quote_any(arg) for arg in command).encode()) < SHARED_LINE_MAX
            for command in commands
        )

    def run(self, commands: list[list[str]]) -> tuple[int, str, str, int]:
        from gastown_tui.town.storage.files import flocked

        with flocked(self._lock_path, self._timeout):
            self._buffer = b""  # what this process read last turn may be stale by now
            try:
                self._resync()
            except (OSError, _NotTaken, _LeftMidCommand):
                self.closed = True
                return 0, "", "", 0
            return super().run(commands)

    def _resync(self) -> None:
        self._turns += 1
        word = f"gt-turn-{os.getpid()}-{self._turns}"
        self._send(f"display-message -p {quote_any(word)}\n".encode())
        while True:
            _ok, lines = self._block()
            if lines == [word]:
                return

    def detach(self) -> None:
        """Nothing to let go: the client is its owner's, and stays for the next call."""

    def close(self) -> None:
        """Likewise: the end of a `batched` block ends nothing here."""
