"""The witness of one rig: notices what its polecats are doing and keeps them healthy.

Each patrol classifies every polecat (dispatch.observe) and acts:

- waiting (a question for a person on its pane): tell the overseer once per wait;
- stalled / gupp (hooked work, no activity): nudge, again each `stalled` interval; a gupp
  polecat is also reported once;
- zombie (work hooked, agent dead): save uncommitted work, then restart it on the same hook,
  with exponential backoff; more than `crash_loop_restarts` crashes inside
  `crash_loop_window` is a crash loop: stop, give the bead back to ready, mail the mayor and
  the overseer once. A clean exit (status 0) is restarted but never counted as a crash; the
  count decays once the agent has run `crash_decay` without dying;
- queued nudges are typed into idle agents; POLECAT_DONE mail to the witness is taken in.

Everything it does is an event with its reason. It is a plain class over an injected town,
tmux server and clock: tests drive `patrol(now)` with a fake clock.

It reads the town's observer (dispatch/live.py) when the supervisor runs one, and acts on
its polecats in parallel (`PARALLEL` at a time): a nudge or a restart waits on the agent's
pane for a while, and 150 stalled agents one after another would outlast the patrol interval.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from gastown_tui.dispatch.nudge import deliver_queued, nudge_agent
from gastown_tui.dispatch.observe import PolecatView, observe
from gastown_tui.dispatch.sling import last_output_path, restart, save_last_output
from gastown_tui.runtimes.presets import all_runtimes
from gastown_tui.town.clock import age, elapsed_since, iso
from gastown_tui.town.errors import GtError
from gastown_tui.town.models import Comment
from gastown_tui.town.polecats import Polecat
from gastown_tui.town.storage.files import atomic_write_bytes
from gastown_tui.town.work import commit_all, queued_nudges

if TYPE_CHECKING:
    from gastown_tui.dispatch.live import LiveState
    from gastown_tui.tmux import TownTmux
    from gastown_tui.town.town import Town

# A dead pane whose end tmux does not know yet (WindowInfo.exit_pending, tmux/server.py) is left
# to the next patrol for this long; past it the process has closed its terminal and lives on.
EXIT_PENDING_GRACE = 10.0


class ExitWait:
    """Since when each dead pane's exit has been pending (WindowInfo.exit_pending): a patrol
    leaves it to the next one, for at most EXIT_PENDING_GRACE (the witness, the mayor's)."""

    def __init__(self) -> None:
        self._since: dict[str, float] = {}

    def wait(self, key: str, pending: bool) -> bool:
        """True while `key`'s exit is pending and within the grace: decide nothing yet."""
        if not pending:
            self._since.pop(key, None)
            return False
        first = self._since.setdefault(key, time.monotonic())
        return time.monotonic() - first < EXIT_PENDING_GRACE


PARALLEL = 32  # polecats acted on at once (mostly waiting on tmux and git, not the CPU)

STALL_NUDGE = (
    "[GAS TOWN] witness: no activity on your hook {bead} for {quiet}. Run `gt prime` to see "
    "your work; if you are blocked, `gt escalate -s ... -m ...`; when finished, `gt done`."
)


@dataclass
class Settings:
    stalled: float
    restart_backoff: float
    restart_backoff_cap: float
    crash_loop_restarts: int
    crash_loop_window: float
    crash_decay: float

    @classmethod
    def from_town(cls, town: Town) -> Settings:
        supervise = town.config.supervise
        return cls(
            stalled=town.config.thresholds.stalled,
            restart_backoff=supervise.restart_backoff,
            restart_backoff_cap=supervise.restart_backoff_cap,
            crash_loop_restarts=supervise.crash_loop_restarts,
            crash_loop_window=supervise.crash_loop_window,
            crash_decay=supervise.crash_decay,
        )


def backoff_delay(restarts_so_far: int, base: float, cap: float) -> float:
    """Seconds to wait before restart number `restarts_so_far + 1`: 0, base, 2 base, … cap."""
    if restarts_so_far <= 0:
        return 0.0
    return min(base * 2 ** (restarts_so_far - 1), cap)


@dataclass
class WitnessMemory:
    """What the witness must not forget between patrols or across a supervisor restart, so a
    person is told once per wait, not once per patrol."""

    waiting: dict[str, str] = field(default_factory=dict)  # address -> bead ("" for none)
    nudged: dict[str, dict[str, Any]] = field(default_factory=dict)  # address -> {bead, at}
    gupp: dict[str, str] = field(default_factory=dict)  # address -> bead reported
    problems: dict[str, dict[str, Any]] = field(default_factory=dict)  # address -> problem

    @classmethod
    def load(cls, path: Path) -> WitnessMemory:
        try:
            doc = orjson.loads(path.read_bytes())
        except (OSError, orjson.JSONDecodeError):
            return cls()
        if not isinstance(doc, dict):
            return cls()
        return cls(
            waiting=dict(doc.get("waiting") or {}),
            nudged=dict(doc.get("nudged") or {}),
            gupp=dict(doc.get("gupp") or {}),
            problems=dict(doc.get("problems") or {}),
        )

    def to_bytes(self) -> bytes:
        return orjson.dumps(
            {
                "waiting": self.waiting,
                "nudged": self.nudged,
                "gupp": self.gupp,
                "problems": self.problems,
            }
        )


def memory_path(town: Town, rig: str) -> Path:
    return town.paths.runtime / "witness" / f"{rig}.json"


def problems(town: Town) -> list[dict[str, Any]]:
    """Problems the witnesses recorded for a person (e.g. a runtime that cannot resume)."""
    out = []
    for rig in town.rigs.names():
        out.extend(WitnessMemory.load(memory_path(town, rig)).problems.values())
    return out


class Witness:
    def __init__(
        self,
        town: Town,
        tmux: TownTmux,
        rig: str,
        notify: Callable[[str, str], None] | None = None,
        live: Callable[[], LiveState | None] | None = None,
    ) -> None:
        self.town = town
        self.tmux = tmux
        self.rig = rig
        self.notify = notify or (lambda text, severity="warning": None)
        self.address = f"{rig}/witness"
        # The observer's state in this process (supervise/host.py), or None: read the file.
        self.live = live or (lambda: None)
        self._exit_wait = ExitWait()

    # helpers ---------------------------------------------------------------------------------
    def _event(self, kind: str, msg: str, *, bead: str | None = None, **extra: Any) -> None:
        self.town.events.append(
            f"witness.{kind}", actor=self.address, rig=self.rig, bead=bead, msg=msg, **extra
        )

    def _save(self, memory: WitnessMemory, before: bytes) -> None:
        data = memory.to_bytes()
        if data != before:
            atomic_write_bytes(memory_path(self.town, self.rig), data)

    # the patrol ------------------------------------------------------------------------------
    def patrol(self, now: float | None = None) -> list[str]:
        now = self.town.clock.now() if now is None else now
        settings = Settings.from_town(self.town)
        path = memory_path(self.town, self.rig)
        memory = WitnessMemory.load(path)
        before = memory.to_bytes()
        actions: list[str] = []
        views = observe(self.town, self.tmux, now=now, rig=self.rig, live=self.live())
        present = {v.address for v in views}

        def look(view: PolecatView) -> list[str]:
            # Each polecat's entries in `memory` are its own: threads never share a key.
            try:
                return self._look_at(view, now, settings, memory)
            except GtError as exc:
                self._event("error", f"{view.address}: {exc}")
                return [f"{view.address}: {exc}"]

        busy = [v for v in views if self._needs_work(v)]
        for view in views:
            if not self._needs_work(view):
                actions.extend(look(view))
        if len(busy) > 1:
            # concurrent.futures brings logging and queue (~2.5 MB): only for a patrol that
            # has several agents to act on, not in every supervisor from the start.
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(min(PARALLEL, len(busy)), "witness") as pool:
                for done in pool.map(look, busy):
                    actions.extend(done)
        else:
            for view in busy:
                actions.extend(look(view))
        for table in (memory.waiting, memory.nudged, memory.gupp, memory.problems):
            for gone in [a for a in table if a not in present]:
                del table[gone]
        actions.extend(self._read_mail())
        self._save(memory, before)
        return actions

    def _needs_work(self, view: PolecatView) -> bool:
        """A polecat whose look may type into its pane or restart it (slow: in parallel)."""
        if view.state in ("stalled", "gupp", "zombie"):
            return True
        return (
            view.state in ("working", "idle")
            and view.alive
            and bool(queued_nudges(self.town, view.address))
        )

    def _look_at(
        self, view: PolecatView, now: float, settings: Settings, memory: WitnessMemory
    ) -> list[str]:
        address = view.address
        bead = view.bead_id or ""
        actions: list[str] = []
        if view.state == "waiting":
            if memory.waiting.get(address) != bead:
                memory.waiting[address] = bead
                what = f" on {bead}" if bead else ""
                text = f"{address} is waiting for you{what}: " + (
                    view.hint or f"gt attach {address}"
                )
                self.notify(text, "warning")
                self._event("waiting", text, bead=bead or None, polecat=address)
                actions.append(text)
        else:
            memory.waiting.pop(address, None)
        if view.state not in ("zombie",):
            memory.problems.pop(address, None)
        if view.state in ("stalled", "gupp"):
            actions.extend(self._stalled(view, now, settings, memory))
        else:
            memory.nudged.pop(address, None)
            if view.state != "gupp":
                memory.gupp.pop(address, None)
        if view.state == "zombie":
            actions.extend(self._zombie(view, now, settings, memory))
        if view.state in ("working", "idle") and view.alive:
            actions.extend(self._decay(view, now, settings))
            if queued_nudges(self.town, address):
                delivered = deliver_queued(self.town, self.tmux, address)
                if delivered:
                    actions.append(f"{address}: delivered {delivered} queued nudge(s)")
        return actions

    def _stalled(
        self, view: PolecatView, now: float, settings: Settings, memory: WitnessMemory
    ) -> list[str]:
        address, bead = view.address, view.bead_id or ""
        actions: list[str] = []
        last = memory.nudged.get(address)
        quiet = view.idle_for(now) or 0.0
        mono = self.town.clock.monotonic()
        if (
            last is None
            or last.get("bead") != bead
            or elapsed_since(last, now, mono) >= settings.stalled
        ):
            outcome = nudge_agent(
                self.town,
                self.tmux,
                address,
                STALL_NUDGE.format(bead=bead, quiet=age(quiet)),
                sender=self.address,
                defer_if_waiting=True,
                automatic=True,
            )
            memory.nudged[address] = {"bead": bead, "at": now, "mono": mono}
            msg = f"{address} {view.state}: no activity for {age(quiet)}; nudge {outcome.status}"
            self._event("nudged", msg, bead=bead, polecat=address, outcome=outcome.status)
            actions.append(msg)
        if view.state == "gupp" and memory.gupp.get(address) != bead:
            memory.gupp[address] = bead
            text = f"{address} has ignored its hook {bead} for {age(quiet)} (GUPP)"
            self.notify(text, "warning")
            self._event("gupp", text, bead=bead, polecat=address)
            actions.append(text)
        return actions

    def _decay(self, view: PolecatView, now: float, settings: Settings) -> list[str]:
        """Forget past crashes once the agent has run `crash_decay` without dying."""
        polecat = self.town.polecats.find(view.address)
        if polecat is None or not polecat.restarts:
            return []
        mono = self.town.clock.monotonic()
        entries = [r for r in polecat.restarts if isinstance(r, dict)]
        quiet = min((elapsed_since(r, now, mono) for r in entries), default=float("inf"))
        if quiet < settings.crash_decay:
            return []
        with self.town.beads.rig_txn(self.rig) as tx:
            record = tx.get_polecat(polecat.name)
            if record is None:
                return []
            record["restarts"] = []
            tx.put_polecat(record)
        msg = f"{view.address} stable for {age(min(quiet, 10**9))}: restart count reset"
        self._event("stable", msg, polecat=view.address)
        return [msg]

    def _zombie(
        self, view: PolecatView, now: float, settings: Settings, memory: WitnessMemory
    ) -> list[str]:
        address, bead = view.address, view.bead_id
        polecat = self.town.polecats.get(address)
        runtime = all_runtimes(self.town).get(polecat.runtime)
        window = view.window
        if self._exit_wait.wait(address, window is not None and window.exit_pending):
            return []  # how it ended decides what to do: the next patrol knows
        status = window.dead_status if window is not None else None
        # A window that vanished (a reboot, a killed server) is not the agent's fault; an exit
        # with status 0 is a clean exit. Neither counts towards a crash loop.
        crash = window is not None and status != 0
        why = "its window is gone" if window is None else f"its agent {window.how_it_ended}"
        if window is None and runtime is not None and not runtime.resumable:
            if address not in memory.problems:
                text = (
                    f"{address} held {bead} but {why}, and runtime {runtime.name!r} cannot "
                    f"resume: sling it again with `gt sling --force {bead} {self.rig}`"
                )
                memory.problems[address] = {
                    "address": address, "bead": bead, "reason": text, "at": now,
                }  # fmt: skip
                self.notify(text, "error")
                self._event("cannot_resume", text, bead=bead, polecat=address)
                return [text]
            return []
        restarts = [r for r in polecat.restarts if isinstance(r, dict)]
        # The loop check comes before the backoff: the death after the last allowed restart
        # is seen at the next patrol, long before another backoff delay would run out.
        # Ages on the monotonic clock: a wall clock stepped back must not hold a restart off.
        mono = self.town.clock.monotonic()
        recent_crashes = [
            r for r in restarts
            if r.get("crash") and elapsed_since(r, now, mono) <= settings.crash_loop_window
        ]  # fmt: skip
        if crash and len(recent_crashes) >= settings.crash_loop_restarts:
            if window is not None and window.pane_dead:
                self._keep_last_output(address, window.pane_id, why)
            return [self._crash_loop(view, polecat.name, len(recent_crashes) + 1, settings, why)]
        if restarts:
            since_last = min(elapsed_since(r, now, mono) for r in restarts)
            delay = backoff_delay(
                len(restarts), settings.restart_backoff, settings.restart_backoff_cap
            )
            if since_last < delay:
                return []  # backing off; the next patrol looks again
        if window is not None and window.pane_dead:
            # Its last words go to disk before the pane is respawned or closed: `gt peek`
            # and the crash-loop mail quote them.
            self._keep_last_output(address, window.pane_id, why)
        saved = None
        worktree = Path(polecat.worktree) if polecat.worktree else None
        if worktree is not None and worktree.exists():
            # Never lose work: what the agent wrote before dying is committed first.
            saved = commit_all(
                address, worktree, f"gt witness: save uncommitted work on {bead} before restart"
            )
        result = restart(self.town, self.tmux, address, by=self.address)
        with self.town.beads.rig_txn(self.rig) as tx:
            record = tx.get_polecat(polecat.name)
            if record is not None:
                entry = {
                    "at": now, "mono": self.town.clock.monotonic(), "crash": crash,
                    "reason": why, "bead": bead,
                }  # fmt: skip
                record["restarts"] = [*(record.get("restarts") or []), entry]
                tx.put_polecat(record)
        number = len(restarts) + 1
        msg = f"restarted {address} on {bead} (restart {number}): {why}"
        if saved:
            msg += f"; saved uncommitted work as {saved[:10]}"
        self._event("restarted", msg, bead=bead, polecat=address, crash=crash, window=result.window)
        return [msg]

    def _crash_loop(
        self, view: PolecatView, name: str, deaths: int, settings: Settings, why: str
    ) -> str:
        address, bead_id = view.address, view.bead_id or ""
        window = age(settings.crash_loop_window)
        note = (
            f"crash loop: {address} died {deaths} times within {window} ({why}); "
            "the witness stopped restarting it and returned this bead to ready"
        )
        now_text = iso(self.town.clock.now())
        polecat = self.town.polecats.get(address)
        earlier = sum(
            1
            for h in polecat.history
            if h.get("result") == "crash_loop" and h.get("bead") == bead_id
        )
        # Mail first, under an id fixed by what the store says: a patrol killed between the
        # mail and the store write redoes both and the mail store drops the second copy.
        message_id = f"crashloop-{self.rig}-{name}-{bead_id}-{earlier + 1}"
        subject = f"ESCALATION: crash loop of {address} on {bead_id}"
        body = (
            f"{note}.\n\nIts last output (kept: gt peek {address}):\n"
            f"{self._last_output_quote(address)}\n\n"
            f"Sling it again when the cause is fixed: gt sling {bead_id} {self.rig}"
        )
        for recipient in ("mayor", "overseer"):
            with contextlib.suppress(GtError):
                self.town.mail.send(
                    [recipient],
                    subject,
                    body,
                    sender=self.address,
                    type="escalation",
                    priority="urgent",
                    message_id=f"{message_id}-{recipient}",
                )
        record: dict[str, Any] | None = None
        with self.town.beads.rig_txn(self.rig) as tx:
            bead = tx.get_bead(bead_id)
            if bead is not None and bead.assignee == address:
                bead.status = "open"
                bead.assignee = None
                bead.updated_at = now_text
                bead.comments.append(Comment(self.address, now_text, note))
                tx.put_bead(bead)
                record = bead.to_dict()
            record = tx.get_polecat(name)
            if record is not None:
                stopped = Polecat.from_dict(record)
                stopped.release(bead_id, "crash_loop", now_text)
                stopped.restarts = []
                stopped.extra["crash_loop"] = {"bead": bead_id, "at": now_text, "deaths": deaths}
                record = stopped.to_dict()
                tx.put_polecat(record)
        self.notify(f"crash loop: {address} on {bead_id}; bead returned to ready", "error")
        extra = {"record": record} if record is not None else {}
        self._event("crash_loop", note, bead=bead_id, polecat=address, deaths=deaths, **extra)
        return note

    def _keep_last_output(self, address: str, pane_id: str, why: str) -> None:
        try:
            text = self.tmux.capture(pane_id, lines=200)
        except GtError:
            return
        if text.strip():
            with contextlib.suppress(OSError):
                save_last_output(self.town, address, text, why)

    def _last_output_quote(self, address: str, lines: int = 12) -> str:
        try:
            kept = last_output_path(self.town, address).read_text(
                encoding="utf-8", errors="replace"
            )
        except OSError:
            return "    (nothing was kept)"
        body = [line for line in kept.splitlines()[1:] if line.strip()]
        return "\n".join(f"    {line[:200]}" for line in body[-lines:]) or "    (empty)"

    def _read_mail(self) -> list[str]:
        """Take in protocol mail sent to this witness (POLECAT_DONE, HELP:, …)."""
        actions = []
        try:
            unread = self.town.mail.inbox(self.address, unread_only=True)
        except GtError:
            return []
        for message in reversed(unread):
            self.town.mail.mark_read(message.id, self.address)
            head = message.subject.split(" ", 1)[0].rstrip(":")
            if head == "POLECAT_DONE":
                msg = f"{message.sender} reported done: {message.subject}"
                self._event("done_reported", msg, polecat=message.sender)
            else:
                msg = f"mail from {message.sender}: {message.subject}"
                self._event("mail", msg, polecat=message.sender)
            actions.append(msg)
        return actions
