"""The town's command server: a warm process that runs the `gt` calls agents make all day.

Started by the supervisor that holds the town's lease (supervise/command_server.py) as
`python -m gastown_tui.cmdserver --town DIR --parent PID`; gastown_tui/cmdwire.py is the
calling side and says why. One process, one thread: it imports the CLI and what the hot
commands load, listens on `<town>/.runtime/command.sock`, and keeps a process forked ahead (a
spare) waiting on that socket. The spare takes one call: it passes the connection to the
server, takes the caller's descriptors, folder, umask, environment and argv, runs cli.main as
a fresh `gt` would, answers the exit status and leaves; the server forks the next spare.
Nothing of a call outlives its process. The server keeps one thing of the town, town.toml
parsed (town/config.py `remember`), which a call uses only if it reads the very same text.

It answers only its own user (SO_PEERCRED), and stops taking calls (then exits once its calls
have ended) when:
- its parent, the supervisor, is gone, or SIGTERM says so;
- its socket was removed or replaced (a newer server took over);
- a module it loaded changed on disk (an upgrade or a checkout), seen within a second: later
  calls run in the caller's process until the supervisor starts a fresh server.
A call refused, or not begun, for any reason ran nowhere, and the caller runs it itself.
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
from gastown_tui.town.config import TownConfig

TYPE_CHECKING = False
if TYPE_CHECKING:
    from gastown_tui.tmux.control import SharedClient

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
SPARES = 1  # processes forked ahead of calls; a burst of calls waits a fork each beyond it
PACKAGE = Path(__file__).resolve().parent


class Server:
    def __init__(self, town_root: Path, parent: int | None) -> None:
        self.town_root = town_root
        self.path = Path(socket_path(str(town_root)))
        self.parent = parent
        self.listener: socket.socket | None = None
        self.inode: tuple[int, int] | None = None
        self.children: dict[int, _Child] = {}
        self._spare_after = 0.0  # after a spare died at birth: when to fork the next one
        self.stamps: dict[str, int] = {}
        self.stopping = False
        self._checked_at = -CHECK_EVERY
        self._config_stamp: tuple[int, int, int] | None = None
        self.wake_r, self.wake_w = os.pipe()
        self.shared = shared_client(town_root)

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

    def remember_config(self) -> None:
        """Keep town.toml parsed while its file is unchanged (town/config.py `remember`):
        the one thing of the town the server holds, and a call uses it only when it reads
        the very same text."""
        path = self.town_root / "town.toml"
        try:
            info = os.stat(path)
            stamp = (info.st_ino, info.st_size, info.st_mtime_ns)
        except OSError:
            stamp = None
        if stamp != self._config_stamp:
            self._config_stamp = stamp
            TownConfig.remember(path)

    def stale(self) -> bool:
        """Has a module file it loaded changed? Looked at once a second at most (a few
        hundred stats)."""
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
        os.chdir(folder)  # a short relative address, however long the town's path
        temporary = f".{SOCKET_NAME}.{os.getpid()}"
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(temporary)
        os.chmod(temporary, 0o600)
        listener.listen(128)
        listener.setblocking(False)  # spares wait in select and race to accept
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
        while not (self.stopping and not self.children):
            self.remember_config()
            if self.shared is not None and not self.stopping:
                self.shared.keep()
            self._fork_spares()
            waiting = [c.control for c in self.children.values() if c.waiting]
            try:
                ready, _, _ = select.select([self.wake_r, *waiting], [], [], CHECK_EVERY)
            except InterruptedError:
                ready = []
            if self.wake_r in ready:
                os.read(self.wake_r, 512)
            for child in self.children.values():
                if child.waiting and child.control in ready:
                    child.took()
            self._reap()
            if self.listener is not None and (self._should_stop() or self.stale()):
                self._stop_listening()
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
        """Take no more calls: waiting spares leave; the calls running finish."""
        self.stopping = True
        if self.shared is not None:
            self.shared.close()  # a call still running goes on with `tmux` processes
        for child in self.children.values():
            if child.waiting:
                child.dismiss()
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

    def _fork_spares(self) -> None:
        """Keep SPARES processes forked ahead, each waiting to take one call: a call then
        skips the fork and its first page faults (~3 ms)."""
        if self.listener is None or self.stopping or time.monotonic() < self._spare_after:
            return
        waiting = sum(1 for child in self.children.values() if child.waiting)
        for _ in range(SPARES - waiting):
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            warm_r, warm_w = os.pipe()
            pid = os.fork()
            if pid == 0:  # pragma: no cover - the spare; it always leaves by _exit
                ours.close()
                os.close(warm_r)
                _spare(self, theirs, warm_w)
            theirs.close()
            os.close(warm_w)
            self.children[pid] = _Child(ours, warm_r)

    def _reap(self) -> None:
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            child = self.children.pop(pid, None)
            if child is None:
                continue
            if child.caller is not None:
                # A call's process answers its caller itself when it ends; this is for one
                # that was killed (its caller then ends as it did).
                try:
                    child.caller.sendall(b"X %d\n" % status)
                except OSError:
                    pass  # the caller already has its answer, or went away
                child.caller.close()
            elif time.monotonic() - child.born < CHECK_EVERY and not self.stopping:
                self._spare_after = time.monotonic() + CHECK_EVERY  # no fork loop
            child.control.close()
            names = _read_all(child.warm).decode("utf-8", "replace").split()
            os.close(child.warm)
            if names and not self.stopping:
                gc.unfreeze()
                self.warm(names)
                gc.collect()
                gc.freeze()


class _Child:
    """A process of the server: a spare waiting for a call, then the call's."""

    __slots__ = ("born", "caller", "control", "waiting", "warm")

    def __init__(self, control: socket.socket, warm: int) -> None:
        self.control = control  # the spare passes the caller's connection here when it takes one
        self.warm = warm  # the modules its call imported, for the server to import
        self.caller: socket.socket | None = None
        self.waiting = True
        self.born = time.monotonic()

    def took(self) -> None:
        """The spare took a call and passed its connection (or it is ending: EOF)."""
        self.waiting = False
        try:
            _message, fds, _flags, _address = socket.recv_fds(self.control, 16, 1)
        except OSError:
            fds = []
        if fds:
            self.caller = socket.socket(fileno=fds[0])

    def dismiss(self) -> None:
        """A waiting spare leaves when its control socket closes (not by a signal, which
        could land just after it took a call)."""
        self.waiting = False
        self.control.shutdown(socket.SHUT_RDWR)


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


def _spare(server: Server, control: socket.socket, warm_w: int) -> None:
    """A process forked ahead: wait for a call, take it, tell the server, run it, leave."""
    code = 1
    try:
        signal.set_wakeup_fd(-1)
        for signum in (signal.SIGCHLD, signal.SIGTERM):
            signal.signal(signum, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        os.close(server.wake_r)
        os.close(server.wake_w)
        for other in server.children.values():
            other.control.close()
            os.close(other.warm)
            if other.caller is not None:
                other.caller.close()
        listener = server.listener
        assert listener is not None
        while True:
            ready, _, _ = select.select([listener, control], [], [])
            if control in ready:
                os._exit(0)  # dismissed, or the server is gone: no call was taken
            try:
                caller, _ = listener.accept()
            except (BlockingIOError, InterruptedError):
                continue  # another spare took it
            break
        listener.close()
        caller.setblocking(True)
        try:
            socket.send_fds(control, [b"T"], [caller.fileno()])
        except OSError:
            pass  # the server is gone: the call still runs, and answers its caller itself
        if _peer_uid(caller) != os.getuid():
            os._exit(0)  # only its own user's calls (the socket is 0600 in a 0700 folder)
        shared = server.shared
        fds = shared.fds() if shared is not None else None
        if shared is not None and fds is not None:
            from gastown_tui.tmux.server import use_shared_client

            use_shared_client(shared.socket_name, fds, shared.lock_path)
        code = _run_call(caller, warm_w)
    except BaseException:  # the process must leave by _exit whatever happened
        try:
            traceback.print_exc()
            _flush()
        finally:
            os._exit(1)
    os._exit(code & 0xFF)


def _run_call(caller: socket.socket, warm_w: int) -> int:
    """Become the `gt` the caller would have run and run it; its exit code."""
    try:
        data, fds = _receive(caller)
        request = decode_request(data)
        if len(fds) != 3:
            raise ValueError("a gt request without its three descriptors")
    except (OSError, ValueError) as exc:
        _refuse(caller, f"bad request: {exc}")
        return 2
    try:
        _become(request, fds)
    except OSError as exc:
        _refuse(caller, f"cannot take the call: {exc}")
        return 2
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
    # The answer, before anything else: the caller need not wait for this process to be
    # reaped (the server answers for a process that was killed).
    try:
        caller.sendall(b"X %d\n" % ((code & 0xFF) << 8))
    except OSError:
        pass
    new = " ".join(sorted(set(sys.modules) - before))
    if new:
        os.set_blocking(warm_w, False)
        try:
            os.write(warm_w, new.encode()[:60000])
        except OSError:
            pass
    return code


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


def shared_client(town_root: Path) -> SharedClient | None:
    """The server's own tmux control client for its calls (tmux/control.py SharedClient):
    one client for every sling and nudge, not one each. None without tmux."""
    from gastown_tui.dispatch.tmuxfor import CONF_ENV
    from gastown_tui.tmux import TownTmux
    from gastown_tui.tmux.control import SharedClient
    from gastown_tui.town.paths import TownPaths

    paths = TownPaths(town_root)
    conf = os.environ.get(CONF_ENV)
    tmux = TownTmux.for_town(paths, config_file=Path(conf) if conf else None)
    if not tmux.available():
        return None
    return SharedClient(
        tmux.base_argv(), tmux.socket_name, paths.lock("tmux-shared-client"), tmux.owned_sessions
    )


def know_tmux() -> None:
    """Ask tmux its version once here, for every call forked after (a sling asks it whether
    it may use a control-mode client: tmux/server.py `control_safe`)."""
    import shutil

    from gastown_tui.tmux.server import tmux_version

    found = shutil.which("tmux")
    if found is not None:
        tmux_version(found)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gastown_tui.cmdserver")
    parser.add_argument("--town", required=True, help="the town root")
    parser.add_argument("--parent", type=int, help="leave when this process (the supervisor) ends")
    args = parser.parse_args(argv)
    town_root = Path(args.town).expanduser().absolute()
    if not (town_root / "town.toml").is_file():
        print(
            f"gt command server: error: {town_root} is not a town (no town.toml); "
            "the supervisor starts this with its town's root",
            file=sys.stderr,
        )
        return 2
    server = Server(town_root, args.parent)
    server.warm(list(WARM_MODULES))
    know_tmux()
    try:
        server.listen()
    except OSError as exc:
        print(f"gt command server: cannot listen at {server.path}: {exc}", file=sys.stderr)
        return 1
    server.serve()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
