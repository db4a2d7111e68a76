"""The town's command server, the calling side: hand one `gt` call to a warm process.

An agent's `gt hook` spends ~20 ms importing and warming up for well under 1 ms of work, and
`gt nudge` more (issue 12). The supervisor that holds the town's lease runs one command server
(gastown_tui/cmdserver.py) with the CLI already imported; `gt` connects to it over a unix
socket in the town's private `.runtime` folder, passes its own stdin, stdout and stderr (the
descriptors themselves, SCM_RIGHTS), argv, environment, working folder and umask, and waits
for the exit status of a process forked for this call alone. The command then runs exactly as
it would have here (cli.main, the same files, the same terminal), only without the start-up.
Mercurial's chg does the same for `hg`.

Whenever the server cannot take the call (no server, a refused connection, a stale server,
anything odd before it said it started the command), nothing ran and `gt` runs the command
itself: the server is only ever a shortcut. After it said it started, the call is never run
twice; its exit status is passed on, and a signal sent to `gt` (Ctrl-C, a kill) is passed to
the process running the command.

This module is imported by every hot `gt` call before anything else: it uses only what a bare
interpreter has already loaded (`_socket`, `_signal`, `os`, `sys`), so a call that ends up
running itself pays ~0.2 ms for having looked.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

# The socket, under the town root: town/storage/layout.py's RUNTIME folder (private, 0700);
# town/paths.py `command_socket` names the same file (tests/test_cmdserver.py checks).
RUNTIME_DIR = ".runtime"
SOCKET_NAME = "command.sock"
# The commands agents run all day. The others run in the calling process: the app, attach and
# watch make the terminal their own, and the rest are rare enough not to matter.
WARM = frozenset(
    {"prime", "hook", "done", "nudge", "sling", "mail", "bead", "signal", "answer", "ready"}
)
OFF_ENV = "GT_COMMAND_SERVER"  # "off": never use the server (this call, or the supervisor's)
MAGIC = b"GTW1"
MAX_REQUEST = 8 << 20  # argv + environment; the kernel's own ARG_MAX is 2 MB
# AF_UNIX addresses hold 107 bytes: a longer path is reached through the folder's descriptor.
MAX_ADDRESS = 100
FORWARDED = ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT")


class Request:
    """One call as the server's process needs it to run `gt` as the caller would have."""

    __slots__ = ("argv", "cwd", "encodings", "env", "ppid", "umask")

    def __init__(
        self,
        argv: list[str],
        cwd: str,
        env: dict[str, str],
        umask: int,
        ppid: int,
        encodings: list[tuple[str, str]],
    ) -> None:
        self.argv = argv
        self.cwd = cwd
        self.env = env
        self.umask = umask
        self.ppid = ppid  # the caller's parent: whose heartbeat it is (town/town.py)
        self.encodings = encodings  # (encoding, errors) of stdin, stdout, stderr


def encode_request(request: Request) -> bytes:
    """MAGIC, a 4-byte length, then NUL-separated fields (no field can hold a NUL: they are
    argv, environment and path strings, encoded as the system encodes them)."""
    fields = [
        request.cwd,
        f"{request.umask:o}",
        str(request.ppid),
        *(part for pair in request.encodings for part in pair),
        str(len(request.argv)),
        *request.argv,
        *(f"{key}={value}" for key, value in request.env.items()),
    ]
    body = b"\0".join(os.fsencode(field) for field in fields)
    return MAGIC + len(body).to_bytes(4, "little") + body


def decode_request(data: bytes) -> Request:
    """The inverse of encode_request; ValueError for anything else."""
    if data[:4] != MAGIC or int.from_bytes(data[4:8], "little") != len(data) - 8:
        raise ValueError("not a gt request")
    fields = [os.fsdecode(field) for field in data[8:].split(b"\0")]
    if len(fields) < 10:
        raise ValueError("a gt request with too few fields")
    cwd, umask, ppid = fields[0], int(fields[1], 8), int(fields[2])
    encodings = [(fields[3], fields[4]), (fields[5], fields[6]), (fields[7], fields[8])]
    argc = int(fields[9])
    argv = fields[10 : 10 + argc]
    if len(argv) != argc or argc < 1:
        raise ValueError("a gt request with a wrong argument count")
    env: dict[str, str] = {}
    for item in fields[10 + argc :]:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError("a gt request with a malformed environment entry")
        env[key] = value
    return Request(argv, cwd, env, umask, ppid, encodings)


def socket_path(town_root: str) -> str:
    return os.path.join(town_root, RUNTIME_DIR, SOCKET_NAME)


def town_root_of(argv: Sequence[str]) -> str:
    """The town a call is for, as town/paths.py `default_town_root` reads it: --town beats
    $GT_TOWN beats ~/gt."""
    explicit = None
    for i, token in enumerate(argv[:-1]):
        if token == "--town":
            explicit = argv[i + 1]
    for token in argv:
        if token.startswith("--town="):
            explicit = token[len("--town=") :]
    root = explicit or os.environ.get("GT_TOWN") or "~/gt"
    return os.path.abspath(os.path.expanduser(root))


def _connect(path: str) -> object | None:
    import _socket

    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        if len(os.fsencode(path)) <= MAX_ADDRESS:
            sock.connect(path)
        else:
            folder = os.open(os.path.dirname(path), os.O_PATH | os.O_DIRECTORY)
            try:
                sock.connect(f"/proc/self/fd/{folder}/{os.path.basename(path)}")
            finally:
                os.close(folder)
    except OSError:
        sock.close()
        return None
    return sock


def command_word(argv: Sequence[str]) -> str | None:
    """The command a `gt` argv names (`mail` of `gt --town T mail send`), if any."""
    skip = False
    for token in argv:
        if skip:
            skip = False
            continue
        if token == "--town":
            skip = True
            continue
        if token.startswith("-"):
            continue
        return token
    return None


def warm_call(argv: list[str]) -> None:
    """Exit with the status of the `gt argv` call when the town's command server ran it;
    return when it did not, and nothing ran. The town's own `gt` calls this before the
    interpreter's `site` is loaded (dispatch/agents.py AGENT_GT)."""
    if command_word(argv) not in WARM:
        return
    code = run_via_server(argv, sys.argv[0])
    if code is None:
        return
    # Nothing of this process is left to clean up: skip the interpreter's teardown, a tenth
    # of such a call.
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


def run_via_server(argv: list[str], program: str) -> int | None:
    """Run `gt argv` in the town's command server and return its exit status; None when the
    server did not start the command (the caller then runs it itself)."""
    if os.environ.get(OFF_ENV) == "off":
        return None
    sock = _connect(socket_path(town_root_of(argv)))
    if sock is None:
        return None
    try:
        return _call(sock, argv, program)
    finally:
        sock.close()  # type: ignore[attr-defined]


def _call(sock: object, argv: list[str], program: str) -> int | None:
    import _signal
    import _socket

    streams = (sys.stdin, sys.stdout, sys.stderr)
    if any(stream is None for stream in streams):
        return None  # a closed descriptor: the interpreter's own handling, in this process
    try:
        cwd = os.getcwd()
    except OSError:
        return None  # the folder was deleted: let the command say so itself
    umask = os.umask(0o077)
    os.umask(umask)
    request = Request(
        [program, *argv],
        cwd,
        dict(os.environ),
        umask,
        os.getppid(),
        [(s.encoding, s.errors or "strict") for s in streams],  # type: ignore[union-attr]
    )
    data = encode_request(request)
    if len(data) > MAX_REQUEST:
        return None
    rights = (0).to_bytes(4, sys.byteorder) + (1).to_bytes(4, sys.byteorder)
    rights += (2).to_bytes(4, sys.byteorder)
    try:
        sent = sock.sendmsg([data], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, rights)])  # type: ignore[attr-defined]
        if sent < len(data):
            sock.sendall(data[sent:])  # type: ignore[attr-defined]
    except OSError:
        return None  # nothing was started: the server reads the whole request first

    # Until the server says it started the command, a signal is held (and acted on at once
    # if nothing was started); afterwards it goes to the command's process.
    state: dict[str, int] = {}

    def forward(signum: int, _frame: object) -> None:
        pid = state.get("pid")
        if pid is None:
            state["pending"] = signum
        else:
            try:
                os.kill(pid, signum)
            except OSError:
                pass

    previous = {}
    for name in FORWARDED:
        signum = getattr(_signal, name)
        previous[signum] = _signal.signal(signum, forward)
    try:
        return _await(sock, state)
    finally:
        for signum, handler in previous.items():
            _signal.signal(signum, handler)


def _await(sock: object, state: dict[str, int]) -> int | None:
    """Read the server's lines: `P pid` (started), then `X status`; `R reason` before `P`
    means refused, nothing ran."""
    buffer = b""
    while True:
        try:
            chunk = sock.recv(4096)  # type: ignore[attr-defined]
        except OSError:
            chunk = b""
        if not chunk:
            if "pid" not in state:
                return None if "pending" not in state else 128 + state["pending"]
            sys.stderr.write(
                "gt: error: the town's command server went away before the command finished;"
                " it may or may not have completed (see gt trail)\n"
            )
            return 1
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            kind, _, value = line.partition(b" ")
            if kind == b"R" and "pid" not in state:
                if "pending" in state:
                    return 128 + state["pending"]  # interrupted before anything ran
                return None
            if kind == b"P":
                state["pid"] = int(value)
                pending = state.pop("pending", None)
                if pending is not None:
                    os.kill(state["pid"], pending)
            elif kind == b"X" and "pid" in state:
                return _exit_status(int(value))


def _exit_status(status: int) -> int:
    """The command's wait status as this process's exit: a command killed by a signal kills
    `gt` with the same signal, so its caller sees what it would have seen."""
    if os.WIFSIGNALED(status):
        import _signal

        signum = os.WTERMSIG(status)
        sys.stdout.flush()
        sys.stderr.flush()
        try:
            _signal.signal(signum, _signal.SIG_DFL)
        except (OSError, ValueError):
            pass  # SIGKILL and SIGSTOP have no handler to reset
        os.kill(os.getpid(), signum)
        return 128 + signum
    return os.waitstatus_to_exitcode(status)
