"""The town's own tmux server: sessions, windows, capture and liveness.

The town runs every agent in a window on a *dedicated* tmux server (`tmux -L <socket>`), never
the user's default server, and only ever touches sessions named `gt-*` on it: clean-up code
that killed a user's own sessions is one of the things Gas Town users complained about.

Every call goes through `TownTmux.run`, a thin wrapper over the tmux client rather than
libtmux's object model, for three reasons found by probing tmux 3.3a:

- tmux sanitises list output to `_` for any byte outside printable ASCII when the calling
  locale is not UTF-8 (LANG=C is common under cron, systemd and bare SSH), which breaks any
  field separator and any non-ASCII name. `-u` keeps the output exact; libtmux cannot pass it.
- tmux's own argv parser strips a trailing `;` from *every* argument and takes it as a command
  separator (`-e KEY=a;` or a nudge ending in `;`). `escape_arg` undoes that, and the
  separators we pass on purpose let one client call carry several commands atomically.
- A wedged server must not hang the app: every call has a timeout.

`server` still hands out a `libtmux.Server` on the same socket for callers that want
libtmux's object model.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import shlex
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gastown_tui.town.errors import GtError, GtFailure
from gastown_tui.town.paths import SESSION_PREFIX, TownPaths, session_for
from gastown_tui.town.procs import pid_alive, proc_stat, process_state
from gastown_tui.town.storage.files import flocked

if TYPE_CHECKING:
    import libtmux

    from gastown_tui.tmux.control import CommandPipe, SharedPipe

# As the town core's names (town.paths), matched whole: `$` would let a trailing "\n" in.
NAME_PATTERN = re.compile(r"[a-z][a-z0-9_-]{0,31}")
ENV_KEY_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

# Scrollback lines each pane keeps. tmux holds every kept line in the server (~800 bytes for a
# 100-column line: a pane with 20,000 full lines was ~16 MB, 200 busy agents ~3 GB). The most
# any reader takes is 2,000 lines: the Preview's scrollback (tui/widgets/preview.py HISTORY)
# and a nudge's look (tmux/nudge.py). A full pane drops a tenth of the limit at once, so 2,500
# always leaves at least 2,250 behind the screen (issue 12: the town's own memory).
HISTORY_LIMIT = 2500
ESCAPE_TIME_MS = 10
COMMAND_TIMEOUT = 10.0
START_TIMEOUT = 5.0

# The window option naming the agent a window was started for (`alpha/furiosa`): a window's
# identity. Its name is only a label a person may change (`rename-window`).
AGENT_OPTION = "@gt_agent"
# ASCII unit separator between format fields: never in our validated names, and passed
# through verbatim thanks to `-u`. A foreign name containing it fails to parse and is skipped.
_SEP = "\x1f"
_WINDOW_FIELDS = (
    "session_name",
    "window_name",
    "window_id",
    "pane_id",
    "pane_pid",
    "pane_dead",
    "pane_dead_status",
    "pane_dead_signal",
    "pane_dead_time",
    "version",  # the server's: pane_dead_time exists since tmux 3.3
    "pane_current_command",
    "window_activity",
    "pane_current_path",
    AGENT_OPTION,
)
_SNAPSHOT_FIELDS = (
    "pane_id",
    "pane_dead",
    "pane_in_mode",
    "cursor_x",
    "cursor_y",
    "history_size",
    "pane_width",
    "pane_height",
)
_WINDOW_FORMAT = _SEP.join(f"#{{{field}}}" for field in _WINDOW_FIELDS)
_SNAPSHOT_FORMAT = _SEP.join(f"#{{{field}}}" for field in _SNAPSHOT_FIELDS)
_NO_SERVER_MARKERS = ("no server running", "error connecting to", "server exited")
_SGR_PATTERN = re.compile(r"\x1b\[[0-9;:]*m")

INSTALL_HINT = "install it, e.g. apt-get install tmux"


NAMED_KEYS = frozenset({"Up", "Down", "Left", "Right", "Enter", "Escape", "Tab", "C-c"})


class TmuxCommandFailed(GtFailure):
    """A tmux command exited non-zero. Carries tmux's own words."""

    def __init__(self, args: Sequence[str], stderr: str) -> None:
        command = args[0] if args else "tmux"
        detail = stderr.strip() or "no error output"
        super().__init__(f"tmux {command} failed: {detail}")
        self.tmux_args = list(args)
        self.stderr = stderr

    @property
    def no_server(self) -> bool:
        """The server was not running (or died): nothing to act on, rather than an error."""
        return any(marker in self.stderr for marker in _NO_SERVER_MARKERS)


@dataclass(frozen=True)
class TmuxResult:
    returncode: int
    stdout: str
    stderr: str

    @property
    def lines(self) -> list[str]:
        """stdout split into lines, without the final newline's empty element."""
        if not self.stdout:
            return []
        lines = self.stdout.split("\n")
        if lines[-1] == "":
            lines.pop()
        return lines


@dataclass(frozen=True)
class WindowInfo:
    """One agent window as tmux reports it (its first pane stands for the window)."""

    session: str
    window: str  # the agent's name
    window_id: str  # `@N`, unique on the server for the window's lifetime
    pane_id: str  # `%N`: the target for every command, never ambiguous
    pane_pid: int | None
    pane_dead: bool
    # Exit status of a dead pane; None while alive, after a kill by a signal (dead_signal),
    # and while exit_pending.
    dead_status: int | None
    current_command: str
    activity: float | None  # epoch seconds of the window's last output (`window_activity`)
    current_path: str
    agent: str = ""  # the AGENT_OPTION set at start ("" for windows started without one)
    # Dead, but how its process ended is not known yet: tmux marks a pane dead when its
    # terminal closes, which the exiting process does before tmux reaps it. A look a moment
    # later has the status (or the signal, which leaves dead_status None).
    exit_pending: bool = False
    dead_signal: int | None = None  # the signal that killed a dead pane's process

    @property
    def how_it_ended(self) -> str:
        return how_it_ended(self.dead_status, self.dead_signal, self.exit_pending)

    @property
    def identity(self) -> str:
        """The polecat (or role) name this window belongs to: from AGENT_OPTION when set, so
        a renamed window is still found; else its name."""
        if self.agent:
            return self.agent.rsplit("/", 1)[-1]
        return self.window

    def is_for(self, session: str, window: str) -> bool:
        return self.session == session and self.identity == window

    @property
    def target(self) -> str:
        """`session:window`, for people. Commands use `pane_id`: names can be ambiguous."""
        return f"{self.session}:{self.window}"


@dataclass(frozen=True)
class PaneSnapshot:
    """What a pane shows at one instant: the nudge protocol compares these."""

    dead: bool
    in_mode: bool
    cursor_x: int
    cursor_y: int
    history_size: int
    width: int
    height: int
    history_rows: int  # how many scrollback rows precede the screen in `rows`
    rows: tuple[str, ...]

    @property
    def screen(self) -> tuple[str, ...]:
        return self.rows[self.history_rows :]

    @property
    def first_row_abs(self) -> int:
        """Absolute line number of `rows[0]`, counting from the oldest scrollback line."""
        return self.history_size - self.history_rows

    def changed_from(self, other: PaneSnapshot) -> bool:
        """True when the screen, the cursor or the scrollback moved."""
        return (
            self.screen != other.screen
            or (self.cursor_x, self.cursor_y) != (other.cursor_x, other.cursor_y)
            or self.history_size != other.history_size
        )


def escape_arg(value: str) -> str:
    """Protect one argument from tmux's argv parser.

    tmux 3.x treats an argument ending in `;` as "this argument, then a command separator"
    and turns a trailing `\\;` into `;`. Replacing a final `;` with `\\;` makes any string
    arrive unchanged (checked against tmux 3.3a for `x;`, `x\\;` and `;`).
    """
    if value.endswith(";"):
        return value[:-1] + "\\;"
    return value


def check_name(name: str, what: str) -> str:
    """Names become tmux targets: lowercase, no `.` or `:` (tmux and libtmux reject them)."""
    if not NAME_PATTERN.fullmatch(name):
        raise GtError(
            f"invalid {what} name {name!r}",
            hint="use 1-32 lowercase letters, digits, '-' or '_', starting with a letter",
        )
    return name


def _window_filter(session: str, window: str, agent: str) -> str:
    """A `list-panes -f` format, true for the panes of `session` that may be `window`'s: by
    name, by an AGENT_OPTION ending in `/window` (WindowInfo.identity), or by `agent`. The
    names are checked (NAME_PATTERN), so none holds a format or pattern character; an agent
    that is not `rig/name` is left to the caller's own check of every window."""
    mine = f"#{{||:#{{==:#{{window_name}},{window}}},#{{m:*/{window},#{{{AGENT_OPTION}}}}}}}"
    rig, _, name = agent.partition("/")
    if agent and NAME_PATTERN.fullmatch(rig) and NAME_PATTERN.fullmatch(name):
        mine = f"#{{||:{mine},#{{==:#{{{AGENT_OPTION}}},{agent}}}}}"
    elif agent:
        return "1"
    return f"#{{&&:#{{==:#{{session_name}},{session}}},{mine}}}"


# The first tmux whose server survives a control-mode client that is told of an event (a
# client detached, a session made or closed, the current window changed) between its first
# and last identify message: before it, control.c writes to a client whose control state does
# not exist yet, and the server dies of SIGSEGV with every agent in it (tmux commit c51da10,
# "Fix NULL dereference in control_write when control_state is not yet initialized", in 3.7;
# seen here as `segfault at 20` under racing slings, tests/test_scheduler.py).
CONTROL_SAFE_VERSION = (3, 7)


@functools.cache
def tmux_version(tmux_bin: str) -> tuple[int, int] | None:
    """(major, minor) of `tmux -V` ("tmux 3.3a", "tmux next-3.7"); None when it says no
    number (a build from git: taken as new)."""
    try:
        said = subprocess.run(
            [tmux_bin, "-V"], capture_output=True, text=True, timeout=COMMAND_TIMEOUT
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return (0, 0)
    found = re.search(r"(\d+)\.(\d+)", said)
    return (int(found[1]), int(found[2])) if found else None


def control_safe(tmux_bin: str | None) -> bool:
    """Can short-lived control-mode clients be used with this tmux (CONTROL_SAFE_VERSION)?"""
    if tmux_bin is None:
        return False
    version = tmux_version(tmux_bin)
    return version is None or version >= CONTROL_SAFE_VERSION


# The command server's control client as a process it forked for a call uses it (set by
# `use_shared_client`): (socket name, pipe).
_shared_pipe: tuple[str, SharedPipe] | None = None


def use_shared_client(socket_name: str, fds: tuple[int, int], lock_path: Path) -> None:
    """In a process forked by the town's command server: `batched` blocks for the server on
    `socket_name` use the server's own control client (tmux/control.py SharedClient) through
    its inherited descriptors."""
    from gastown_tui.tmux.control import SharedPipe

    global _shared_pipe
    _shared_pipe = (socket_name, SharedPipe(fds[0], fds[1], lock_path, COMMAND_TIMEOUT))


def is_owned_session(session: str) -> bool:
    return session.startswith(SESSION_PREFIX)


def session_has_live_process(sid: int) -> bool:
    """Any live process in the session led by `sid` (Linux /proc; False elsewhere).

    The pane's first process leads its own session, so its children keep that session id
    even after the leader dies and they are re-parented.
    """
    proc = Path("/proc")
    if not proc.is_dir():
        return False
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        stat = _proc_stat(int(entry.name))
        if stat is not None and stat[1] == sid and stat[0] != "Z":
            return True
    return False


def _proc_stat(pid: int) -> tuple[str, int] | None:
    """(state, session id) of a process, or None when unavailable."""
    stat = proc_stat(pid)
    try:
        return (stat[1][0], int(stat[1][3])) if stat else None
    except (IndexError, ValueError):
        return None


def zombie_wait_status(pid: int) -> int | None:
    """The wait status of `pid` if it is an unreaped zombie (Linux 3.5+), as waitpid gives it.

    tmux 3.3a sometimes misses the SIGCHLD of a pane process that exits at once: the pane
    goes dead (its terminal closed) but tmux never reaps the child nor learns its status.
    The kernel still holds the status in /proc/<pid>/stat (field 52) until the reap.
    """
    stat = proc_stat(pid)
    fields = stat[1] if stat else []
    if len(fields) < 50 or fields[0] != "Z":
        return None
    try:
        return int(fields[49])
    except ValueError:
        return None


def how_it_ended(dead_status: int | None, dead_signal: int | None, exit_pending: bool) -> str:
    """How a dead pane's process ended, for people: "exited with status 3", "was killed by
    SIGKILL"."""
    if dead_status is not None:
        return f"exited with status {dead_status}"
    if dead_signal is not None:
        return f"was killed by {signal_name(dead_signal)}"
    return "has just exited" if exit_pending else "has exited"


def signal_name(number: int) -> str:
    """The name of signal `number` ("SIGKILL" for 9), or "signal 42" for one Python cannot
    name."""
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


@functools.cache
def _has_dead_time(version: str) -> bool:
    """tmux `version` ("3.3a", "next-3.6") has the pane_dead_time format (3.3+). Another
    form (OpenBSD's own) is taken as recent; none at all, as old."""
    match = re.search(r"(\d+)\.(\d+)", version)
    if match is None:
        return bool(version)
    return (int(match[1]), int(match[2])) >= (3, 3)


def _int_or_none(value: str) -> int | None:
    try:
        return int(value)
    except ValueError:
        return None


class TownTmux:
    """A handle on the town's dedicated tmux server.

    Holds no tmux state of its own ("discover, don't track"): every question is asked of
    tmux, so a reopened app or a second process sees the same windows.
    """

    def __init__(
        self,
        socket_name: str,
        lock_dir: Path,
        *,
        config_file: Path | None = None,
        tmux_bin: str = "tmux",
        command_timeout: float = COMMAND_TIMEOUT,
        command_pipes: bool | None = None,
    ) -> None:
        """`command_pipes`: whether `batched` may use a control-mode client; None: when this
        tmux survives them (`control_safe`)."""
        if not socket_name or "/" in socket_name:
            raise GtError(f"invalid tmux socket name {socket_name!r}")
        self.socket_name = socket_name
        self.lock_dir = Path(lock_dir)
        self.config_file = config_file
        self.command_timeout = command_timeout
        self._tmux_name = tmux_bin
        self._tmux_bin: str | None = None
        self._pipe: tuple[int, CommandPipe] | None = None  # (thread, pipe) inside `batched`
        self.command_pipes = command_pipes

    @classmethod
    def for_town(cls, paths: TownPaths, **options: Any) -> TownTmux:
        """The town's own server (`tmux -L gt-<hash of the town path>`), locks in .runtime."""
        return cls(paths.tmux_socket, paths.locks, **options)

    def __repr__(self) -> str:
        return f"TownTmux(socket_name={self.socket_name!r})"

    # -- the binary and the server ------------------------------------------------------------

    @property
    def tmux_bin(self) -> str | None:
        """Full path of the tmux binary, or None when it is not installed."""
        if self._tmux_bin is None:
            self._tmux_bin = shutil.which(self._tmux_name)
        return self._tmux_bin

    def available(self) -> bool:
        return self.tmux_bin is not None

    def require(self) -> None:
        if not self.available():
            raise GtError("tmux is not installed", hint=INSTALL_HINT)

    @property
    def server(self) -> libtmux.Server:
        """libtmux's view of the same server, for callers that want its object model.

        Imported here: libtmux costs ~85 ms at import (the app's first frame waited on it)
        and everything else goes through `run`."""
        import libtmux

        self.require()
        return libtmux.Server(
            socket_name=self.socket_name,
            config_file=str(self.config_file) if self.config_file else None,
            tmux_bin=self.tmux_bin,
        )

    def base_argv(self) -> list[str]:
        """`tmux -L <socket> [-f config]`: the prefix of every command for this server."""
        self.require()
        assert self.tmux_bin is not None
        argv = [self.tmux_bin, "-L", self.socket_name]
        if self.config_file is not None:
            argv += ["-f", str(self.config_file)]
        return argv

    @contextlib.contextmanager
    def batched(self, session: str) -> Iterator[None]:
        """Within the block, this thread's calls go down one control-mode client attached to
        `session` (tmux/control.py CommandPipe), ~0.2 ms each instead of a ~2.5 ms process:
        for a short run of calls such as one nudge (dispatch/nudge.py). When it cannot
        attach, or a call cannot go down the pipe, calls run as processes as usual.

        Only on a tmux that survives control clients coming and going (`control_safe`):
        before 3.7 a server crashes when a control client is told of an event while it is
        still connecting, and every call's own client would make that likely. A process the
        town's command server forked for a call uses that server's one client instead
        (`use_shared_client`), on any tmux."""
        shared = _shared_pipe
        if (
            self._pipe is None
            and shared is not None
            and shared[0] == self.socket_name
            and not shared[1].closed
        ):
            # The command server's own client, taken in turns (cmdserver.py): no client of
            # this call's own to connect and detach, so safe on any tmux.
            self._pipe = (threading.get_ident(), shared[1])
            try:
                yield
            finally:
                self._pipe = None
            return
        pipes = self.command_pipes
        if pipes is None:
            pipes = control_safe(self.tmux_bin)
        if self._pipe is not None or not self.available() or not pipes:
            yield
            return
        from gastown_tui.tmux.control import CommandPipe

        pipe = CommandPipe.open(self.base_argv(), session, self.command_timeout)
        if pipe is not None:
            self._pipe = (threading.get_ident(), pipe)
        try:
            yield
        finally:
            self._pipe = None
            if pipe is not None:
                pipe.close()

    def end_batch(self) -> None:
        """This thread's calls left in its `batched` block go as processes, and its control
        client starts leaving now: its exit (~1 ms) overlaps the caller's last work (a
        sling's store writes) instead of following it."""
        pipe = self._open_pipe()
        if pipe is not None:
            pipe.detach()

    def _open_pipe(self) -> CommandPipe | None:
        """This thread's control client of its `batched` block, while it can take calls."""
        held = self._pipe
        if held is None or held[0] != threading.get_ident() or held[1].closed:
            return None
        return held[1]

    def run(self, *args: str, check: bool = True) -> TmuxResult:
        """Run one tmux client call on this server. `";"` arguments separate commands."""
        pipe = self._open_pipe()
        if pipe is not None:
            from gastown_tui.tmux.control import split_commands

            commands = split_commands(args)
            if pipe.fits(commands):
                code, out, err, taken = pipe.run(commands)
                if taken < len(commands) and code == 0:  # the pipe left: the rest as a process
                    rest: list[str] = []
                    for command in commands[taken:]:
                        rest += [*(rest and [";"]), *map(escape_arg, command)]
                    later = self._exec(rest, check=False)
                    code, out, err = later.returncode, out + later.stdout, later.stderr
                result = TmuxResult(code, out, err)
                if check and result.returncode != 0:
                    raise TmuxCommandFailed(args, result.stderr)
                return result
        return self._exec(args, check=check)

    def _exec(self, args: Sequence[str], *, check: bool) -> TmuxResult:
        """One `tmux` process for the call."""
        base = self.base_argv()
        argv = [base[0], "-u", *base[1:], *args]
        # A TMUX inherited from the user's own tmux must not steer defaults of our commands.
        env = {k: v for k, v in os.environ.items() if k not in ("TMUX", "TMUX_PANE")}
        try:
            proc = subprocess.run(
                argv, capture_output=True, env=env, timeout=self.command_timeout, check=False
            )
        except FileNotFoundError:
            raise GtError("tmux is not installed", hint=INSTALL_HINT)
        except subprocess.TimeoutExpired:
            raise GtFailure(
                f"tmux server {self.socket_name!r} did not answer within "
                f"{self.command_timeout:.0f}s",
                hint=f"check it with `tmux -L {self.socket_name} ls`",
            )
        result = TmuxResult(
            proc.returncode,
            proc.stdout.decode("utf-8", "replace"),
            proc.stderr.decode("utf-8", "replace"),
        )
        if check and result.returncode != 0:
            raise TmuxCommandFailed(args, result.stderr)
        return result

    def query(self, *args: str) -> list[str]:
        """Output lines of a read-only command; none when the server is not running."""
        result = self.run(*args, check=False)
        if result.returncode == 0:
            return result.lines
        failure = TmuxCommandFailed(args, result.stderr)
        if failure.no_server:
            return []
        raise failure

    def is_running(self) -> bool:
        return self.available() and self.run("list-sessions", check=False).returncode == 0

    def socket_path(self) -> Path:
        """Where the server's socket is (or would be), as tmux itself would compute it."""
        if self.is_running():
            out = self.run("display-message", "-p", "#{socket_path}", check=False)
            if out.returncode == 0 and out.stdout.strip():
                return Path(out.stdout.strip())
        base = os.environ.get("TMUX_TMPDIR") or "/tmp"
        return Path(os.path.realpath(base)) / f"tmux-{os.getuid()}" / self.socket_name

    def kill_server(self) -> None:
        """Stop the whole server, foreign sessions on it included: for tests and teardown.

        tmux 3.3a leaves its socket file behind; it is removed once nothing answers on it
        (never before: a live server without its socket could not be reached again).
        """
        if not self.available():
            return
        socket = self.socket_path()
        self.run("kill-server", check=False)
        if not self.is_running():
            socket.unlink(missing_ok=True)

    # -- sessions -----------------------------------------------------------------------------

    def session_name(self, rig: str) -> str:
        """`session_for(rig)`, refusing a rig name tmux could misread as a target."""
        return session_for(check_name(rig, "rig"))

    def check_session(self, session: str) -> str:
        """Refuse any session name the town does not own."""
        if not is_owned_session(session) or not NAME_PATTERN.fullmatch(
            session[len(SESSION_PREFIX) :]
        ):
            raise GtError(
                f"refusing to touch tmux session {session!r}: the town owns only "
                f"'{SESSION_PREFIX}<name>' sessions"
            )
        return session

    def owned_sessions(self) -> list[str]:
        """Names of the `gt-*` sessions: the only ones the town ever touches."""
        names = self.query("list-sessions", "-F", "#{session_name}")
        return [name for name in names if is_owned_session(name)]

    def has_session(self, session: str) -> bool:
        return session in self.owned_sessions()

    def kill_session(self, session: str) -> bool:
        """Kill one owned session. False when it did not exist."""
        self.check_session(session)
        if not self.has_session(session):
            return False
        self.run("kill-session", "-t", f"={session}", check=False)
        return True

    # -- windows ------------------------------------------------------------------------------

    def _window_lock(self, session: str) -> Path:
        return self.lock_dir / f"tmux-{self.socket_name}-{session}.lock"

    def start_window(
        self,
        session: str,
        window: str,
        command: Sequence[str],
        *,
        start_dir: Path,
        env: Mapping[str, str],
        replace_live: bool = False,
    ) -> WindowInfo:
        """Start `command` in a new window `window` of `session`, creating the session.

        The window keeps its pane after the command exits (`remain-on-exit`), so a dead agent
        is detectable and its last words can be captured. A live window of the same name is
        refused (killed first with `replace_live`: a polecat's leftover agent, when its sling
        starts it afresh); a dead one is respawned in place (same window and pane ids, fresh
        screen). Returns once the pane has a process.
        """
        self.check_session(session)
        check_name(window, "window")
        if not command:
            raise GtError(f"no command given for window {session}:{window}")
        start_dir = Path(start_dir)
        if not start_dir.is_dir():
            raise GtError(f"start directory {start_dir} does not exist")
        environment: list[str] = []
        for key, value in env.items():
            if not ENV_KEY_PATTERN.fullmatch(key) or "\0" in value:
                raise GtError(f"invalid environment variable {key!r} for window {window}")
            environment += ["-e", escape_arg(f"{key}={value}")]
        # tmux expands `-c` as a format (`##` is a literal `#`); `-e` values are taken as-is.
        process = ["-c", escape_arg(str(start_dir).replace("#", "##")), *environment]
        # Given as several arguments, tmux execs the command itself (tmux 3.0+): no shell
        # starts first (the default-shell, often bash, is ~2 ms of a sling), and the pane's
        # pid is the agent's. One argument alone would be run by `default-shell -c`: it is
        # `exec`ed there, for the same pid.
        if len(command) > 1:
            program = [escape_arg(arg) for arg in command]
        else:
            program = [escape_arg("exec " + shlex.join(command))]
        with flocked(self._window_lock(session)):
            dead: list[WindowInfo] = []
            agent = env.get("GT_AGENT", "")
            windows = self.list_windows(session, like=window, agent=agent)
            for existing in windows:
                if not (existing.is_for(session, window) or (agent and existing.agent == agent)):
                    continue
                if not existing.pane_dead and replace_live:
                    self.run("kill-window", "-t", existing.window_id, check=False)
                elif not existing.pane_dead:
                    raise GtError(
                        f"window {existing.target} is already running (pane {existing.pane_id})",
                        hint="attach to it, or stop it before starting it again",
                    )
                else:
                    dead.append(existing)
            if dead:
                # Respawn the dead pane in place rather than kill and recreate: killing a
                # session's last window ends the session, and maybe the server with it.
                for extra in dead[1:]:
                    self.run("kill-window", "-t", extra.window_id, check=False)
                pane_id = dead[0].pane_id
                spawn = ["respawn-pane", "-k", "-t", pane_id, *process, *program]
                result = self.run(*spawn, *self._window_options(pane_id, agent), check=False)
                if result.returncode != 0:
                    raise TmuxCommandFailed(spawn, result.stderr)
                return self._wait_for_pane(pane_id, not_pid=dead[0].pane_pid)

            # The new pane as tmux prints it (its process is forked by then): no second
            # question to tmux for it.
            created = ["-d", "-P", "-F", _WINDOW_FORMAT, "-n", window, *process]
            # The new window's id is unknown until tmux answers, but the lock and the check
            # above make its name unique in the session.
            options = self._window_options(f"={session}:={window}", agent)
            # Into the session as it most often is, there; a session (or server) that is not
            # is made when tmux says so, below, rather than asked about first.
            exists = True
            while True:
                if exists:
                    spawn = ["new-window", *created, "-t", f"={session}:", *program]
                    setup: list[str] = []
                else:
                    # A control client of this thread's `batched` block was attached to the
                    # session, which has ended, maybe with its server: a new server now
                    # answers on the socket, and that client would ask the old one.
                    pipe = self._open_pipe()
                    if pipe is not None:
                        pipe.retire()
                    # A new session's first window is the agent's own: no stray shell
                    # window. A user's tmux.conf with `destroy-unattached on` would end it
                    # at once.
                    spawn = ["new-session", "-s", session, *created, *program]
                    spawn += [";", "set-option", "-t", f"={session}:", "destroy-unattached"]
                    spawn += ["off"]
                    setup = self._server_options()
                result = self.run(*setup, *spawn, *options, check=False)
                # The session's last window can close after the look above (a window killed
                # outside this lock, by hand or by the reaper): the session ended with it,
                # and this window starts a new one (seen under racing slings).
                if (
                    exists
                    and result.returncode != 0
                    and (
                        "can't find session" in result.stderr
                        or TmuxCommandFailed(spawn, result.stderr).no_server
                    )
                ):
                    exists = False
                    continue
                break
            info = self._parse_window(result.lines[0]) if result.lines else None
            pane_id = info.pane_id if info is not None else ""
            if result.returncode != 0 or not pane_id.startswith("%"):
                if pane_id.startswith("%"):
                    self.run("kill-pane", "-t", pane_id, check=False)
                raise TmuxCommandFailed(spawn, result.stderr)
            if info is not None and info.pane_pid:
                return replace(info, agent=agent)  # @gt_agent is set after tmux printed it
            return self._wait_for_pane(pane_id)

    @staticmethod
    def _window_options(target: str, agent: str = "") -> list[str]:
        """Per-window options, sent in the same client call as the spawn.

        tmux runs one call's command list without returning to its event loop, so even a
        command that exits at once cannot take its window away before remain-on-exit is on.
        """
        options = [
            *(";", "set-option", "-w", "-t", target, "remain-on-exit", "on"),
            *(";", "set-option", "-w", "-t", target, "automatic-rename", "off"),
            *(";", "set-option", "-w", "-t", target, "allow-rename", "off"),
        ]
        if agent:
            options += [";", "set-option", "-w", "-t", target, AGENT_OPTION, escape_arg(agent)]
        return options

    def _server_options(self) -> list[str]:
        """Server-wide settings, sent with every session creation (the server may be new)."""
        return [
            *("set-option", "-s", "escape-time", str(ESCAPE_TIME_MS), ";"),
            *("set-option", "-g", "history-limit", str(HISTORY_LIMIT), ";"),
            *("set-option", "-wg", "automatic-rename", "off", ";"),
            *("set-option", "-wg", "allow-rename", "off", ";"),
        ]

    def _wait_for_pane(self, pane_id: str, not_pid: int | None = None) -> WindowInfo:
        """Wait until the pane exists and has a process (a new one, after a respawn)."""
        deadline = time.monotonic() + START_TIMEOUT
        pause = 0.005
        while True:
            info = self.pane_info(pane_id)
            if info is not None and info.pane_pid and info.pane_pid != not_pid:
                return info
            if time.monotonic() >= deadline:
                raise GtFailure(f"tmux pane {pane_id} did not appear within {START_TIMEOUT:.0f}s")
            time.sleep(pause)
            pause = min(pause * 2, 0.1)

    def list_windows(
        self, session: str | None = None, *, like: str | None = None, agent: str = ""
    ) -> list[WindowInfo]:
        """Windows of owned sessions (or of one owned session), in tmux's order. With
        `like` (and `session`), only `like`'s (WindowInfo.is_for) and `agent`'s: tmux leaves
        the others out, so the answer does not grow with the town."""
        if session is not None:
            self.check_session(session)
        windows: list[WindowInfo] = []
        seen: set[str] = set()
        listing = ["list-panes", "-a", "-F", _WINDOW_FORMAT]
        narrow = session is not None and like is not None
        if session is not None and like is not None:
            listing += ["-f", _window_filter(session, check_name(like, "window"), agent)]
        try:
            try:
                lines = self.query(*listing)
            except TmuxCommandFailed as exc:
                if not narrow or exc.no_server or "no current target" in exc.stderr:
                    raise
                lines = self.query(*listing[:4])  # a tmux without `list-panes -f` (< 3.2)
        except TmuxCommandFailed as exc:
            # A server whose last session just closed answers "no current target" while it
            # exits (seen under racing slings): it has no windows, which is not an error.
            if "no current target" not in exc.stderr:
                raise
            lines = []
        for line in lines:
            info = self._parse_window(line)
            if info is None or not is_owned_session(info.session):
                continue
            if session is not None and info.session != session:
                continue
            if like is not None and not (
                info.is_for(info.session, like) or (agent and info.agent == agent)
            ):
                continue
            if info.window_id in seen:  # a split window: its first pane is the agent's
                continue
            seen.add(info.window_id)
            windows.append(info)
        return windows

    def find_window(self, session: str, window: str) -> WindowInfo | None:
        """The window of `window` (a polecat's name) in `session`, by identity: renamed or
        not (see WindowInfo.identity)."""
        for info in self.list_windows(session, like=window):
            if info.is_for(session, window):
                return info
        return None

    def pane_info(self, pane_id: str) -> WindowInfo | None:
        """The window holding `pane_id`, if it exists in a session the town owns."""
        result = self.run("display-message", "-p", "-t", pane_id, _WINDOW_FORMAT, check=False)
        if result.returncode != 0 or not result.lines:
            return None
        info = self._parse_window(result.lines[0])
        if info is None or not is_owned_session(info.session) or info.pane_id != pane_id:
            return None
        return info

    def pane_screen(
        self, pane_id: str, *, own_process: bool = False
    ) -> tuple[WindowInfo | None, list[str]]:
        """`pane_info` and the rows of the pane's visible screen, in one client call (None
        and no rows when the pane is gone). `own_process`: a `tmux` process even inside
        `batched`, to confirm what its control client said."""
        call = (
            *("display-message", "-p", "-t", pane_id, _WINDOW_FORMAT, ";"),
            *("capture-pane", "-p", "-t", pane_id),
        )
        result = self._exec(call, check=False) if own_process else self.run(*call, check=False)
        if result.returncode != 0 or not result.lines:
            return None, []
        info = self._parse_window(result.lines[0])
        if info is None or not is_owned_session(info.session) or info.pane_id != pane_id:
            return None, []
        return info, result.lines[1:]

    def kill_window(self, session: str, window: str) -> int:
        """Kill every window named `window` in an owned session. Returns how many."""
        self.check_session(session)
        check_name(window, "window")
        killed = 0
        for info in self.list_windows(session, like=window):
            if info.is_for(session, window):
                self.run("kill-window", "-t", info.window_id, check=False)
                killed += 1
        return killed

    @staticmethod
    def _parse_window(line: str) -> WindowInfo | None:
        parts = line.split(_SEP)
        if len(parts) != len(_WINDOW_FIELDS):
            return None
        fields = dict(zip(_WINDOW_FIELDS, parts, strict=True))
        activity = _int_or_none(fields["window_activity"])
        pane_pid = _int_or_none(fields["pane_pid"])
        pane_dead = fields["pane_dead"] == "1"
        dead_status = _int_or_none(fields["pane_dead_status"])
        dead_signal = _int_or_none(fields["pane_dead_signal"])
        # tmux 3.3+ sets pane_dead_time when it reaps the pane's process and learns how it
        # ended: pending until then, even if the process was reaped since tmux answered. An
        # older tmux never sets it: pending there only while the process is still there.
        state = process_state(pane_pid) if pane_dead and pane_pid else None
        knows_exits = _has_dead_time(fields["version"])
        exit_pending = (
            pane_dead
            and not fields["pane_dead_time"]
            and (state is not None or (knows_exits and dead_status is None))
        )
        if exit_pending and pane_pid and state == "Z":
            # Exited and not reaped: tmux 3.3a can miss its SIGCHLD for good (see
            # zombie_wait_status), and the kernel holds the status meanwhile.
            exit_pending = False
            wait_status = zombie_wait_status(pane_pid)
            if wait_status is not None and os.WIFEXITED(wait_status):
                dead_status = os.WEXITSTATUS(wait_status)
            elif wait_status is not None and os.WIFSIGNALED(wait_status):
                dead_signal = os.WTERMSIG(wait_status)
        return WindowInfo(
            session=fields["session_name"],
            window=fields["window_name"],
            window_id=fields["window_id"],
            pane_id=fields["pane_id"],
            pane_pid=pane_pid,
            pane_dead=pane_dead,
            dead_status=dead_status,
            current_command=fields["pane_current_command"],
            activity=float(activity) if activity is not None else None,
            current_path=fields["pane_current_path"],
            agent=fields[AGENT_OPTION],
            exit_pending=exit_pending,
            dead_signal=dead_signal,
        )

    # -- reading panes ------------------------------------------------------------------------

    def capture(self, pane_id: str, lines: int = 50, escape_sequences: bool = False) -> str:
        """The pane's last `lines` lines (scrollback tail and screen), trailing blanks dropped.

        `escape_sequences` keeps colours and attributes (`capture-pane -e`) for a preview.
        Raises TmuxCommandFailed when the pane is gone.
        """
        if lines <= 0:
            return ""
        args = ["capture-pane", "-p", "-t", pane_id, "-S", f"-{lines}"]
        if escape_sequences:
            args.append("-e")
        rows = self.run(*args).lines
        while rows and not _SGR_PATTERN.sub("", rows[-1]).strip():
            rows.pop()
        return "\n".join(rows[-lines:])

    def pane_digest(self, pane_id: str) -> str:
        """Hash of the visible screen: changes when the agent prints or redraws."""
        import hashlib  # here: its OpenSSL import is ~2 ms of every `gt nudge`

        screen = self.run("capture-pane", "-p", "-t", pane_id).stdout
        return hashlib.sha256(screen.encode()).hexdigest()

    def snapshot(self, pane_id: str, history: int = 0) -> PaneSnapshot:
        """Screen, cursor and the last `history` scrollback rows, in one client call."""
        start = f"-{history}" if history > 0 else "0"
        result = self.run(
            *("display-message", "-p", "-t", pane_id, _SNAPSHOT_FORMAT, ";"),
            *("capture-pane", "-p", "-t", pane_id, "-S", start),
        )
        head, _, body = result.stdout.partition("\n")
        answered, *fields = head.split(_SEP)
        values = [_int_or_none(v) or 0 for v in fields]
        if answered != pane_id or len(values) != len(_SNAPSHOT_FIELDS) - 1:
            # display-message answers for the current pane when the target is gone.
            raise GtFailure(f"tmux pane {pane_id} is gone")
        dead, in_mode, cursor_x, cursor_y, history_size, width, height = values
        rows = body.split("\n")
        if rows and rows[-1] == "":
            rows.pop()
        return PaneSnapshot(
            dead=bool(dead),
            in_mode=bool(in_mode),
            cursor_x=cursor_x,
            cursor_y=cursor_y,
            history_size=history_size,
            width=width,
            height=height,
            history_rows=max(0, len(rows) - height),
            rows=tuple(rows),
        )

    def is_alive(self, info: WindowInfo) -> bool:
        """The window exists, its pane is not dead, and its process (or a child) lives."""
        fresh = self.pane_info(info.pane_id)
        if fresh is None or fresh.pane_dead or not fresh.pane_pid:
            return False
        return pid_alive(fresh.pane_pid) or session_has_live_process(fresh.pane_pid)

    # -- modes, keys and messages -------------------------------------------------------------

    def in_copy_mode(self, pane_id: str) -> bool:
        """The pane shows copy mode (or another mode), where typed keys never reach it."""
        result = self.run(
            "display-message", "-p", "-t", pane_id, "#{pane_id} #{pane_in_mode}", check=False
        )
        return result.returncode == 0 and result.stdout.strip() == f"{pane_id} 1"

    def leave_copy_mode(self, pane_id: str, timeout: float = 1.0) -> None:
        """Leave copy mode (or any other mode): keys typed in a mode never reach the agent."""
        mode = self.run("display-message", "-p", "-t", pane_id, "#{pane_mode}", check=False)
        if mode.stdout.strip() in ("copy-mode", "view-mode"):
            self.run("send-keys", "-t", pane_id, "-X", "cancel", check=False)
        else:
            # Tree, clock and other modes ignore `-X cancel`; `copy-mode -q` ends any mode.
            self.run("copy-mode", "-q", "-t", pane_id, check=False)
        if not self._wait_mode_left(pane_id, timeout):
            raise GtFailure(f"pane {pane_id} stayed in {mode.stdout.strip() or 'a mode'}")

    def _wait_mode_left(self, pane_id: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self.in_copy_mode(pane_id):
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)
        return True

    def send_literal(self, pane_id: str, text: str) -> None:
        """Type `text` as-is (`send-keys -l`): no key names, no tmux `;` parsing."""
        self.run("send-keys", "-t", pane_id, "-l", "--", escape_arg(text))

    def send_enter(self, pane_id: str) -> None:
        self.run("send-keys", "-t", pane_id, "Enter")

    def send_key(self, pane_id: str, key: str) -> None:
        """Press one named key (Up, Down, Enter, Escape): never text, which goes literally."""
        if key not in NAMED_KEYS:
            raise ValueError(f"not a key this town presses: {key!r}")
        self.run("send-keys", "-t", pane_id, key)

    def people_clients(self, field: str) -> list[str]:
        """`field` (a format) of every client a person sees: control-mode clients (the
        town's own observer, tmux/control.py) are left out."""
        rows = self.query("list-clients", "-F", f"#{{client_control_mode}}{_SEP}{field}")
        return [row.split(_SEP, 1)[1] for row in rows if row.startswith("0" + _SEP)]

    def display_message(self, text: str) -> int:
        """Show `text` on the status line of every client of this server. Returns how many."""
        shown = 0
        # display-message expands formats; `##` is a literal `#`.
        literal = escape_arg(text.replace("#", "##"))
        for client in self.people_clients("#{client_name}"):
            result = self.run("display-message", "-c", client, "--", literal, check=False)
            shown += result.returncode == 0
        return shown
