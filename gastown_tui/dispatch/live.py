"""One observer per town: what every agent window shows, learnt from tmux's own events.

The supervisor that holds the lease (the app or `gt daemon`, supervise/host.py) runs one
`LiveObserver`. It keeps a tmux control-mode client on each of the town's sessions
(tmux/control.py), so it is *told* which panes printed something, and:

- captures and classifies only the panes that changed, once their output has paused for
  `QUIET` (a question appears, then the screen stops), and at least every `BUSY_EVERY` while
  a pane keeps printing (a spinner that never stops must not hide a question);
- asks `list-panes -a` once a `TICK` for liveness (dead panes, exited processes), and at once
  when tmux reports a window opened or closed;
- folds in the agents' own hook signals (town/signals.py) as soon as one is recorded;
- writes what it saw to `.runtime/live.json` (atomic, no fsync: it is rebuilt from tmux in a
  second) whenever something a reader shows changed.

Everything goes through the control clients' pipes: an idle town costs no process at all,
a busy one a few lines on a pipe per change. `gt polecat list`, the app and the witness read
the same state (`read_live`, dispatch/observe.py). When its clients die (a killed client, a
tmux server restart) it falls back to plain `list-panes` execs until it can attach again.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from gastown_tui.runtimes.presets import Runtime, all_runtimes
from gastown_tui.runtimes.screens import Choice, Prompt
from gastown_tui.tmux.control import ControlClient, ControlClosed, quote
from gastown_tui.tmux.server import (
    _WINDOW_FORMAT,
    TownTmux,
    WindowInfo,
    is_owned_session,
    session_has_live_process,
)
from gastown_tui.town import signals as signals_mod
from gastown_tui.town.digest import sha1_hex
from gastown_tui.town.errors import GtError
from gastown_tui.town.procs import pid_alive, proc_stat
from gastown_tui.town.signals import Signal
from gastown_tui.town.storage.files import atomic_write_bytes

if TYPE_CHECKING:
    from pathlib import Path

    from gastown_tui.town.town import Town

VERSION = 1
QUIET = 0.15  # seconds without output before a changed pane is read
BUSY_EVERY = 1.0  # a pane that never stops printing is still read this often
TICK = 1.0  # list-panes for liveness
EXIT_SETTLE = 0.05  # a pane marked dead with its exit not yet known is listed again this soon
RECONNECT_EVERY = 2.0  # how often to look for the server again when it is gone
PANE_LINES = 40  # as dispatch/observe.py: a start-up dialog is taller than a prompt
SIGNAL_GRACE = 2.0  # a waiting signal holds until the pane changes this long after it
ACTIVITY_WRITE_EVERY = 5.0  # activity times alone (no state change) are written this often


def live_path(town: Town) -> Path:
    return town.paths.runtime / "live.json"


def process_start(pid: int) -> str:
    """The start time of `pid` (/proc/PID/stat field 22): with the pid, names one process
    across pid reuse. "" where there is no /proc."""
    stat = proc_stat(pid)
    return stat[1][19] if stat and len(stat[1]) > 19 else ""


# -- what readers get --------------------------------------------------------------------------
@dataclass(frozen=True)
class LiveWindow:
    info: WindowInfo
    alive: bool
    prompt: Prompt | None
    changed_at: float | None  # wall time its screen last changed (None: never read yet)
    signal: Signal | None = None


@dataclass(frozen=True)
class LiveState:
    pid: int
    observed_at: float
    windows: tuple[LiveWindow, ...]

    def by_identity(self) -> dict[tuple[str, str], LiveWindow]:
        return {(w.info.session, w.info.identity): w for w in self.windows}


def prompt_from_dict(doc: Any) -> Prompt | None:
    if not isinstance(doc, dict):
        return None
    choices = tuple(
        Choice(str(c.get("key", "")), str(c.get("label", "")), bool(c.get("selected")))
        for c in doc.get("choices") or []
        if isinstance(c, dict)
    )
    return Prompt(str(doc.get("question", "")), choices)


def _info_to_dict(info: WindowInfo) -> dict[str, Any]:
    return {
        "session": info.session,
        "window": info.window,
        "window_id": info.window_id,
        "pane_id": info.pane_id,
        "pane_pid": info.pane_pid,
        "pane_dead": info.pane_dead,
        "dead_status": info.dead_status,
        "current_command": info.current_command,
        "activity": info.activity,
        "current_path": info.current_path,
        "agent": info.agent,
        "exit_pending": info.exit_pending,
        "dead_signal": info.dead_signal,
    }


def _info_from_dict(doc: dict[str, Any]) -> WindowInfo:
    return WindowInfo(
        session=str(doc["session"]),
        window=str(doc["window"]),
        window_id=str(doc["window_id"]),
        pane_id=str(doc["pane_id"]),
        pane_pid=doc.get("pane_pid"),
        pane_dead=bool(doc.get("pane_dead")),
        dead_status=doc.get("dead_status"),
        current_command=str(doc.get("current_command") or ""),
        activity=doc.get("activity"),
        current_path=str(doc.get("current_path") or ""),
        agent=str(doc.get("agent") or ""),
        exit_pending=bool(doc.get("exit_pending")),
        dead_signal=doc.get("dead_signal"),
    )


def read_live(town: Town, socket: str | None = None) -> LiveState | None:
    """The observer's state, or None when no observer is running (no file, its process gone,
    or a file it left behind) or it watches another tmux server than `socket` (default: the
    town's): then callers look at tmux themselves."""
    try:
        doc = orjson.loads(live_path(town).read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    if not isinstance(doc, dict) or doc.get("version") != VERSION:
        return None
    pid = doc.get("pid")
    if not isinstance(pid, int) or not pid_alive(pid) or process_start(pid) != doc.get("start"):
        return None
    if doc.get("socket") != (socket or town.paths.tmux_socket):
        return None
    windows = []
    try:
        for w in doc.get("windows") or []:
            sig = w.get("signal")
            windows.append(
                LiveWindow(
                    info=_info_from_dict(w),
                    alive=bool(w.get("alive")),
                    prompt=prompt_from_dict(w.get("prompt")),
                    changed_at=w.get("changed_at"),
                    signal=Signal(**sig) if isinstance(sig, dict) else None,
                )
            )
    except (KeyError, TypeError, ValueError):
        return None
    return LiveState(pid, float(doc.get("observed_at") or 0.0), tuple(windows))


def effective_prompt(
    prompt: Prompt | None, changed_at: float | None, signal: Signal | None
) -> Prompt | None:
    """What the agent waits at: its screen says so, or its own hook said so and the screen
    has not moved on since (a person answered, the agent went back to work)."""
    if prompt is not None:
        return prompt
    if signal is None or signal.kind != "waiting":
        return None
    if changed_at is not None and changed_at > signal.at + SIGNAL_GRACE:
        return None
    return Prompt(signal.message or "a question (its program's hook says it waits for you)")


# -- the observer ----------------------------------------------------------------------------
@dataclass
class _Pane:
    info: WindowInfo
    alive: bool
    prompt: Prompt | None = None
    digest: str = ""
    changed_at: float | None = None
    captured: float = 0.0  # monotonic time of the last capture (0: never)


class LiveObserver:
    """Watches the town's tmux server from a thread of its own; `start` / `stop`."""

    def __init__(
        self,
        town: Town,
        tmux: TownTmux,
        on_change: Callable[[set[str]], None] | None = None,
        *,
        quiet: float = QUIET,
        busy_every: float = BUSY_EVERY,
        tick: float = TICK,
    ) -> None:
        self.town = town
        self.tmux = tmux
        self.on_change = on_change
        self.quiet = quiet
        self.busy_every = busy_every
        self.tick = tick
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._clients: dict[str, ControlClient] = {}
        self._panes: dict[str, _Pane] = {}  # pane id -> what we know
        self._dirty: dict[str, tuple[float, float]] = {}  # pane id -> (first, last) output
        self._relist = True
        self._exit_pending = False
        self._signals: dict[str, Signal] = {}
        self._signal_stamp = -1
        self._runtimes: dict[str, Runtime] | None = None
        self._runtime_of: dict[str, str] = {}  # address -> runtime name (from the store)
        self._written = b""
        self.errors = 0
        self.last_error = ""
        self.captures = 0  # panes read since start (for benchmarks and tests)
        self.lists = 0
        # Set once the first look (a list and a read of every pane) is done: before it, an
        # empty state would read as "every window is gone" and the witness would restart all.
        self.ready = threading.Event()

    # -- lifecycle ------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self.running:
            return
        self._stop.clear()
        self.ready.clear()
        self._relist = True
        self._thread = threading.Thread(target=self._run, name="live-observer", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._thread = None
        self._close_clients()
        # Readers must not trust a state nobody keeps up to date any more.
        with contextlib.suppress(OSError, orjson.JSONDecodeError):
            path = live_path(self.town)
            if orjson.loads(path.read_bytes()).get("pid") == os.getpid():
                path.unlink()
        self._written = b""

    def client_pids(self) -> list[int]:
        return [c.pid for c in self._clients.values() if c.alive]

    def snapshot(self) -> LiveState:
        """The state as readers get it from the file, straight from memory."""
        with self._lock:
            panes = list(self._panes.values())
            sigs = dict(self._signals)
        return LiveState(
            os.getpid(),
            time.time(),
            tuple(
                LiveWindow(p.info, p.alive, p.prompt, p.changed_at, sigs.get(p.info.agent))
                for p in panes
            ),
        )

    # -- events from the control clients (reader threads) ----------------------------------
    def _heard(self, kind: str, what: str) -> None:
        if kind == "output":
            now = time.monotonic()
            with self._lock:
                first = self._dirty.get(what)
                self._dirty[what] = (first[0] if first else now, now)
            if first is None:
                self._wake.set()  # only the first output of a burst wakes the loop
        else:
            self._relist = True
            self._wake.set()

    # -- the loop ---------------------------------------------------------------------------
    def _run(self) -> None:
        next_list = 0.0
        last_write = 0.0
        moved = False  # activity times changed since the last write
        while not self._stop.is_set():
            self._wake.clear()
            now = time.monotonic()
            try:
                changed: set[str] = set()
                if self._relist or now >= next_list:
                    self._relist = False
                    changed |= self._list()
                    next_list = now + (self.tick if self._clients else RECONNECT_EVERY)
                    if self._exit_pending:  # a pane just died: its status comes in a moment
                        next_list = now + EXIT_SETTLE
                changed |= self._read_signals()
                important, activity = self._capture_due(time.monotonic())
                changed |= important
                moved = moved or activity
                now = time.monotonic()
                first = not self.ready.is_set()
                if first or changed or (moved and now - last_write >= ACTIVITY_WRITE_EVERY):
                    self._write()
                    last_write, moved = now, False
                    if first:
                        self.ready.set()  # the first look is complete and written
                    if changed and self.on_change is not None:
                        self.on_change(changed)
            except Exception as exc:  # one bad look must never end observation
                self.errors += 1
                self.last_error = f"{type(exc).__name__}: {exc}"
            self._wake.wait(max(0.01, self._next_due(next_list) - time.monotonic()))
        self._close_clients()

    def _next_due(self, next_list: float) -> float:
        due = next_list if not self._relist else 0.0
        with self._lock:
            for first, last in self._dirty.values():
                due = min(due, last + self.quiet, first + self.busy_every)
        return due

    # -- liveness ---------------------------------------------------------------------------
    def _primary(self) -> ControlClient | None:
        for client in self._clients.values():
            if client.alive:
                return client
        return None

    def _list_lines(self) -> list[str]:
        """Every pane of the server. Raises when tmux cannot be asked (a timeout): only a
        server that is not running means "no windows"."""
        client = self._primary()
        if client is not None:
            with contextlib.suppress(ControlClosed):
                ok, lines = client.commands([f"list-panes -a -F {quote(_WINDOW_FORMAT)}"])[0]
                if ok:
                    return lines
        try:
            return self.tmux.query("list-panes", "-a", "-F", _WINDOW_FORMAT)
        except GtError as exc:
            if "no current target" in str(exc):  # the server is exiting: nothing left
                return []
            raise

    def _list(self) -> set[str]:
        """One list-panes for every window; new sessions get a control client."""
        self.lists += 1
        lines = self._list_lines()
        infos: dict[str, WindowInfo] = {}
        seen_windows: set[str] = set()
        for line in lines:
            info = TownTmux._parse_window(line)
            if info is None or not is_owned_session(info.session):
                continue
            if info.window_id in seen_windows:  # a split window: its first pane is the agent's
                continue
            seen_windows.add(info.window_id)
            infos[info.pane_id] = info
        self._attach({i.session for i in infos.values()})
        self._exit_pending = any(info.exit_pending for info in infos.values())
        changed: set[str] = set()
        with self._lock:
            for pane_id in [p for p in self._panes if p not in infos]:
                changed.add(self._panes.pop(pane_id).info.agent)
                self._dirty.pop(pane_id, None)
            for pane_id, info in infos.items():
                alive = self._alive(info)
                known = self._panes.get(pane_id)
                if known is None:
                    self._panes[pane_id] = _Pane(info, alive)
                    # Read at once: a new window (or a new observer) starts with a look.
                    self._dirty.setdefault(pane_id, (0.0, 0.0))
                    changed.add(info.agent)
                    continue
                if (
                    known.alive != alive
                    or known.info.pane_dead != info.pane_dead
                    or known.info.pane_pid != info.pane_pid
                    or known.info.dead_status != info.dead_status
                    or known.info.exit_pending != info.exit_pending
                    or known.info.agent != info.agent
                    or known.info.window != info.window
                ):
                    changed.add(info.agent)
                    if known.info.pane_pid != info.pane_pid:  # respawned: read it afresh
                        self._dirty.setdefault(pane_id, (0.0, 0.0))
                if not alive:
                    known.prompt = None
                known.info, known.alive = info, alive
        return changed

    @staticmethod
    def _alive(info: WindowInfo) -> bool:
        if info.pane_dead or not info.pane_pid:
            return False
        return pid_alive(info.pane_pid) or session_has_live_process(info.pane_pid)

    def _attach(self, sessions: set[str]) -> None:
        for name in [s for s, c in self._clients.items() if not c.alive or s not in sessions]:
            self._clients.pop(name).close(timeout=1.0)
        if self._stop.is_set() or not self.tmux.available():
            return
        for session in sessions - set(self._clients):
            try:
                self._clients[session] = ControlClient(self.tmux.base_argv(), session, self._heard)
            except OSError as exc:
                self.last_error = f"tmux control client for {session}: {exc}"

    def _close_clients(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            client.close(timeout=1.0)

    # -- reading changed panes ----------------------------------------------------------------
    def _capture_due(self, now: float) -> tuple[set[str], bool]:
        """Read the panes that are due; returns (agents whose state changed, whether any
        screen changed at all)."""
        with self._lock:
            due = [
                pane_id
                for pane_id, (first, last) in self._dirty.items()
                if now - last >= self.quiet or now - first >= self.busy_every
            ]
            for pane_id in due:
                del self._dirty[pane_id]
            targets = [
                (pane_id, self._panes[pane_id])
                for pane_id in due
                if pane_id in self._panes and self._panes[pane_id].alive
            ]
        if not targets:
            return set(), False
        texts = self._capture([pane_id for pane_id, _ in targets])
        wall = time.time()
        changed: set[str] = set()
        moved = False
        for (_pane_id, pane), text in zip(targets, texts, strict=True):
            if text is None:
                continue
            self.captures += 1
            digest = sha1_hex(text.encode("utf-8", "replace"))
            pane.captured = now
            if digest == pane.digest:
                continue
            first_look = not pane.digest
            pane.digest = digest
            moved = True
            # First look: the best guess is tmux's last-output time for the window.
            pane.changed_at = (pane.info.activity or wall) if first_look else wall
            runtime = self._runtime(pane.info)
            prompt = runtime.waiting_prompt(text) if runtime is not None and text else None
            if prompt != pane.prompt or first_look:
                pane.prompt = prompt
                changed.add(pane.info.agent)
            elif self._signals.get(pane.info.agent) is not None:
                changed.add(pane.info.agent)  # may end a signalled wait
        return changed, moved

    def _capture(self, pane_ids: list[str]) -> list[str | None]:
        """The visible screen's bottom rows of each pane, in one round trip."""
        client = self._primary()
        lines = [f"capture-pane -p -t {quote(p)}" for p in pane_ids]
        answers: list[tuple[bool, list[str]]] | None = None
        if client is not None:
            with contextlib.suppress(ControlClosed):
                answers = client.commands(lines)
        if answers is None:
            answers = []
            for pane_id in pane_ids:
                result = self.tmux.run("capture-pane", "-p", "-t", pane_id, check=False)
                answers.append((result.returncode == 0, result.lines))
        out: list[str | None] = []
        for ok, rows in answers:
            if not ok:
                out.append(None)
                continue
            rows = list(rows)
            while rows and not rows[-1].strip():
                rows.pop()
            out.append("\n".join(rows[-PANE_LINES:]))
        return out

    def _runtime(self, info: WindowInfo) -> Runtime | None:
        if self._runtimes is None:
            self._runtimes = all_runtimes(self.town)
        name = self._runtime_of.get(info.agent)
        if name is None and info.agent:
            with contextlib.suppress(GtError):
                polecat = self.town.polecats.find(info.agent)
                name = polecat.runtime if polecat is not None else ""
                self._runtime_of[info.agent] = name
        runtime = self._runtimes.get(name or "")
        if runtime is None and info.current_command:
            base = os.path.basename(info.current_command)
            runtime = next((r for r in self._runtimes.values() if r.exe == base), None)
        return runtime

    def forget_runtimes(self) -> None:
        """town.toml or a polecat's runtime changed: look them up again."""
        self._runtimes = None
        self._runtime_of = {}

    # -- hook signals ---------------------------------------------------------------------------
    def _read_signals(self) -> set[str]:
        stamp = signals_mod.stamp(self.town.paths.runtime)
        if stamp == self._signal_stamp:
            return set()
        # A folder's mtime may not move for a second signal within the same clock tick of
        # the file system: a stamp this fresh is read again at the next look.
        self._signal_stamp = stamp if time.time_ns() - stamp > 100_000_000 else -1
        fresh = signals_mod.read_all(self.town.paths.runtime)
        changed = {
            a for a in fresh.keys() | self._signals.keys() if fresh.get(a) != self._signals.get(a)
        }
        with self._lock:
            self._signals = fresh
        return changed

    # -- the state file -------------------------------------------------------------------------
    def _write(self) -> None:
        with self._lock:
            windows = []
            for pane in self._panes.values():
                doc = _info_to_dict(pane.info)
                sig = self._signals.get(pane.info.agent)
                doc.update(
                    alive=pane.alive,
                    prompt=pane.prompt.to_dict() if pane.prompt else None,
                    changed_at=pane.changed_at,
                    signal=sig.__dict__ if sig else None,
                )
                windows.append(doc)
        body = orjson.dumps(windows)
        if body == self._written:
            return
        pid = os.getpid()
        head = {
            "version": VERSION,
            "pid": pid,
            "start": process_start(pid),
            "socket": self.tmux.socket_name,
            "observed_at": time.time(),
            "clients": len(self._clients),
        }
        payload = orjson.dumps({**head, "windows": windows})
        # Rebuilt from tmux within a second after any crash: no fsync (issue 12).
        atomic_write_bytes(live_path(self.town), payload, durable=False)
        self._written = body
