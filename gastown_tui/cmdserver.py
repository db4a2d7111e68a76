"""The town's command server: a warm process that runs the `gt` calls agents make all day.

Started by the supervisor that holds the town's lease (supervise/command_server.py) as
`python -m gastown_tui.cmdserver --town DIR --parent PID`; gastown_tui/cmdwire.py is the
calling side and says why. One process, one thread: it imports the CLI and what the hot
commands load, listens on `<town>/.runtime/command.sock`, and for each call forks a process
that takes the caller's descriptors, folder, umask, environment and argv and runs cli.main as
a fresh `gt` would. Nothing of a call outlives its process: the server itself never opens the
town, so every call reads the town as it is.

It answers only its own user (SO_PEERCRED), and stops taking calls (then exits once its calls
have ended) when:
- its parent, the supervisor, is gone, or SIGTERM says so;
- its socket was removed or replaced (a newer server took over);
- a module it loaded changed on disk (an upgrade or a checkout): that call and every later
  one run in the caller's process until the supervisor starts a fresh server.
A call refused for any reason ran nowhere, and the caller runs it itself.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import io
import os
import select
import signal
import socket
import sys
import time
import traceback
from pathlib import Path

from gastown_tui import cli
from gastown_tui.cmdwire import MAX_REQUEST, SOCKET_NAME, Request, decode_request, socket_path
from gastown_tui.town import procs

# What the hot commands load (tests/test_cli_cheap.py keeps these lists short); whatever else
# a call imports is reported back by its process and imported here for the next call.
WARM_MODULES = (
    "gastown_tui.commands.quick",
    "gastown_tui.commands.polecats",
    "gastown_tui.commands.mail",
    "gastown_tui.commands.beads",
    "gastown_tui.commands.signal",
    "gastown_tui.commands.argparsing",
    "gastown_tui.town.town",
    "gastown_tui.town.display",
    "gastown_tui.dispatch.nudge",
    "gastown_tui.dispatch.sling",
    "gastown_tui.dispatch.tmuxfor",
)
CHECK_EVERY = 1.0  # seconds between looks at the parent and the socket when idle
PACKAGE = Path(__file__).resolve().parent


class Server:
    def __init__(self, town_root: Path, parent: int | None) -> None:
        self.town_root = town_root
        self.path = Path(socket_path(str(town_root)))
        self.parent = parent
        self.listener: socket.socket | None = None
        self.inode: tuple[int, int] | None = None
        self.calls: dict[int, tuple[socket.socket, int]] = {}  # pid -> (caller, warm pipe)
        self.stamps: dict[str, int] = {}
        self.stopping = False
        self._checked_at = -CHECK_EVERY
        self.wake_r, self.wake_w = os.pipe()

    # start-up --------------------------------------------------------------------------------
    def warm(self, names: list[str]) -> None:
        for name in names:
            if name in sys.modules:
                continue
            try:
                importlib.import_module(name)
            except Exception:  # a module that will not load here loads in the call's process
                continue
        self._stamp()

    def _stamp(self) -> None:
        """The package's files as loaded: a later change means this process runs old code."""
        for module in list(sys.modules.values()):
            file = getattr(module, "__file__", None)
            if file and file not in self.stamps and file.startswith(str(PACKAGE)):
                try:
                    self.stamps[file] = os.stat(file).st_mtime_ns
                except OSError:
                    continue

    def stale(self) -> bool:
        """Looked at once a second at most: a few hundred stats are ~0.5 ms of a call."""
        now = time.monotonic()
        if now - self._checked_at < CHECK_EVERY:
            return False
        self._checked_at = now
        for file, stamp in self.stamps.items():
            try:
                if os.stat(file).st_mtime_ns != stamp:
                    return True
            except OSError:
                return True
        return False

    def listen(self) -> None:
        """Bind beside the final name and rename over it, so a caller never finds a socket
        that does not answer yet; a server it replaces notices and leaves."""
        folder = self.path.parent
        if not folder.is_dir():
            raise SystemExit(f"gt command server: no folder {folder}")
        os.chdir(folder)  # a short relative address, however long the town's path
        temporary = f".{SOCKET_NAME}.{os.getpid()}"
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(temporary)
        os.chmod(temporary, 0o600)
        listener.listen(128)
        os.replace(temporary, SOCKET_NAME)
        info = os.stat(SOCKET_NAME)
        self.listener, self.inode = listener, (info.st_dev, info.st_ino)
        os.chdir("/")

    # the loop --------------------------------------------------------------------------------
    def serve(self) -> None:
        os.set_blocking(self.wake_w, False)
        signal.set_wakeup_fd(self.wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.signal(signal.SIGTERM, self._on_term)
        signal.signal(signal.SIGINT, self._on_term)
        gc.collect()
        gc.freeze()  # the calls' processes share these pages instead of copying them
        while not (self.stopping and not self.calls):
            watched = [self.wake_r] + ([self.listener] if self.listener else [])
            try:
                ready, _, _ = select.select(watched, [], [], CHECK_EVERY)
            except InterruptedError:
                ready = []
            if self.wake_r in ready:
                os.read(self.wake_r, 512)
            self._reap()
            if self.listener is not None and self._should_stop():
                self._stop_listening()
            if self.listener is not None and self.listener in ready:
                self._accept()
        self._stop_listening()

    def _on_term(self, _signum: int, _frame: object) -> None:
        self.stopping = True

    def _should_stop(self) -> bool:
        if self.stopping:
            return True
        if self.parent is not None and os.getppid() != self.parent:
            return True
        try:
            info = os.stat(self.path)
        except OSError:
            return True
        return (info.st_dev, info.st_ino) != self.inode

    def _stop_listening(self) -> None:
        """Take no more calls; the ones running finish and are answered."""
        self.stopping = True
        if self.listener is None:
            return
        self.listener.close()
        self.listener = None
        try:
            info = os.stat(self.path)
            if (info.st_dev, info.st_ino) == self.inode:
                self.path.unlink()
        except OSError:
            pass

    def _accept(self) -> None:
        assert self.listener is not None
        try:
            caller, _ = self.listener.accept()
        except OSError:
            return
        peer_uid = _peer_uid(caller)
        if peer_uid != os.getuid():
            caller.close()  # only its own user's calls (the socket is 0600 in a 0700 folder)
            return
        if self.stale():
            _refuse(caller, "stale")  # the caller runs the call itself
            caller.close()
            self._stop_listening()
            return
        warm_r, warm_w = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the call's own process; it always leaves by _exit
            os.close(warm_r)
            _run_call(self, caller, warm_w)
        os.close(warm_w)
        self.calls[pid] = (caller, warm_r)

    def _reap(self) -> None:
        while self.calls:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            entry = self.calls.pop(pid, None)
            if entry is None:
                continue
            caller, warm_r = entry
            try:
                caller.sendall(b"X %d\n" % status)
            except OSError:
                pass  # the caller went away: the command still ran to its end
            caller.close()
            names = _read_all(warm_r).decode("utf-8", "replace").split()
            os.close(warm_r)
            if names and not self.stopping:
                gc.unfreeze()
                self.warm(names)
                gc.collect()
                gc.freeze()


def _peer_uid(sock: socket.socket) -> int:
    credentials = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12)
    return int.from_bytes(credentials[4:8], sys.byteorder)


def _refuse(caller: socket.socket, reason: str) -> None:
    try:
        caller.sendall(b"R " + reason.encode() + b"\n")
    except OSError:
        pass


def _read_all(fd: int) -> bytes:
    chunks = []
    while True:
        chunk = os.read(fd, 65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def _receive(caller: socket.socket) -> tuple[bytes, list[int]]:
    """The request and the caller's three descriptors, however the kernel split them."""
    caller.settimeout(10.0)  # a caller that connects and says nothing does not hold a process
    data, fds, _flags, _address = socket.recv_fds(caller, 65536, 3)
    while len(data) >= 8 and len(data) < 8 + int.from_bytes(data[4:8], "little"):
        if len(data) > MAX_REQUEST:
            break
        more = caller.recv(65536)
        if not more:
            break
        data += more
    caller.settimeout(None)
    return data, fds


def _run_call(server: Server, caller: socket.socket, warm_w: int) -> None:
    """In the call's own process: become the `gt` the caller would have run, run it, leave."""
    code = 1
    try:
        signal.set_wakeup_fd(-1)
        for signum in (signal.SIGCHLD, signal.SIGTERM):
            signal.signal(signum, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        if server.listener is not None:
            server.listener.close()
        os.close(server.wake_r)
        os.close(server.wake_w)
        for other, pipe in server.calls.values():
            other.close()
            os.close(pipe)
        try:
            data, fds = _receive(caller)
            request = decode_request(data)
            if len(fds) != 3:
                raise ValueError("a gt request without its three descriptors")
        except (OSError, ValueError) as exc:
            _refuse(caller, f"bad request: {exc}")
            os._exit(2)
        try:
            _become(request, fds)
        except OSError as exc:
            _refuse(caller, f"cannot take the call: {exc}")
            os._exit(2)
        before = set(sys.modules)
        caller.sendall(b"P %d\n" % os.getpid())
        try:
            code = cli.main(request.argv[1:])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except KeyboardInterrupt:
            sys.stderr.write("gt: interrupted\n")
            code = 130
        _flush()
        new = " ".join(sorted(set(sys.modules) - before))
        if new:
            os.set_blocking(warm_w, False)
            try:
                os.write(warm_w, new.encode()[:60000])
            except OSError:
                pass
    except BaseException:  # the process must leave by _exit whatever happened
        try:
            traceback.print_exc()
            _flush()
        finally:
            os._exit(1)
    os._exit(code & 0xFF)


def _become(request: Request, fds: list[int]) -> None:
    """Take the caller's place: its descriptors as 0, 1 and 2, its folder, umask, environment
    and argv; stdio objects as a fresh interpreter would have made them for it."""
    os.chdir(request.cwd)
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    os.umask(request.umask)
    os.environ.clear()
    os.environ.update(request.env)
    sys.argv = list(request.argv)
    (in_enc, in_err), (out_enc, out_err), (err_enc, _stderr_errors) = (
        request.encodings
    )  # always backslashreplace
    sys.stdin = sys.__stdin__ = _text(0, "r", in_enc, in_err)
    sys.stdout = sys.__stdout__ = _text(1, "w", out_enc, out_err)
    sys.stderr = sys.__stderr__ = _text(2, "w", err_enc, "backslashreplace", line=True)
    procs.set_caller_parent(request.ppid)


def _text(fd: int, mode: str, encoding: str, errors: str, line: bool = False) -> io.TextIOWrapper:
    raw = io.FileIO(fd, mode, closefd=False)
    interactive = raw.isatty()
    buffered: io.BufferedIOBase = io.BufferedReader(raw) if mode == "r" else io.BufferedWriter(raw)
    return io.TextIOWrapper(
        buffered,
        encoding=encoding,
        errors=errors,
        line_buffering=line or (mode == "w" and interactive),
        write_through=line,
    )


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gastown_tui.cmdserver")
    parser.add_argument("--town", required=True, help="the town root")
    parser.add_argument("--parent", type=int, help="leave when this process (the supervisor) ends")
    args = parser.parse_args(argv)
    town_root = Path(args.town).expanduser().absolute()
    server = Server(town_root, args.parent)
    server.warm(list(WARM_MODULES))
    try:
        server.listen()
    except OSError as exc:
        print(f"gt command server: cannot listen at {server.path}: {exc}", file=sys.stderr)
        return 1
    server.serve()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
