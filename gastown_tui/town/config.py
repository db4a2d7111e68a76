"""town.toml: runtimes, thresholds, budgets, keymap, theme and layout of a town.

Every key has a default, so a town.toml only needs what the user changes. Durations may be
written as seconds (`900`) or as text (`"15m"`). A bad file or value is a GtError naming the
file and the key, never a traceback.
"""

from __future__ import annotations

import copy
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gastown_tui.town.clock import parse_duration
from gastown_tui.town.errors import GtError

if TYPE_CHECKING:
    from gastown_tui.town.notify_config import NotifyConfig

DEFAULTS: dict[str, Any] = {
    "town": {"name": "gastown", "default_runtime": "claude"},
    "thresholds": {
        "stalled": "15m",
        "gupp": "30m",
        "hook_age": "1h",
    },
    "supervise": {
        "witness_interval": "30s",
        "deacon_interval": "60s",
        "refinery_interval": "20s",
        "backup_interval": "15m",
        "backups_keep": 12,
        "events_rotate_bytes": 20_000_000,
        "restart_backoff": "30s",
        "restart_backoff_cap": "10m",
        "crash_loop_restarts": 5,
        "crash_loop_window": "15m",
        "crash_decay": "30m",
        # The supervisor lease (supervise/lease.py): a holder without a heartbeat this long
        # is taken over; a main loop stuck this long stops its heartbeat.
        "lease_stale": "30s",
        "lease_hung": "15m",
    },
    "budget": {"max_tokens": 0, "max_usd": 0.0},
    "builtin": {"model": "claude-sonnet-4-6", "max_tokens": 4096, "max_turns": 40},
    "refinery": {"verify": "", "verify_timeout": "10m", "max_attempts": 3, "push": False},
    "dogs": {"gc_idle_window": "10m", "events_keep_rotated": 5},
    "rigs": {},
    "store": {"archive_closed_over": 250, "keep_closed_in_rig": 50},
    "ui": {"theme": "wasteland", "layout": "default"},
    "keymap": {},
    "names": {"extra": []},
    "demo": {"step_seconds": 2.0},
    "runtimes": {},
}

TEMPLATE = """\
# Gas Town town configuration. Every key is optional; the defaults are shown.

[town]
name = {name}
# Runtime used by `gt sling` when --agent is not given (claude, codex, gemini, aider, shell, demo).
default_runtime = {runtime}
# The rig of `gt bead create` without --rig when the town has several and you are not in one's
# folder (default: the first rig added).
# default_rig = "web"
# Variables every agent window gets at its creation (not whatever the town's tmux server had
# when it started), and names copied from the environment of the `gt` that starts a window.
# env = {{ ANTHROPIC_MODEL = "claude-sonnet-4-6" }}
# pass_env = ["HTTPS_PROXY"]

[thresholds]
stalled = "15m"     # hooked work, no heartbeat or pane change for this long
gupp = "30m"        # hooked work ignored this long breaks GUPP
hook_age = "1h"     # hooks older than this are flagged by the deacon

[supervise]
witness_interval = "30s"
deacon_interval = "60s"
backup_interval = "15m"
backups_keep = 12
restart_backoff = "30s"
restart_backoff_cap = "10m"
crash_loop_restarts = 5
crash_loop_window = "15m"
crash_decay = "30m"
lease_stale = "30s" # a supervisor without a heartbeat this long (stopped, hung) is taken over

[budget]
max_tokens = 0      # 0 = no limit; over budget, new dispatch stops and agents pause
max_usd = 0.0

[builtin]
# The built-in agent (--agent builtin): Claude through the anthropic SDK. Needs
# ANTHROPIC_API_KEY (ANTHROPIC_BASE_URL is honoured). Its tokens count against [budget].
model = "claude-sonnet-4-6"
max_tokens = 4096   # per model response
max_turns = 40

[refinery]
verify = ""          # command run on a rebased branch before it lands on main, e.g. "make test"
verify_timeout = "10m"
max_attempts = 3     # failed merges of one bead before it is escalated
push = false         # push main to the rig's origin after each merge
# require_review = true   # nothing merges until a person approves it (gt mr approve, the app)
# merge_strategy = "pr"   # push the verified branch to `remote` and open a PR with gh
# remote = "origin"

# [rigs.alpha]
# verify = "pytest -q"   # per-rig override of [refinery]

[ui]
theme = "wasteland"
layout = "default"

# [keymap]
# sling = "ctrl+s"

# [notify]                      # tell a person where they are (README: Notifications)
# events = ["waiting", "crash_loop", "escalation", "convoy_landed", "merge_failed",
#           "budget_reached"]
# quiet_hours = "22:00-07:00"
# [notify.sinks.phone]
# type = "ntfy"                 # bell | desktop | ntfy | webhook
# topic = "my-town-7f3a"

# [runtimes.mybot]
# command = ["mybot", "--yes"]
# prompt = "arg"          # deliver the beacon as the last argument, or "nudge"
# ready = "> "            # text that shows the agent is ready for input
# waiting = ["Allow?"]    # pane text that means it waits for a human
# [runtimes.claude-opus]
# base = "claude"         # start from a preset: its patterns, hook and answers; yours add
# command = ["claude", "--dangerously-skip-permissions", "--model", "opus"]
# env = {{ ANTHROPIC_MODEL = "claude-opus-4-1" }}
"""


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


@dataclass
class TownConfig:
    path: Path | None = None
    raw: dict[str, Any] = field(default_factory=lambda: copy.deepcopy(DEFAULTS))

    @classmethod
    def load(cls, path: Path) -> TownConfig:
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise GtError(f"{path} does not exist") from None
        except OSError as exc:
            raise GtError(f"cannot read {path}: {exc.strerror}") from None
        except UnicodeDecodeError as exc:
            raise GtError(
                f"{path} is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset "
                f"{exc.start})",
                hint="fix the file; TOML is UTF-8",
            ) from None
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise GtError(f"{path} is not valid TOML: {exc}", hint="fix the file") from None
        config = cls(path, _merge(DEFAULTS, data))
        config.validate()
        return config

    def _where(self, key: str) -> str:
        return f"{self.path or 'town.toml'}: {key}"

    def validate(self) -> None:
        for section in ("thresholds",):
            for key in self.raw[section]:
                self.seconds(f"{section}.{key}")
        for key, value in self.raw["supervise"].items():
            if isinstance(value, str):
                self.seconds(f"supervise.{key}")
        self.town_env()
        self.pass_env()
        if not isinstance(self.raw["keymap"], dict):
            raise GtError(f'{self._where("keymap")} must be a table of action = "key"')
        self.notify  # noqa: B018 - [notify] is checked whole (town/notify_config.py)

    def get(self, dotted: str) -> Any:
        node: Any = self.raw
        for part in dotted.split("."):
            if not isinstance(node, dict) or part not in node:
                raise KeyError(dotted)
            node = node[part]
        return node

    def seconds(self, dotted: str) -> float:
        value = self.get(dotted)
        if isinstance(value, bool):
            raise GtError(f"{self._where(dotted)} must be a duration, not {value!r}")
        if isinstance(value, int | float):
            return float(value)
        try:
            return parse_duration(str(value))
        except ValueError:
            raise GtError(
                f"{self._where(dotted)} = {value!r} is not a duration",
                hint='write seconds (900) or text like "15m", "1h"',
            ) from None

    def integer(self, dotted: str) -> int:
        value = self.get(dotted)
        if isinstance(value, bool) or not isinstance(value, int):
            raise GtError(f"{self._where(dotted)} must be a whole number, not {value!r}")
        return value

    @property
    def name(self) -> str:
        return str(self.raw["town"]["name"])

    @property
    def default_runtime(self) -> str:
        return str(self.raw["town"]["default_runtime"])

    def town_env(self) -> dict[str, str]:
        """[town] env: variables set in every agent window at its creation."""
        from gastown_tui.town.validate import env_table

        return env_table(self.raw["town"].get("env", {}), self._where("town.env"))

    def pass_env(self) -> tuple[str, ...]:
        """[town] pass_env: names copied into every window from the environment of the `gt`
        that starts it (added to the built-in list in dispatch/agents.py)."""
        from gastown_tui.town.validate import env_names

        return env_names(self.raw["town"].get("pass_env", []), self._where("town.pass_env"))

    @property
    def runtimes(self) -> dict[str, dict[str, Any]]:
        return dict(self.raw.get("runtimes") or {})

    @property
    def keymap(self) -> dict[str, str]:
        return {str(k): str(v) for k, v in (self.raw.get("keymap") or {}).items()}

    @property
    def theme(self) -> str:
        return str(self.raw["ui"]["theme"])

    @property
    def layout(self) -> str:
        return str(self.raw["ui"]["layout"])

    @property
    def notify(self) -> NotifyConfig:
        from gastown_tui.town.notify_config import parse_notify

        return parse_notify(self.raw.get("notify"), self._where)

    @property
    def extra_names(self) -> list[str]:
        return [str(n) for n in self.raw["names"].get("extra", [])]


def toml_string(value: str) -> str:
    """A TOML basic string. JSON's escapes (quote, backslash, n, uXXXX) are all valid TOML."""
    import json

    return json.dumps(value, ensure_ascii=False)


def check_town_name(value: str, what: str = "town name") -> str:
    """A town's name (or a runtime's) is one plain line: it lands in town.toml and titles."""
    text = (value or "").strip()
    if not text:
        raise GtError(f"the {what} is empty")
    if len(text) > 100:
        raise GtError(f"the {what} is {len(text)} characters; the limit is 100")
    if any(ord(c) < 32 or 0x7F <= ord(c) < 0xA0 for c in text):
        raise GtError(f"the {what} {text!r} holds control characters", hint="use one plain line")
    return text


def render_template(name: str, runtime: str = "claude") -> str:
    return TEMPLATE.format(name=toml_string(name), runtime=toml_string(runtime))
