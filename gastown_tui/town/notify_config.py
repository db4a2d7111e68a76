"""`[notify]` in town.toml: which events reach a person, through which sinks, and when not.

    [notify]
    events = ["waiting", "crash_loop", "escalation"]   # default: every event
    quiet_hours = "22:00-07:00"   # local time; sinks stay silent (the feed still shows it)
    retries = 3                   # further tries after a failed delivery, with backoff
    backoff = "2s"                # the first wait; it doubles each try
    timeout = "5s"                # per request

    [notify.sinks.phone]
    type = "ntfy"                 # bell | desktop | ntfy | webhook
    server = "https://ntfy.sh"
    topic = "my-town-7f3a"
    events = ["waiting"]          # this sink only: overrides [notify] events
    quiet_hours = ""              # this sink only: "" = never quiet

Validated when town.toml is loaded (town/config.py): a bad value is a GtError naming the
key, so `gt` says so on one line and exits 2.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gastown_tui.town.clock import parse_duration
from gastown_tui.town.errors import GtError

EVENTS = (
    "waiting",  # a polecat waits for a person (witness.waiting)
    "crash_loop",  # a polecat died too often; its bead went back to ready (witness.crash_loop)
    "escalation",  # an agent escalated (mail.sent of type escalation)
    "convoy_landed",  # every bead of a convoy closed (convoy.landed)
    "merge_failed",  # the refinery gave up on a branch (refinery.failed, final attempt)
    "budget_reached",  # the town's token/cost budget is used up (budget.reached)
)
SINK_TYPES = ("bell", "desktop", "ntfy", "webhook")
DEFAULT_NTFY = "https://ntfy.sh"
_HHMM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


@dataclass(frozen=True)
class QuietHours:
    start: int  # minutes after midnight, local time
    end: int

    def covers(self, minute_of_day: int) -> bool:
        if self.start < self.end:
            return self.start <= minute_of_day < self.end
        return minute_of_day >= self.start or minute_of_day < self.end  # across midnight


@dataclass(frozen=True)
class SinkConfig:
    name: str
    type: str
    events: frozenset[str]
    quiet: QuietHours | None
    url: str = ""  # webhook: its URL; ntfy: the server
    topic: str = ""  # ntfy
    token: str = ""  # ntfy: an access token (sent as a Bearer header)


@dataclass(frozen=True)
class NotifyConfig:
    sinks: tuple[SinkConfig, ...] = ()
    retries: int = 3
    backoff: float = 2.0
    timeout: float = 5.0
    events: frozenset[str] = field(default_factory=lambda: frozenset(EVENTS))

    def sinks_for(self, event: str) -> list[SinkConfig]:
        return [s for s in self.sinks if event in s.events]


def parse_quiet_hours(text: Any, where: str) -> QuietHours | None:
    if text is None or text == "":
        return None
    bad = GtError(
        f"{where} = {text!r} is not quiet hours", hint='write "HH:MM-HH:MM", e.g. "22:00-07:00"'
    )
    if not isinstance(text, str) or text.count("-") != 1:
        raise bad
    ends = []
    for part in text.split("-"):
        match = _HHMM.match(part.strip())
        if match is None:
            raise bad
        ends.append(int(match.group(1)) * 60 + int(match.group(2)))
    if ends[0] == ends[1]:
        raise GtError(f"{where} = {text!r} starts and ends at the same time", hint="or remove it")
    return QuietHours(ends[0], ends[1])


def _events(value: Any, where: str) -> frozenset[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise GtError(f"{where} must be a list of event names", hint="events: " + ", ".join(EVENTS))
    unknown = [v for v in value if v not in EVENTS]
    if unknown:
        raise GtError(f"{where}: unknown event {unknown[0]!r}", hint="events: " + ", ".join(EVENTS))
    return frozenset(value)


def _http_url(value: Any, where: str) -> str:
    if not isinstance(value, str) or not re.match(r"^https?://[^/\s]+", value):
        raise GtError(f"{where} = {value!r} is not an http(s) URL", hint="write https://host/path")
    return value


def _seconds(
    section: dict[str, Any], key: str, default: float, where: Callable[[str], str]
) -> float:
    value = section.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise GtError(f"{where(key)} must be a duration, not {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        try:
            seconds = parse_duration(value)
        except ValueError:
            raise GtError(
                f"{where(key)} = {value!r} is not a duration", hint='write 5 or "5s", "1m"'
            ) from None
    if seconds < 0:
        raise GtError(f"{where(key)} must not be negative")
    return seconds


def parse_notify(raw: Any, where: Callable[[str], str]) -> NotifyConfig:
    """The `[notify]` table as a NotifyConfig; GtError on anything wrong (`where(key)` names
    the file and the key)."""
    if raw is None:
        return NotifyConfig()
    if not isinstance(raw, dict):
        raise GtError(f"{where('notify')} must be a table")
    known = {"events", "quiet_hours", "retries", "backoff", "timeout", "sinks"}
    for key in raw:
        if key not in known:
            raise GtError(
                f"{where('notify.' + key)}: unknown key", hint="keys: " + ", ".join(sorted(known))
            )
    events = _events(raw.get("events", list(EVENTS)), where("notify.events"))
    quiet = parse_quiet_hours(raw.get("quiet_hours"), where("notify.quiet_hours"))
    defaults = NotifyConfig()
    retries = raw.get("retries", defaults.retries)
    if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= 20:
        raise GtError(f"{where('notify.retries')} must be a whole number from 0 to 20")
    backoff = _seconds(raw, "backoff", defaults.backoff, lambda k: where(f"notify.{k}"))
    timeout = _seconds(raw, "timeout", defaults.timeout, lambda k: where(f"notify.{k}"))
    if timeout <= 0:
        raise GtError(f"{where('notify.timeout')} must be more than 0")
    sinks_raw = raw.get("sinks") or {}
    if not isinstance(sinks_raw, dict):
        raise GtError(f"{where('notify.sinks')} must be tables: [notify.sinks.NAME]")
    sinks = []
    for name, table in sinks_raw.items():
        at = f"notify.sinks.{name}"
        if not isinstance(table, dict):
            raise GtError(f"{where(at)} must be a table with a type")
        kind = table.get("type")
        if kind not in SINK_TYPES:
            raise GtError(
                f"{where(at + '.type')} = {kind!r} is not a sink type",
                hint="types: " + ", ".join(SINK_TYPES),
            )
        sink_events = (
            _events(table["events"], where(at + ".events")) if "events" in table else events
        )
        sink_quiet = (
            parse_quiet_hours(table["quiet_hours"], where(at + ".quiet_hours"))
            if "quiet_hours" in table
            else quiet
        )
        url = ""
        if kind == "webhook":
            if "url" not in table:
                raise GtError(f'{where(at)}: a webhook needs url = "https://..."')
            url = _http_url(table["url"], where(at + ".url"))
        elif kind == "ntfy":
            server = _http_url(table.get("server", DEFAULT_NTFY), where(at + ".server"))
            topic = table.get("topic")
            if not isinstance(topic, str) or not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", topic):
                raise GtError(
                    f"{where(at + '.topic')} = {topic!r} is not an ntfy topic",
                    hint="letters, digits, - and _; pick one hard to guess",
                )
            url = server.rstrip("/")
        token = table.get("token", "")
        if not isinstance(token, str):
            raise GtError(f"{where(at + '.token')} must be text")
        topic = str(table.get("topic", "")) if kind == "ntfy" else ""
        sinks.append(SinkConfig(str(name), kind, sink_events, sink_quiet, url, topic, token))
    return NotifyConfig(tuple(sinks), retries, backoff, timeout, events)
