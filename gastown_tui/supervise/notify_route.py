"""Notifications wherever the person is: events of the feed routed to sinks (`[notify]`).

Design: the router *tails events.jsonl* (the one record every process writes to) rather than
being called where each event is produced. So an event reaches a person whichever process
made it (a witness patrol, `gt escalate` from an agent, a convoy landed by a CLI call), and
the guarantee of one notice per event rests on one rule: before sending, a router claims the
event's key by creating `.runtime/notify/sent/<key>` with O_EXCL. The key is a hash of the
event line itself, so two supervisors (an app and a daemon taking over, or two at once)
tailing the same log compute the same key and only the first to create the file sends.
A router starting up also looks back `LOOKBACK` seconds, so events made while no
supervisor ran are still told, and never twice. A claim says `pending` (with the claimer's
pid and the event) until every sink is done with it; a starting router re-sends the pending
claims of supervisors that died (one router wins each, by another O_EXCL file).

Delivery never blocks a patrol: each sink has its own thread and queue; every request has a
timeout; a failure is retried with doubling backoff, and a sink that still fails is shown as
a `notify.failed` event in the feed and as a notice (the app's, the tmux status line).

Sinks: the terminal bell (clients of the town's tmux server and this process's terminal),
the desktop (`notify-send`, where installed), an ntfy topic (JSON POST to the server), a
webhook (JSON POST with `text` for Slack and `content` for Discord).
"""

from __future__ import annotations

import contextlib
import os
import queue
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from gastown_tui.supervise.notify import ring_bell
from gastown_tui.town.clock import iso
from gastown_tui.town.digest import sha256_hex
from gastown_tui.town.models import Event as EventRecord
from gastown_tui.town.notify_config import NotifyConfig, SinkConfig
from gastown_tui.town.procs import pid_alive
from gastown_tui.town.storage.files import atomic_write_bytes
from gastown_tui.town.usage import budget_state

if TYPE_CHECKING:
    from pathlib import Path

    from gastown_tui.tmux import TownTmux
    from gastown_tui.town.events import EventFollower
    from gastown_tui.town.models import Event
    from gastown_tui.town.town import Town

LOOKBACK = 15 * 60.0  # seconds of past events a starting router still tells (unclaimed only)
LOOKBACK_LINES = 500
KEEP_MARKERS = 14 * 86400.0  # claimed keys older than this are swept
BUDGET_EVERY = 30.0  # seconds between budget checks
SUPERVISORS = ("deacon", "mayor")  # escalations from these are told by their own events
TITLES = {
    "waiting": "waiting for you",
    "crash_loop": "crash loop",
    "escalation": "escalation",
    "convoy_landed": "convoy landed",
    "merge_failed": "merge failed",
    "budget_reached": "budget reached",
}
URGENT = {"waiting", "crash_loop", "escalation", "budget_reached", "merge_failed"}


@dataclass(frozen=True)
class Notice:
    event: str  # one of notify_config.EVENTS
    key: str
    title: str
    text: str
    town: str
    source: dict[str, Any] = field(default_factory=dict)  # the feed event, as written

    def payload(self) -> dict[str, Any]:
        """The webhook body: `text` for Slack, `content` for Discord, the rest for scripts."""
        line = f"[{self.town}] {self.title}: {self.text}"
        return {
            "text": line,
            "content": line[:2000],
            "event": self.event,
            "title": self.title,
            "message": self.text,
            "town": self.town,
            "key": self.key,
            "rig": self.source.get("rig"),
            "bead": self.source.get("bead"),
            "polecat": self.source.get("polecat"),
            "ts": self.source.get("ts"),
        }


def event_key(doc: dict[str, Any]) -> str:
    return sha256_hex(orjson.dumps(doc, option=orjson.OPT_SORT_KEYS))[:32]


def _is_supervisor(actor: str) -> bool:
    return actor in SUPERVISORS or actor.endswith(("/witness", "/refinery"))


def route(event: Event, town_name: str) -> Notice | None:
    """The notice an event makes, or None for events no person is told about."""
    extra = event.extra
    kind = event.type
    name: str | None = None
    text = event.msg
    if kind == "witness.waiting":
        name = "waiting"
    elif kind == "witness.crash_loop":
        name = "crash_loop"
    elif kind == "mail.sent" and extra.get("mail_type") == "escalation":
        if not _is_supervisor(event.actor):  # a crash loop or failed merge has its own
            name = "escalation"
            text = f"{event.actor}: {event.msg}"
    elif kind == "convoy.landed":
        name = "convoy_landed"
        text = f"{extra.get('convoy', '')} {event.msg}".strip()
    elif kind == "refinery.failed" and extra.get("final"):
        name = "merge_failed"
        text = f"{event.bead}: {event.msg}"
    elif kind == "budget.reached":
        name = "budget_reached"
    if name is None:
        return None
    doc = event.to_dict()
    title = TITLES[name]
    if name == "waiting" and extra.get("polecat"):
        title = f"{extra['polecat']} is waiting for you"
    return Notice(name, event_key(doc), title, text[:1000], town_name, doc)


# -- sinks ---------------------------------------------------------------------------------


class SinkError(Exception):
    """A delivery that failed; `retry` False when trying again cannot help."""

    def __init__(self, text: str, retry: bool = True) -> None:
        super().__init__(text)
        self.retry = retry


def _post_json(url: str, body: dict[str, Any], timeout: float, token: str = "") -> None:
    # Imported here: urllib.request pulls in ssl, http and email (~9 MB resident), which the
    # daemon and the app would carry all day for a town that posts to no webhook.
    import urllib.error
    import urllib.request

    headers = {"Content-Type": "application/json", "User-Agent": "gastown-tui"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=orjson.dumps(body), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read(65536)
    except urllib.error.HTTPError as exc:
        # 4xx other than 408/429 will not get better by trying again.
        retry = exc.code >= 500 or exc.code in (408, 429)
        raise SinkError(f"HTTP {exc.code} from {url}", retry=retry) from None
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        reason = getattr(exc, "reason", exc)
        raise SinkError(f"{url}: {reason}") from None


def send(sink: SinkConfig, notice: Notice, timeout: float, tmux: TownTmux | None) -> None:
    """Deliver one notice to one sink, or raise SinkError."""
    if sink.type == "webhook":
        _post_json(sink.url, notice.payload(), timeout)
    elif sink.type == "ntfy":
        body = {
            "topic": sink.topic,
            "title": f"[{notice.town}] {notice.title}",
            "message": notice.text,
            "priority": 4 if notice.event in URGENT else 3,
            "tags": ["gastown", notice.event],
        }
        _post_json(sink.url, body, timeout, sink.token)
    elif sink.type == "desktop":
        program = shutil.which("notify-send")
        if program is None:
            raise SinkError("notify-send is not installed (libnotify-bin)", retry=False)
        urgency = "critical" if notice.event in ("crash_loop", "budget_reached") else "normal"
        argv = [program, "-a", "Gas Town", "-u", urgency, f"[{notice.town}] {notice.title}"]
        argv.append(notice.text)  # a list, no shell: agent text is never executed
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise SinkError(f"notify-send took more than {timeout:.0f}s") from None
        if done.returncode != 0:
            raise SinkError(f"notify-send exited {done.returncode}: {done.stderr.strip()[:200]}")
    elif sink.type == "bell":
        if tmux is not None:
            with contextlib.suppress(Exception):
                ring_bell(tmux)
        with contextlib.suppress(OSError), open("/dev/tty", "w") as tty:
            tty.write("\a")


class SinkWorker:
    """One sink's queue and thread: retries with backoff never hold up another sink."""

    def __init__(
        self,
        sink: SinkConfig,
        deliver: Callable[[SinkConfig, Notice], None],
        failed: Callable[[SinkConfig, Notice, str, int], None],
        stop: threading.Event,
        done: Callable[[Notice], None] = lambda notice: None,
    ) -> None:
        self.sink = sink
        self._deliver = deliver
        self._failed = failed
        self._done = done
        self._stop = stop
        self._queue: queue.Queue[tuple[Notice, int, float] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name=f"notify-{sink.name}", daemon=True)
        self._thread.start()

    def put(self, notice: Notice, retries: int, backoff: float) -> None:
        self._queue.put((notice, retries, backoff))

    def close(self) -> None:
        self._queue.put(None)

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            notice, retries, backoff = item
            tries = 0
            while True:
                tries += 1
                try:
                    self._deliver(self.sink, notice)
                    break
                except Exception as exc:  # a sink's failure is reported, never raised
                    error = str(exc) or type(exc).__name__
                    can_retry = getattr(exc, "retry", True)
                    if not can_retry or tries > retries:
                        self._failed(self.sink, notice, error, tries)
                        break
                    if self._stop.wait(backoff * 2 ** (tries - 1)):
                        return  # stopped mid-backoff: the claim stays pending (recoverable)
            self._done(notice)


class NotifyRouter:
    """The `notify` patrol: reads new events, claims each notice once, hands it to sinks."""

    def __init__(
        self,
        town: Town,
        tmux: TownTmux | None = None,
        notify: Callable[[str, str], None] | None = None,
    ) -> None:
        self.town = town
        self.tmux = tmux
        self.notify = notify or (lambda text, severity="warning": None)
        self._follower: EventFollower | None = None
        self._workers: dict[SinkConfig, SinkWorker] = {}
        self._stop = threading.Event()
        self._budget_checked = 0.0
        self._reported: set[tuple[str, str]] = set()
        self._pending: dict[str, int] = {}  # key -> sinks still delivering it
        self._lock = threading.Lock()

    @property
    def sent_dir(self) -> Path:
        return self.town.paths.runtime / "notify" / "sent"

    # -- claims ------------------------------------------------------------------------------
    def claim(self, key: str, record: dict[str, Any]) -> bool:
        """True for exactly one caller per key, across processes (O_EXCL), forever after."""
        self.sent_dir.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(self.sent_dir / key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return False
        try:
            os.write(fd, orjson.dumps(record))
        finally:
            os.close(fd)
        return True

    def _mark(self, key: str, record: dict[str, Any]) -> None:
        with contextlib.suppress(OSError):
            atomic_write_bytes(self.sent_dir / key, orjson.dumps(record))

    def _recover(self, now: float) -> list[Notice]:
        """Notices a supervisor claimed and died before sending (its pid is gone): each is
        taken over by one router (O_EXCL on `<key>.retake-<dead pid>`) and sent again."""
        out: list[Notice] = []
        try:
            paths = [p for p in self.sent_dir.iterdir() if "." not in p.name]
        except FileNotFoundError:
            return out
        for path in paths:
            try:
                if now - path.stat().st_mtime > LOOKBACK:
                    continue
                record = orjson.loads(path.read_bytes())
            except (OSError, orjson.JSONDecodeError):
                continue
            if not isinstance(record, dict) or record.get("state") != "pending":
                continue
            pid = int(record.get("pid") or 0)
            source = record.get("source")
            if pid == os.getpid() or pid_alive(pid) or not isinstance(source, dict):
                continue
            if not self.claim(f"{path.name}.retake-{pid}", {"from": pid, "pid": os.getpid()}):
                continue
            notice = route(EventRecord.from_dict(source), self.town.config.name)
            if notice is not None:
                self._mark(path.name, {**record, "pid": os.getpid(), "retaken_from": pid})
                out.append(notice)
        return out

    def _send(self, notice: Notice, config: NotifyConfig, minute_of_day: int) -> str:
        """Queue `notice` (already claimed) to its sinks; what was done, for the patrol."""
        wanted = config.sinks_for(notice.event)
        loud = [s for s in wanted if s.quiet is None or not s.quiet.covers(minute_of_day)]
        with self._lock:
            self._pending[notice.key] = len(loud)
        if not loud:
            self._done(notice, count=False)
        for sink in loud:
            self._worker(sink).put(notice, config.retries, config.backoff)
        quiet = [s.name for s in wanted if s not in loud]
        what = f"notice {notice.event} ({notice.title})"
        if loud:
            what += " to " + ", ".join(s.name for s in loud)
        if quiet:
            what += f"; quiet hours for {', '.join(quiet)}"
        return what

    def _done(self, notice: Notice, count: bool = True) -> None:
        """A sink finished with `notice` (sent or given up); the last one marks it done."""
        with self._lock:
            left = self._pending.get(notice.key, 0) - (1 if count else 0)
            if left > 0:
                self._pending[notice.key] = left
                return
            self._pending.pop(notice.key, None)
        self._mark(notice.key, {"event": notice.event, "state": "done", "pid": os.getpid()})

    def sweep(self, now: float) -> int:
        removed = 0
        with contextlib.suppress(FileNotFoundError):
            for path in self.sent_dir.iterdir():
                with contextlib.suppress(OSError):
                    if now - path.stat().st_mtime > KEEP_MARKERS:
                        path.unlink()
                        removed += 1
        return removed

    # -- the patrol --------------------------------------------------------------------------
    def _new_events(self, now: float) -> list[Event]:
        if self._follower is None:
            recent, self._follower = self.town.events.tail_and_follow(LOOKBACK_LINES)
            self.sweep(now)
            since = iso(now - LOOKBACK)
            return [e for e in recent if e.ts >= since]
        return self._follower.poll()

    def _check_budget(self, now: float) -> None:
        if now - self._budget_checked < BUDGET_EVERY:
            return
        self._budget_checked = now
        state = budget_state(self.town)
        if not state["over"]:
            return
        limits = f"budget-{state['max_tokens']}-{state['max_usd']}"
        key = sha256_hex(limits.encode())[:32]
        if self.claim(key, {"budget": limits, "at": iso(now)}):
            self.town.events.append(
                "budget.reached",
                actor="deacon",
                msg=f"{state['reason']}: new dispatch stopped, built-in agents pause",
            )

    def patrol(self, now: float | None = None) -> list[str]:
        now = self.town.clock.now() if now is None else now
        config = self.town.config.notify
        if not config.sinks:
            self._new_events(now)  # keep up, so adding a sink later does not replay the day
            return []
        self._timeout = config.timeout
        minute = time.localtime(now)
        minute_of_day = minute.tm_hour * 60 + minute.tm_min
        actions = []
        if self._follower is None:
            for notice in self._recover(now):
                actions.append(self._send(notice, config, minute_of_day) + " (retaken)")
        self._check_budget(now)
        for event in self._new_events(now):
            notice = route(event, self.town.config.name)
            if notice is None or not config.sinks_for(notice.event):
                continue
            record = {
                "event": notice.event,
                "state": "pending",  # until every sink is done with it (see _recover)
                "pid": os.getpid(),
                "source": notice.source,
            }
            if not self.claim(notice.key, record):
                continue  # another supervisor told it (or will)
            actions.append(self._send(notice, config, minute_of_day))
        return actions

    _timeout = 5.0

    def _worker(self, sink: SinkConfig) -> SinkWorker:
        worker = self._workers.get(sink)
        if worker is None:
            worker = SinkWorker(sink, self._deliver, self._failed, self._stop, self._done)
            self._workers[sink] = worker
        return worker

    def _deliver(self, sink: SinkConfig, notice: Notice) -> None:
        send(sink, notice, self._timeout, self.tmux)

    def _failed(self, sink: SinkConfig, notice: Notice, error: str, tries: int) -> None:
        word = "try" if tries == 1 else "tries"
        text = (
            f"notification sink {sink.name!r} ({sink.type}) failed for {notice.event} "
            f"after {tries} {word}: {error}"
        )
        with contextlib.suppress(Exception):
            self.town.events.append(
                "notify.failed", actor="deacon", msg=text, sink=sink.name, notice=notice.key
            )
        # Tell a person once per sink and error, not once per notice.
        if (sink.name, error) not in self._reported:
            self._reported.add((sink.name, error))
            with contextlib.suppress(Exception):
                self.notify(text, "error")

    def close(self, timeout: float = 10.0) -> None:
        """Deliver what is queued, then stop the sink threads (at most `timeout` seconds)."""
        for worker in self._workers.values():
            worker.close()
        deadline = time.monotonic() + timeout
        for worker in self._workers.values():
            worker.join(max(0.0, deadline - time.monotonic()))
        self._stop.set()  # cuts short any backoff still waiting
        self._workers.clear()
