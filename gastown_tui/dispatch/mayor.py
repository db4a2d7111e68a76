"""The mayor's window: start, stop, status, tell, wake (town/mayor.py keeps its record).

One mayor per town, in window `gt-hq:mayor` of the town's tmux server. Starts are serialised
by a town lock and tmux refuses a second live window of the same name, so two racing
`gt mayor start`s give one mayor. What the overseer tells it is mail first (durable, in one
thread), then a nudge: typed in when the mayor is idle, queued while it is busy or down
(dispatch/nudge.py does the same for polecats; the mayor is no polecat, so it has its own).
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gastown_tui.dispatch.agents import (
    agent_bin,
    agent_path,
    launch_argv,
    passed_names,
    screen_bottom,
    unset_names,
)
from gastown_tui.runtimes.presets import Runtime, install_claude_hook, resolve_runtime
from gastown_tui.tmux import TownTmux, WindowInfo, attach_plan, check_nudge, nudge
from gastown_tui.town.clock import iso
from gastown_tui.town.errors import GtError, GtFailure
from gastown_tui.town.mayor import (
    MAYOR,
    OVERSEER,
    RUNTIMES,
    SESSION,
    WINDOW,
    edit_state,
    load_state,
)
from gastown_tui.town.storage.files import flocked
from gastown_tui.town.work import nudge_queue_lock, queue_nudge, queued_nudges

if TYPE_CHECKING:
    from gastown_tui.tmux import AttachPlan
    from gastown_tui.town.mail import Message
    from gastown_tui.town.town import Town

# The mayor programs of the builtin and demo runtimes (the polecat programs work one bead).
PROGRAMS = {
    "builtin": "gastown_tui.runtimes.builtin_mayor",
    "demo": "gastown_tui.runtimes.demo_mayor",
}
# The mayor programs print "working …" when a turn starts and "idle: waiting for mail" when it
# ends (runtimes/demo_mayor.py, builtin_mayor.py): busy is a "working" with no idle after it.
MAYOR_BUSY = r"working …(?![\s\S]*idle: waiting for mail)"
MAYOR_STARTED = r"^=== .*MAYOR.* ==="
MAX_NUDGE_TEXT = 600


@dataclass
class MayorStatus:
    running: bool
    runtime: str
    desired: str
    window: str | None
    pane_dead: bool
    dead_status: int | None
    started_at: str | None
    restarts: int
    stopped_reason: str
    unread: int
    queued_nudges: int
    busy: bool

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def folder(town: Town) -> Path:
    """The mayor's working folder (it edits no code: polecats do)."""
    path = town.root / "mayor"
    path.mkdir(mode=0o700, exist_ok=True)
    return path


def mayor_runtime(town: Town, name: str | None) -> Runtime:
    """The runtime the mayor runs with; builtin and demo run the mayor programs."""
    state = load_state(town)
    wanted = (name or state.runtime or town.config.default_runtime).strip()
    if wanted == "shell":
        raise GtError("the mayor cannot run in a plain shell", hint=f"use one of {RUNTIMES}")
    runtime = resolve_runtime(town, wanted)
    program = PROGRAMS.get(runtime.base or runtime.name)
    if program is not None:
        runtime = replace(
            runtime,
            command=[sys.executable, "-m", program],
            busy=[MAYOR_BUSY],
            started=[MAYOR_STARTED],
            waiting=[],
        )
    return runtime


def beacon(town: Town) -> str:
    stamp = time.strftime("%Y-%m-%d %H:%M", time.localtime(town.clock.now()))
    return (
        f"[GAS TOWN] mayor <- {town.actor} • {stamp} • you are the mayor. Run gt prime: your "
        "directive, the town, and the overseer's mail; then act on the mail."
    )


def window_env(town: Town, runtime: Runtime, beacon_text: str) -> dict[str, str]:
    """Like dispatch/agents.py window_env, for the mayor (it has no rig)."""
    env: dict[str, str] = {}
    for key in passed_names(town, runtime):
        if os.environ.get(key):
            env[key] = os.environ[key]
    env.update(town.config.town_env())
    env.update(runtime.env)
    env.update(
        {
            "GT_TOWN": str(town.root),
            "GT_AGENT": MAYOR,
            "GT_ROLE": MAYOR,
            "GT_BEACON": beacon_text,
            "PATH": agent_path(town),
        }
    )
    return env


def find(tmux: TownTmux) -> WindowInfo | None:
    if not tmux.available() or not tmux.is_running():
        return None
    return tmux.find_window(SESSION, WINDOW)


def is_running(tmux: TownTmux) -> bool:
    info = find(tmux)
    return info is not None and not info.pane_dead


def start(
    town: Town, tmux: TownTmux, runtime_name: str | None = None, *, by: str | None = None
) -> tuple[str, bool]:
    """Start the mayor (or find it running). Returns (what happened, started now)."""
    tmux.require()
    runtime = mayor_runtime(town, runtime_name)
    text = beacon(town)
    env = window_env(town, runtime, text)
    runtime.require_installed(env)
    with flocked(town.paths.lock("mayor-start")):
        info = find(tmux)
        if info is not None and not info.pane_dead:
            state = load_state(town)
            return f"the mayor is already running ({state.runtime or '?'}, {info.target})", False
        work = folder(town)
        if runtime.settings_hook:
            install_claude_hook(work)
        argv = launch_argv(env, runtime.argv(text), unset_names(town, runtime, env))
        started = time.monotonic()
        agent_bin(town)  # the `gt` its PATH starts with
        info = tmux.start_window(SESSION, WINDOW, argv, start_dir=work, env=env)
        with edit_state(town) as state:
            state.runtime = runtime.name
            state.desired = "running"
            state.started_at = iso(town.clock.now())
            state.pane_id = info.pane_id
            state.last_start = town.clock.now()
            state.stopped_reason = ""
        info = _wait_started(town, tmux, info, runtime, started)
    town.events.append(
        "mayor.restarted" if by else "mayor.started",
        actor=by or town.actor,
        msg=f"mayor ({runtime.name}) in {info.target}",
        runtime=runtime.name,
    )
    return f"the mayor is running ({runtime.name}) in {info.target}", True


def _wait_started(
    town: Town, tmux: TownTmux, info: WindowInfo, runtime: Runtime, began: float
) -> WindowInfo:
    """Up when its own screen shows or it lived `start_grace`; dead first is a failure."""
    pause = 0.01
    while True:
        fresh = tmux.pane_info(info.pane_id)
        if fresh is None:
            raise GtFailure("the mayor's window vanished right after it started")
        if fresh.pane_dead:
            if fresh.exit_pending and time.monotonic() - began < runtime.start_grace:
                time.sleep(0.005)  # how it ended is known in a moment: say that
                continue
            try:
                last = tmux.capture(info.pane_id, lines=30)
            except GtError:
                last = ""
            lines = [line for line in last.splitlines() if line.strip()][-6:]
            shown = "\n".join(f"  | {line[:200]}" for line in lines) or "  | (nothing)"
            raise GtFailure(
                f"the mayor exited during start-up (it {fresh.how_it_ended}); its last lines:"
                f"\n{shown}",
                hint="see gt mayor status; fix the runtime, then gt mayor start again",
            )
        if time.monotonic() - began >= runtime.start_grace:
            return fresh
        try:
            bottom = screen_bottom(tmux, info.pane_id, 40)
        except GtError:
            bottom = ""
        if runtime.shows_started(bottom):
            return fresh
        time.sleep(pause)
        pause = min(pause * 2, 0.05)


def stop(town: Town, tmux: TownTmux, reason: str = "gt mayor stop") -> str:
    with flocked(town.paths.lock("mayor-start")):
        with edit_state(town) as state:
            was = state.desired
            state.desired = "stopped"
            state.stopped_reason = reason
        info = find(tmux)
        if info is not None:
            tmux.kill_window(SESSION, WINDOW)
    if info is None and was != "running":
        return "the mayor is not running"
    town.events.append("mayor.stopped", actor=town.actor, msg=f"mayor stopped: {reason}")
    return "the mayor is stopped"


def status(town: Town, tmux: TownTmux) -> MayorStatus:
    state = load_state(town)
    info = find(tmux)
    busy = False
    if info is not None and not info.pane_dead and state.runtime:
        with contextlib.suppress(GtError):
            busy = mayor_runtime(town, state.runtime).is_busy(screen_bottom(tmux, info.pane_id, 40))
    return MayorStatus(
        running=info is not None and not info.pane_dead,
        runtime=state.runtime,
        desired=state.desired,
        window=info.target if info else None,
        pane_dead=bool(info and info.pane_dead),
        dead_status=info.dead_status if info else None,
        started_at=state.started_at,
        restarts=len(state.restarts),
        stopped_reason=state.stopped_reason,
        unread=town.mail.unread_count(MAYOR),
        queued_nudges=len(queued_nudges(town, MAYOR)),
        busy=busy,
    )


def attach(town: Town, tmux: TownTmux, environ: dict[str, str] | None = None) -> AttachPlan:
    tmux.require()
    info = find(tmux)
    if info is None:
        raise GtFailure("the mayor has no window", hint="start it with gt mayor start")
    return attach_plan(tmux, info, os.environ if environ is None else environ)


# -- talking to it --------------------------------------------------------------------------------
def _one_line(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def wake(town: Town, tmux: TownTmux, text: str, sender: str | None = None) -> str:
    """Nudge the mayor: typed in when it is idle, else queued (delivered when it is idle, or
    shown by its `gt prime` when it starts). Returns delivered | queued | failed."""
    text = check_nudge(_one_line(text, MAX_NUDGE_TEXT))
    info = find(tmux)
    state = load_state(town)
    runtime = None
    with contextlib.suppress(GtError):
        runtime = mayor_runtime(town, state.runtime or None)
    if info is None or info.pane_dead or runtime is None or not runtime.takes_prompts:
        queue_nudge(town, MAYOR, text, sender)
        return "queued"
    try:
        bottom = screen_bottom(tmux, info.pane_id, 40)
    except GtError:
        bottom = ""
    if runtime.is_busy(bottom) or runtime.is_waiting(bottom) or queued_nudges(town, MAYOR):
        queue_nudge(town, MAYOR, text, sender)  # behind older ones: order is kept
        return "queued"
    result = nudge(tmux, info.pane_id, text, lock_path=town.paths.lock("nudge~mayor"))
    return "delivered" if result.delivered else "failed"


def deliver_queued(town: Town, tmux: TownTmux) -> int:
    """Type the mayor's queued nudges while it is idle, oldest first."""
    if not queued_nudges(town, MAYOR):
        return 0
    info = find(tmux)
    state = load_state(town)
    if info is None or info.pane_dead or not state.runtime:
        return 0
    runtime = mayor_runtime(town, state.runtime)
    if not runtime.takes_prompts:
        return 0
    delivered = 0
    with flocked(nudge_queue_lock(town, MAYOR)):
        for queued in queued_nudges(town, MAYOR):
            try:
                bottom = screen_bottom(tmux, info.pane_id, 40)
            except GtError:
                break
            if runtime.is_busy(bottom) or runtime.is_waiting(bottom):
                break
            result = nudge(
                tmux, info.pane_id, queued.text, lock_path=town.paths.lock("nudge~mayor")
            )
            if not result.delivered:
                break
            with contextlib.suppress(FileNotFoundError):
                queued.path.unlink()
            delivered += 1
    return delivered


@dataclass
class Told:
    message: Message
    delivery: str  # delivered | queued | failed | not-running
    notice: str


def tell(town: Town, tmux: TownTmux, text: str) -> Told:
    """The overseer's words to the mayor: mail in the conversation's thread, then a nudge.
    The mail is stored before anything else happens, so nothing said is lost."""
    body = text.strip()
    if not body:
        raise GtError("nothing to tell the mayor: the text is empty", hint='gt mayor tell "TEXT"')
    state = load_state(town)
    subject = _one_line(body, 80)
    sent = town.mail.send([MAYOR], subject, body, sender=OVERSEER, type="task", thread=state.thread)
    message = sent[0]
    if not state.thread:
        with edit_state(town) as fresh:
            fresh.thread = fresh.thread or message.thread
    words = _one_line(body, 400)
    nudge_text = f"[mail {message.id} from overseer] {words} (answer: gt mail reply {message.id})"
    if not is_running(tmux):
        queue_nudge(town, MAYOR, nudge_text, OVERSEER)
        notice = (
            f"the mayor is not running: your message {message.id} waits in its inbox and it "
            "reads it when it starts (gt mayor start)"
        )
        return Told(message, "not-running", notice)
    delivery = wake(town, tmux, nudge_text, OVERSEER)
    notice = {
        "delivered": f"told the mayor ({message.id}); its answer comes as mail (gt mayor log)",
        "queued": f"the mayor is busy: {message.id} is in its inbox and the nudge is queued",
        "failed": f"{message.id} is in the mayor's inbox, but the nudge was not seen; it reads "
        "its mail on its next turn",
    }[delivery]
    return Told(message, delivery, notice)


def wake_for_mail(town: Town, tmux: TownTmux, messages: list[Message]) -> list[str]:
    """Wake the mayor for mail that needs it: escalations, crash loops, failed merges, and
    whatever else an agent sends it. The overseer's own `tell` nudges by itself."""
    woke = []
    for message in messages:
        if message.inbox != MAYOR or message.sender in (OVERSEER, MAYOR):
            continue
        if not _claim_wake(town, message.id):
            continue  # the sender's hook or the patrol already woke it for this one
        text = (
            f"[mail {message.id} from {message.sender}] {message.type}: {message.subject} "
            f"(read: gt mail read {message.id}; act, then tell the overseer)"
        )
        woke.append(f"{message.id}: {wake(town, tmux, text, message.sender)}")
    return woke


def _claim_wake(town: Town, message_id: str) -> bool:
    """Once per message across processes (the sending `gt` and the supervisor): the first
    to create the marker file wakes the mayor."""
    from gastown_tui.town.paths import child

    folder = town.paths.runtime / "mayor-woken"
    folder.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(child(folder, "message id", message_id), os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return False
    os.close(fd)
    return True
