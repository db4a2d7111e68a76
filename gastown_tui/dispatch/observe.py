"""What every polecat is doing right now, from the store and tmux together.

The map: docs/ARCHITECTURE.md, "Observing agents".

`observe()` is what the app's Rigs pane, `gt polecat list` and the supervisor's witness read.
While a supervisor runs, the town's one observer (dispatch/live.py) keeps what tmux shows in
`.runtime/live.json`, learnt from tmux's events, and `observe()` only reads it: no tmux call
at all. Without one, it looks itself: one `list-panes` call for every window of the town and
one capture per live window. `classify()` is the pure decision, a function of plain values and
a clock time, so every state is testable with a fake clock.

Activity = the newest of: the agent's heartbeat (every `gt` call it makes touches it), the
last time its pane's text changed (a digest per agent is kept in `.runtime/activity/`), and
when its window was started.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from gastown_tui.dispatch.agents import screen_bottom
from gastown_tui.dispatch.live import LiveState, LiveWindow, effective_prompt, read_live
from gastown_tui.runtimes.presets import Runtime, all_runtimes
from gastown_tui.runtimes.screens import Prompt
from gastown_tui.tmux import TownTmux, WindowInfo
from gastown_tui.tmux.server import how_it_ended, session_has_live_process
from gastown_tui.town.clock import iso, parse_iso
from gastown_tui.town.digest import sha1_hex
from gastown_tui.town.errors import GtError
from gastown_tui.town.paths import encode_address, session_for
from gastown_tui.town.polecats import POLECAT_STATES, Polecat, no_window_hint
from gastown_tui.town.procs import pid_alive
from gastown_tui.town.signals import Signal
from gastown_tui.town.signals import read_all as read_signals
from gastown_tui.town.storage.files import atomic_write_bytes

if TYPE_CHECKING:
    from gastown_tui.town.models import Bead
    from gastown_tui.town.town import Town

STATES = POLECAT_STATES
PANE_LINES = 40  # a start-up dialog (trust, API key) is taller than a permission prompt


def classify(
    *,
    hooked: bool,
    starting: bool,
    window_exists: bool,
    pane_dead: bool,
    process_alive: bool,
    waiting: bool,
    last_activity: float | None,
    now: float,
    stalled_after: float,
    gupp_after: float,
) -> str:
    """The state of one polecat.

    starting  a sling is still starting it (its process is alive);
    zombie    work is hooked but the window is missing, its pane dead or its process gone;
    waiting   its pane shows a question for a person (checked before any age: a permission
              prompt is not a stall, it needs someone now);
    gupp      hooked work without activity for `gupp_after` (GUPP is broken);
    stalled   hooked work without activity for `stalled_after`;
    working   hooked work, recent activity;
    idle      nothing hooked (a live window at a question still shows as waiting).
    """
    if starting:
        return "starting"
    live = window_exists and not pane_dead and process_alive
    if hooked:
        if not live:
            return "zombie"
        if waiting:
            return "waiting"
        quiet = now - last_activity if last_activity is not None else float("inf")
        if quiet >= gupp_after:
            return "gupp"
        if quiet >= stalled_after:
            return "stalled"
        return "working"
    if live and waiting:
        return "waiting"
    return "idle"


@dataclass(frozen=True)
class WindowView:
    session: str
    window: str
    pane_id: str
    pid: int | None
    pane_dead: bool
    dead_status: int | None
    alive: bool
    current_command: str
    exit_pending: bool = False  # dead, how it ended not known yet (tmux/server.py WindowInfo)
    dead_signal: int | None = None

    @property
    def how_it_ended(self) -> str:
        return how_it_ended(self.dead_status, self.dead_signal, self.exit_pending)

    def to_dict(self) -> dict[str, Any]:
        return {
            "session": self.session,
            "window": self.window,
            "target": f"{self.session}:{self.window}",
            "pane_id": self.pane_id,
            "pid": self.pid,
            "pane_dead": self.pane_dead,
            "dead_status": self.dead_status,
            "alive": self.alive,
            "current_command": self.current_command,
            "exit_pending": self.exit_pending,
            "dead_signal": self.dead_signal,
        }


@dataclass(frozen=True)
class HookView:
    id: str
    title: str
    status: str


@dataclass(frozen=True)
class PolecatView:
    address: str
    rig: str
    name: str
    runtime: str
    stored_state: str
    state: str
    bead_id: str | None
    bead_title: str | None
    bead_status: str | None
    window: WindowView | None
    last_activity: float | None
    worktree: str
    branch: str | None
    hint: str = ""
    prompt: Prompt | None = None  # what it waits at (state "waiting")
    signal: Signal | None = None  # the last thing its program's hooks said (town/signals.py)

    @property
    def hook(self) -> HookView | None:
        """The hooked bead (id, title, status), or None."""
        if not self.bead_id:
            return None
        return HookView(self.bead_id, self.bead_title or "", self.bead_status or "")

    @property
    def window_exists(self) -> bool:
        return self.window is not None

    @property
    def alive(self) -> bool:
        return self.window is not None and self.window.alive

    @property
    def pane_id(self) -> str | None:
        return self.window.pane_id if self.window else None

    @property
    def detail(self) -> str:
        return self.hint

    def idle_for(self, now: float) -> float | None:
        return None if self.last_activity is None else max(0.0, now - self.last_activity)

    def to_dict(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "rig": self.rig,
            "name": self.name,
            "runtime": self.runtime,
            "state": self.state,
            "stored_state": self.stored_state,
            "bead": (
                {"id": self.bead_id, "title": self.bead_title, "status": self.bead_status}
                if self.bead_id
                else None
            ),
            "window": self.window.to_dict() if self.window else None,
            "last_activity": iso(self.last_activity) if self.last_activity else None,
            "worktree": self.worktree,
            "branch": self.branch,
            "hint": self.hint,
            "waiting_for": self.prompt.to_dict() if self.prompt else None,
            "signal": (
                {
                    "kind": self.signal.kind,
                    "at": iso(self.signal.at),
                    "message": self.signal.message,
                }
                if self.signal
                else None
            ),
        }


def waiting_hint(address: str, prompt: Prompt) -> str:
    """What a waiting agent waits at, and how to answer it."""
    if prompt.choices:
        return f"waiting at: {prompt.describe()}; answer with gt answer {address} CHOICE"
    return f"waiting at: {prompt.question}; answer it in its window: gt attach {address}"


# -- activity ---------------------------------------------------------------------------------
def activity_dir(town: Town) -> Path:
    return town.paths.runtime / "activity"


def _activity_file(town: Town, address: str) -> Path:
    return activity_dir(town) / f"{encode_address(address)}.json"


def pane_changed_at(
    town: Town, address: str, pane_text: str, now: float, first_seen: float | None
) -> float:
    """When the pane's text last changed, as far as any observer saw. Written atomically
    and only on a change, so observing an unchanged town writes nothing."""
    digest = sha1_hex(pane_text.encode("utf-8", "replace"))
    path = _activity_file(town, address)
    try:
        doc = orjson.loads(path.read_bytes())
        if doc.get("digest") == digest:
            return float(doc.get("changed_at") or now)
        # Changed since the last look: it moved at most now.
        changed = now
    except (OSError, orjson.JSONDecodeError, ValueError, TypeError, AttributeError):
        # First look: the best guess is tmux's last-output time for the window.
        changed = first_seen if first_seen is not None else now
    with contextlib.suppress(OSError):
        # A hint rebuilt at the next look: no fsync (issue 12).
        atomic_write_bytes(
            path,
            orjson.dumps({"agent": address, "digest": digest, "changed_at": changed}),
            durable=False,
        )
    return changed


def heartbeat_at(town: Town, address: str) -> float | None:
    try:
        return town.paths.heartbeat(address).stat().st_mtime
    except OSError:
        return None


# -- observe ----------------------------------------------------------------------------------
def _view_window(tmux: TownTmux, info: WindowInfo) -> tuple[WindowView, str]:
    """The window's view and its pane's bottom text ("" for a dead or vanished pane)."""
    text = ""
    alive = False
    if not info.pane_dead:
        alive = bool(info.pane_pid) and (
            pid_alive(info.pane_pid) or session_has_live_process(info.pane_pid or 0)
        )
        try:
            text = screen_bottom(tmux, info.pane_id, PANE_LINES)
        except GtError:
            alive = False
    return _window_view(info, alive), text


def _window_view(info: WindowInfo, alive: bool) -> WindowView:
    return WindowView(
        session=info.session,
        window=info.window,
        pane_id=info.pane_id,
        pid=info.pane_pid,
        pane_dead=info.pane_dead,
        dead_status=info.dead_status,
        alive=alive,
        current_command=info.current_command,
        exit_pending=info.exit_pending,
        dead_signal=info.dead_signal,
    )


def observe_one(
    town: Town,
    polecat: Polecat,
    bead: Bead | None,
    info: WindowInfo | None,
    tmux: TownTmux,
    runtimes: dict[str, Runtime],
    now: float,
    stalled_after: float,
    gupp_after: float,
    live: LiveWindow | None = None,
    signal: Signal | None = None,
) -> PolecatView:
    """One polecat's view: from the observer's `live` window when there is one (no tmux
    call), else from `info` and a capture of its pane."""
    window: WindowView | None = None
    prompt: Prompt | None = None
    changed: float | None = None
    if live is not None:
        window = _window_view(live.info, live.alive)
        prompt = live.prompt if live.alive else None
        changed = live.changed_at if live.alive else None
    elif info is not None:
        window, text = _view_window(tmux, info)
        runtime = runtimes.get(polecat.runtime)
        if runtime is None:
            runtime = next(
                (
                    r
                    for r in runtimes.values()
                    if r.exe and r.exe == Path(window.current_command).name
                ),
                None,
            )
        prompt = runtime.waiting_prompt(text) if text and runtime is not None else None
        if window.alive:
            changed = pane_changed_at(town, polecat.address, text, now, info.activity)
    if window is not None and window.alive:
        prompt = effective_prompt(prompt, changed, signal)
    waiting = prompt is not None
    candidates = [heartbeat_at(town, polecat.address), parse_iso(polecat.started_at), changed]
    known = [c for c in candidates if c is not None]
    last = max(known) if known else None
    hooked = bead is not None
    state = classify(
        hooked=hooked,
        starting=polecat.is_starting,
        window_exists=window is not None,
        pane_dead=window.pane_dead if window else True,
        process_alive=window.alive if window else False,
        waiting=waiting,
        last_activity=last,
        now=now,
        stalled_after=stalled_after,
        gupp_after=gupp_after,
    )
    hint = ""
    if polecat.interrupted and hooked:
        hint = no_window_hint(bead.id if bead else None, interrupted=True)
    elif state == "zombie":
        if window is None:
            hint = no_window_hint(bead.id if bead else None)
        else:
            ended = window.how_it_ended if window.pane_dead else "has exited"
            hint = f"agent {ended}; restart with `gt sling --force {bead.id if bead else ''}`"
    elif state == "waiting" and prompt is not None:
        hint = waiting_hint(polecat.address, prompt)
    if polecat.extra.get("paused") and window is not None and not window.pane_dead:
        # Stopped on purpose (dispatch/control.py pause): never stalled, zombie or waiting.
        state, prompt = "paused", None
        hint = f"paused; resume with `gt polecat thaw {polecat.address}`"
    stored = town.polecats.stored_state(polecat, bead)
    return PolecatView(
        address=polecat.address,
        rig=polecat.rig,
        name=polecat.name,
        runtime=polecat.runtime,
        stored_state=stored,
        state=state,
        bead_id=bead.id if bead else None,
        bead_title=bead.title if bead else None,
        bead_status=bead.status if bead else None,
        window=window,
        last_activity=last,
        worktree=polecat.worktree,
        branch=polecat.branch,
        hint=hint,
        prompt=prompt if state == "waiting" else None,
        signal=signal,
    )


def observe(
    town: Town,
    tmux: TownTmux,
    now: float | None = None,
    rig: str | None = None,
    live: LiveState | None = None,
) -> list[PolecatView]:
    """One view per polecat (of `rig`, or of the town). Needs tmux (GtError without).

    `live`: the observer's state (the supervisor passes its own); by default the one in
    `.runtime/live.json` when an observer keeps it, else tmux is asked here."""
    tmux.require()
    now = town.clock.now() if now is None else now
    stalled_after = town.config.thresholds.stalled
    gupp_after = town.config.thresholds.gupp
    runtimes = all_runtimes(town)
    pairs = town.polecats.list_with_hooks(rig)
    if not pairs:
        return []
    if live is None:
        live = read_live(town, tmux.socket_name)
    live_windows = live.by_identity() if live is not None else {}
    signals = read_signals(town.paths.runtime) if live is None else {}
    if live is not None:
        signals = {w.info.agent: w.signal for w in live.windows if w.signal is not None}
    # By identity (the agent option set at start), not by name: a renamed window is the same
    # agent, not a missing one (tmux/server.py, WindowInfo.identity).
    windows = {(w.session, w.identity): w for w in tmux.list_windows()} if live is None else {}
    return [
        observe_one(
            town,
            polecat,
            bead,
            windows.get((session_for(polecat.rig), polecat.name)),
            tmux,
            runtimes,
            now,
            stalled_after,
            gupp_after,
            live=live_windows.get((session_for(polecat.rig), polecat.name)),
            signal=signals.get(polecat.address),
        )
        for polecat, bead in pairs
    ]


def live_summary(views: list[PolecatView]) -> dict[str, Any]:
    """`gt status`'s polecat section from live views (the same states as `gt polecat list`,
    the app and the witness), in the shape of PolecatRegistry.status_summary."""
    rows = [
        {
            "address": v.address,
            "state": v.state,
            "bead": v.bead_id,
            "window": v.window.window if v.window else None,
            "waiting_for": v.prompt.to_dict() if v.prompt else None,
            "hint": v.hint,
            "lacks_window": v.stored_state == "no_window" or (v.state == "zombie" and not v.window),
        }
        for v in views
    ]
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["state"]] = counts.get(row["state"], 0) + 1
    return {
        "by_state": counts,
        "polecats": rows,
        "no_window": [
            {"address": r["address"], "bead": r["bead"], "hint": r["hint"]}
            for r in rows
            if r.pop("lacks_window")
        ],
        "live": True,
    }
