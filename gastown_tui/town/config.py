"""town.toml: runtimes, thresholds, budgets, keymap, theme and layout of a town.

Every key has a default, so a town.toml only needs what the user changes. Each section is a
read-only dataclass below, parsed once when the file is loaded (`TownConfig.load`); its fields'
defaults are the only statement of the defaults, and the town.toml written by `gt init` is
generated from them (`render_template`; tests/test_config.py checks that they agree).
Durations may be written as seconds (`900`) or as text (`"15m"`). A bad file or value is a
GtError naming the file and the key, never a traceback.

To add a key: add a field to its section with `setting(...)` (or `duration(...)`); its `doc`
becomes the template's comment. Tables that other modules parse themselves stay raw in
`TownConfig.raw`: [runtimes.*] (runtimes/presets.py), [roles.*] (town/roles.py),
[scheduler] (town/scheduler.py), [intake] (town/formulas.py), [beads] (town/beads.py).
"""

from __future__ import annotations

import copy
import json
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import MISSING, Field, FrozenInstanceError, dataclass, field, fields
from pathlib import Path
from typing import Any

from gastown_tui.town.clock import parse_duration
from gastown_tui.town.errors import GtError
from gastown_tui.town.notify_config import NotifyConfig, parse_notify

Where = Callable[[str], str]

# -- how a field is declared ------------------------------------------------------------------
# metadata keys: kind (how it is parsed: str, int, float, bool, duration, names, env, keymap,
# prices), doc (the template's comment: "above" lines or a short "after" note), text (a
# duration's default as written), example (commented-out template lines for a key that is
# not set by default).


def setting(
    default: Any, doc: str = "", *, kind: str = "", note: str = "", example: str = ""
) -> Any:
    """A town.toml key with its default and the template's comment about it."""
    meta = {"kind": kind, "doc": doc, "note": note, "example": example}
    if isinstance(default, dict | list):
        return field(default_factory=lambda: copy.deepcopy(default), metadata=meta)
    return field(default=default, metadata=meta)


def duration(text: str, doc: str = "", *, note: str = "") -> Any:
    """A duration key: its default is written as text ("15m") and held as seconds."""
    meta = {"kind": "duration", "doc": doc, "note": note, "example": "", "text": text}
    return field(default=parse_duration(text), metadata=meta)


# -- the sections -----------------------------------------------------------------------------
class ReadOnly:
    """Fields are set once, by __init__, and never again (FrozenInstanceError), as with
    `frozen=True`, which makes a dataclass several times slower to create: every `gt` call
    that reads town.toml would pay about 5-10 ms for the sections below."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in self.__dict__:
            raise FrozenInstanceError(f"cannot assign to field {name!r}")
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        raise FrozenInstanceError(f"cannot delete field {name!r}")


# A section: a read-only dataclass. No generated __eq__ either (compare with `vars()`).
section = dataclass(eq=False)


@section
class TownSection(ReadOnly):
    """[town]: its name, default runtime and rig, and what every agent window gets."""

    name: str = setting("gastown")
    default_runtime: str = setting(
        "claude",
        "Runtime used by `gt sling` when --agent is not given (claude, codex, gemini, aider, "
        "shell, demo).",
    )
    default_rig: str = setting(
        "",
        "The rig of `gt bead create` without --rig when the town has several and you are not "
        "in one's\nfolder (default: the first rig added).",
        example='default_rig = "web"',
    )
    env: dict[str, str] = setting(
        {},
        "Variables every agent window gets at its creation (not whatever the town's tmux "
        "server had\nwhen it started), and names copied from the environment of the `gt` that "
        "starts a window.",
        kind="env",
        example='env = { ANTHROPIC_MODEL = "claude-sonnet-4-6" }',
    )
    pass_env: tuple[str, ...] = setting((), kind="env_names", example='pass_env = ["HTTPS_PROXY"]')


@section
class ThresholdsSection(ReadOnly):
    """[thresholds]: when hooked work counts as stalled, GUPP broken or a hook old."""

    stalled: float = duration("15m", note="hooked work, no heartbeat or pane change for this long")
    gupp: float = duration("30m", note="hooked work ignored this long breaks GUPP")
    hook_age: float = duration("1h", note="hooks older than this are flagged by the deacon")


@section
class SuperviseSection(ReadOnly):
    """[supervise]: patrol intervals, backups, restarts and crash loops, the lease."""

    witness_interval: float = duration("30s")
    deacon_interval: float = duration("60s")
    refinery_interval: float = duration("20s")
    backup_interval: float = duration("15m")
    backups_keep: int = setting(12)
    events_rotate_bytes: int = setting(20_000_000, note="events.jsonl is rotated past this size")
    restart_backoff: float = duration("30s")
    restart_backoff_cap: float = duration("10m")
    crash_loop_restarts: int = setting(5)
    crash_loop_window: float = duration("15m")
    crash_decay: float = duration("30m")
    # The supervisor lease (supervise/lease.py).
    lease_stale: float = duration(
        "30s", note="a supervisor without a heartbeat this long (stopped, hung) is taken over"
    )
    lease_hung: float = duration("15m", note="a main loop stuck this long stops its heartbeat")
    command_server: bool = setting(
        True, note="run agents' gt calls in a warm process (cmdserver.py): 2-3x faster each"
    )


@section
class BudgetSection(ReadOnly):
    """[budget]: token and dollar limits (town/usage.py), and model prices."""

    max_tokens: int = setting(
        0, note="0 = no limit; over budget, new dispatch stops and agents pause"
    )
    max_usd: float = setting(0.0)
    # model prefix -> (input, output) dollars per million tokens, over town/usage.py's own.
    prices: dict[str, tuple[float, float]] = setting(
        {},
        kind="prices",
        example='[budget.prices]\n"claude-sonnet-4" = [3.0, 15.0]   # $ per million tokens',
    )


@section
class BuiltinSection(ReadOnly):
    """[builtin]: the built-in agent (runtimes/builtin_agent.py)."""

    model: str = setting("claude-sonnet-4-6")
    max_tokens: int = setting(4096, note="per model response")
    max_turns: int = setting(40)
    command_timeout: float = duration("5m", note="its run_command tool gives up after this")
    budget_poll: float = duration("30s", note="over budget, it looks again this often")


@section
class RefinerySection(ReadOnly):
    """[refinery], and [rigs.NAME] over it: how finished branches land."""

    verify: str = setting(
        "", note='command run on a rebased branch before it lands on main, e.g. "make test"'
    )
    verify_timeout: float = duration("10m")
    max_attempts: int = setting(3, note="failed merges of one bead before it is escalated")
    push: bool = setting(False, note="push main to the rig's origin after each merge")
    require_review: bool = setting(
        False,
        example="require_review = true   # nothing merges until a person approves it "
        "(gt mr approve, the app)",
    )
    merge_strategy: str = setting(
        "merge",
        kind="strategy",
        example='merge_strategy = "pr"   # push the verified branch to `remote` and open a PR '
        "with gh",
    )
    remote: str = setting("origin", example='remote = "origin"')


@section
class DogsSection(ReadOnly):
    """[dogs]: the deacon's cleanups (supervise/dogs.py)."""

    gc_idle_window: float = duration("10m", note="an idle polecat's window is closed after this")
    events_keep_rotated: int = setting(5)


@section
class StoreSection(ReadOnly):
    """[store]: when closed beads move to a rig's archive."""

    archive_closed_over: int = setting(250, note="closed beads in a rig file before archiving")
    keep_closed_in_rig: int = setting(50)


@section
class UiSection(ReadOnly):
    """[ui]: the app's theme and layout."""

    theme: str = setting("wasteland")
    layout: str = setting("default")


@section
class NamesSection(ReadOnly):
    """[names]: polecat names beyond the built-in pool."""

    extra: tuple[str, ...] = setting((), kind="names", note="more polecat names for the pool")


@section
class DemoSection(ReadOnly):
    """[demo]: the DEMO AGENT's pace."""

    step_seconds: float = setting(2.0, note="seconds a DEMO AGENT waits between steps")


# (section, its class, template: "shown" | "commented", comment above the section)
SECTIONS: tuple[tuple[str, type, str, str], ...] = (
    ("town", TownSection, "shown", ""),
    ("thresholds", ThresholdsSection, "shown", ""),
    ("supervise", SuperviseSection, "shown", ""),
    ("budget", BudgetSection, "shown", ""),
    (
        "builtin",
        BuiltinSection,
        "shown",
        "The built-in agent (--agent builtin): Claude through the anthropic SDK. Needs\n"
        "ANTHROPIC_API_KEY (ANTHROPIC_BASE_URL is honoured). Its tokens count against [budget].",
    ),
    ("refinery", RefinerySection, "shown", ""),
    ("ui", UiSection, "shown", ""),
    # Commented out, as in towns made before they were listed: a table appended to the file
    # (`gt demo` adds [demo], tui/demo_town.py) must not be a second one.
    ("dogs", DogsSection, "commented", ""),
    ("store", StoreSection, "commented", ""),
    ("names", NamesSection, "commented", ""),
    ("demo", DemoSection, "commented", ""),
)

# The tables with no defaults to show: examples only.
TEMPLATE_EXAMPLES = """\
# [rigs.alpha]
# verify = "pytest -q"   # per-rig override of any [refinery] key

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
# install_hint = "pipx install mybot"   # shown when the command is missing
# [runtimes.claude-opus]
# base = "claude"         # start from a preset: its patterns, hook and answers; yours add
# command = ["claude", "--dangerously-skip-permissions", "--model", "opus"]
# env = { ANTHROPIC_MODEL = "claude-opus-4-1" }
"""


# -- parsing ----------------------------------------------------------------------------------
def _parse_value(spec: Field[Any], value: Any, where: str) -> Any:
    kind = spec.metadata.get("kind") or _kind_of(spec)
    if kind == "duration":
        if isinstance(value, bool):
            raise GtError(f"{where} must be a duration, not {value!r}")
        if isinstance(value, int | float):
            return float(value)
        try:
            return parse_duration(str(value))
        except ValueError:
            raise GtError(
                f"{where} = {value!r} is not a duration",
                hint='write seconds (900) or text like "15m", "1h"',
            ) from None
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise GtError(f"{where} must be a whole number, not {value!r}")
        return value
    if kind == "float":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise GtError(f"{where} must be a number, not {value!r}")
        return float(value)
    if kind == "bool":
        if not isinstance(value, bool):
            raise GtError(f"{where} must be true or false, not {value!r}")
        return value
    if kind == "str":
        if not isinstance(value, str):
            raise GtError(f"{where} must be text, not {value!r}")
        return value
    if kind == "strategy":
        if value not in ("merge", "pr"):
            raise GtError(f'{where} = {value!r} is not "merge" or "pr"')
        return str(value)
    if kind == "env_names":
        from gastown_tui.town.validate import env_names

        return tuple(env_names(value, where))
    if kind == "names":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise GtError(f"{where} must be a list of text")
        return tuple(value)
    if kind == "env":
        from gastown_tui.town.validate import env_table

        return env_table(value, where)
    if kind == "prices":
        return _prices(value, where)
    raise AssertionError(f"no parser for {spec.name} ({kind})")


def _kind_of(spec: Field[Any]) -> str:
    default = spec.default
    if isinstance(default, bool):
        return "bool"
    if isinstance(default, int):
        return "int"
    if isinstance(default, float):
        return "float"
    return "str"


def _prices(value: Any, where: str) -> dict[str, tuple[float, float]]:
    if not isinstance(value, dict):
        raise GtError(f"{where} must be a table of model = [input, output]")
    out: dict[str, tuple[float, float]] = {}
    for model, pair in value.items():
        try:
            if isinstance(pair, str) or isinstance(pair[0], bool):
                raise TypeError
            out[str(model)] = (float(pair[0]), float(pair[1]))
        except (TypeError, ValueError, IndexError, KeyError):
            raise GtError(
                f"{where.rsplit(':', 1)[0]}: [budget.prices] {model!r} must be [input, output] "
                "dollars per million tokens"
            ) from None
    return out


def parse_section(cls: type, raw: Any, name: str, where: Where) -> Any:
    """One section's table as its dataclass: missing keys take their defaults, unknown keys
    are left alone (a newer town.toml read by an older `gt`)."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise GtError(f"{where(name)} must be a table")
    values = {
        spec.name: _parse_value(spec, raw[spec.name], where(f"{name}.{spec.name}"))
        for spec in fields(cls)
        if spec.name in raw
    }
    return cls(**values)


@section
class TownConfig(ReadOnly):
    """The whole town.toml, parsed. `raw` is the file merged over the defaults, for the
    tables other modules parse themselves (see the module docstring)."""

    path: Path | None = None
    raw: dict[str, Any] = field(default_factory=dict)
    town: TownSection = field(default_factory=TownSection)
    thresholds: ThresholdsSection = field(default_factory=ThresholdsSection)
    supervise: SuperviseSection = field(default_factory=SuperviseSection)
    budget: BudgetSection = field(default_factory=BudgetSection)
    builtin: BuiltinSection = field(default_factory=BuiltinSection)
    refinery: RefinerySection = field(default_factory=RefinerySection)
    # [rigs.NAME]: a rig's own [refinery] keys over the town's.
    rigs: dict[str, RefinerySection] = field(default_factory=dict)
    dogs: DogsSection = field(default_factory=DogsSection)
    store: StoreSection = field(default_factory=StoreSection)
    ui: UiSection = field(default_factory=UiSection)
    names: NamesSection = field(default_factory=NamesSection)
    demo: DemoSection = field(default_factory=DemoSection)
    keymap: dict[str, str] = field(default_factory=dict)
    notify: NotifyConfig = field(default_factory=NotifyConfig)

    @classmethod
    def remember(cls, path: Path) -> None:
        """Parse `path` now and keep it: a later load of the very same text in this process,
        or in one forked from it, takes it instead of parsing again (the town's command
        server does this for the calls it forks, cmdserver.py; ~3-5 ms of such a call)."""
        try:
            config = cls.load(path)
            text = path.read_text(encoding="utf-8")
        except (GtError, OSError, UnicodeDecodeError):
            _REMEMBERED.pop(str(path), None)
            return
        _REMEMBERED[str(path)] = (text, config)

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
        kept = _REMEMBERED.get(str(path))
        if kept is not None and kept[0] == text:
            return kept[1]
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise GtError(f"{path} is not valid TOML: {exc}", hint="fix the file") from None
        return cls.from_data(data, path)

    @classmethod
    def from_data(cls, data: dict[str, Any], path: Path | None = None) -> TownConfig:
        """Parse a town.toml's tables; GtError names the file and the key of a bad value."""

        def where(key: str) -> str:
            return f"{path or 'town.toml'}: {key}"

        sections = {
            name: parse_section(kind, data.get(name), name, where) for name, kind, _, _ in SECTIONS
        }
        rigs_raw = data.get("rigs") or {}
        if not isinstance(rigs_raw, dict):
            raise GtError(f"{where('rigs')} must be tables: [rigs.NAME]")
        base_refinery = data.get("refinery") if isinstance(data.get("refinery"), dict) else {}
        rigs = {}
        for rig, table in rigs_raw.items():
            if not isinstance(table, dict):
                raise GtError(f"{where('rigs.' + str(rig))} must be a table")
            merged = {**(base_refinery or {}), **table}
            rigs[str(rig)] = parse_section(RefinerySection, merged, f"rigs.{rig}", where)
        keymap = data.get("keymap", {})
        if not isinstance(keymap, dict):
            raise GtError(f'{where("keymap")} must be a table of action = "key"')
        return cls(
            path=path,
            raw=_merge(_raw_defaults(), data),
            rigs=rigs,
            keymap={str(k): str(v) for k, v in keymap.items()},
            notify=parse_notify(data.get("notify"), where),
            **sections,
        )

    # -- for a rig ------------------------------------------------------------------------
    def refinery_for(self, rig: str) -> RefinerySection:
        """[refinery] with the rig's [rigs.NAME] keys over it."""
        return self.rigs.get(rig, self.refinery)

    # -- shorthands -----------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.town.name

    @property
    def default_runtime(self) -> str:
        return self.town.default_runtime

    def town_env(self) -> dict[str, str]:
        """[town] env: variables set in every agent window at its creation."""
        return dict(self.town.env)

    def pass_env(self) -> tuple[str, ...]:
        """[town] pass_env: names copied into every window from the environment of the `gt`
        that starts it (added to the built-in list in dispatch/agents.py)."""
        return self.town.pass_env

    @property
    def runtimes(self) -> dict[str, dict[str, Any]]:
        """[runtimes.NAME] tables, parsed by runtimes/presets.py."""
        return dict(self.raw.get("runtimes") or {})

    @property
    def theme(self) -> str:
        return self.ui.theme

    @property
    def layout(self) -> str:
        return self.ui.layout

    @property
    def extra_names(self) -> list[str]:
        return list(self.names.extra)

    # -- by dotted key (the raw file, for older callers and tests) -------------------------
    def get(self, dotted: str) -> Any:
        node: Any = self.raw
        for part in dotted.split("."):
            if not isinstance(node, dict) or part not in node:
                raise KeyError(dotted)
            node = node[part]
        return node

    def seconds(self, dotted: str) -> float:
        """A duration of a typed section, by `section.key` (e.g. "supervise.lease_stale")."""
        value = self._typed(dotted)
        if not isinstance(value, float):
            raise KeyError(dotted)
        return value

    def integer(self, dotted: str) -> int:
        value = self._typed(dotted)
        if isinstance(value, bool) or not isinstance(value, int):
            raise KeyError(dotted)
        return value

    def _typed(self, dotted: str) -> Any:
        section, _, key = dotted.partition(".")
        if section not in {name for name, _, _, _ in SECTIONS} or not hasattr(
            getattr(self, section), key
        ):
            raise KeyError(dotted)
        return getattr(getattr(self, section), key)


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _raw_defaults() -> dict[str, Any]:
    """The defaults as town.toml would write them (for `raw`)."""
    out: dict[str, Any] = {}
    for name, cls, _, _ in SECTIONS:
        table: dict[str, Any] = {}
        for spec in fields(cls):
            table[spec.name] = _toml_default(spec)
        out[name] = table
    out.update({"rigs": {}, "keymap": {}, "runtimes": {}})
    return out


def _toml_default(spec: Field[Any]) -> Any:
    if "text" in spec.metadata:
        return spec.metadata["text"]
    default = spec.default_factory() if spec.default is MISSING else spec.default  # type: ignore[misc]
    return list(default) if isinstance(default, tuple) else default


# -- the template -----------------------------------------------------------------------------
def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value) if not isinstance(value, int) or value < 100_000 else f"{value:_}"
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise AssertionError(f"no TOML for {value!r}")


def _comment(text: str) -> list[str]:
    return [f"# {line}" for line in text.splitlines()]


def template_text(overrides: Mapping[str, Mapping[str, Any]] | None = None) -> str:
    """town.toml with every section's defaults (and `overrides`), generated from the
    dataclasses above."""
    overrides = overrides or {}
    out = ["# Gas Town town configuration. Every key is optional; the defaults are shown.", ""]
    for name, cls, how, about in SECTIONS:
        lines = _comment(about)
        lines.append(f"[{name}]")
        for spec in fields(cls):
            doc = spec.metadata.get("doc") or ""
            example = spec.metadata.get("example") or ""
            lines += _comment(doc)
            if example:
                lines += _comment(example)
                continue
            value = overrides.get(name, {}).get(spec.name, _toml_default(spec))
            line = f"{spec.name} = {_toml_value(value)}"
            note = spec.metadata.get("note") or ""
            if note:
                line = f"{line:<19} # {note}" if len(line) < 19 else f"{line}  # {note}"
            lines.append(line)
        if how == "commented":
            lines = [line if line.startswith("#") else f"# {line}" for line in lines]
        out += [*lines, ""]
    out.append(TEMPLATE_EXAMPLES)
    return "\n".join(out)


def toml_string(value: str) -> str:
    """A TOML basic string. JSON's escapes (quote, backslash, n, uXXXX) are all valid TOML."""
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
    return template_text({"town": {"name": name, "default_runtime": runtime}})


# TownConfig.remember: path -> (the text, its config). Empty except in the command server.
_REMEMBERED: dict[str, tuple[str, TownConfig]] = {}
