"""Agent runtimes: how to start an agent in a window, give it its first prompt, and read its
pane (ready? waiting for a human? busy?). DESIGN.md section 7.

Presets are merged with the user's `[runtimes.<name>]` tables of town.toml (a user table with
a preset's name changes only the keys it sets). Pane patterns are Python regular expressions
searched in the pane's last lines.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import orjson

from gastown_tui.town.errors import GtError

if TYPE_CHECKING:
    from gastown_tui.town.town import Town

PromptMode = Literal["arg", "nudge", "none"]
PROMPT_MODES = ("arg", "nudge", "none")

# Claude Code (and most TUI agents) ask for permission with numbered choices.
CLAUDE_WAITING = [
    r"Do you want to proceed\?",
    r"Do you want to (make this edit|create|run|allow)",
    r"❯\s*1\.\s*Yes",
    r"\bAllow\b.*\?",
    r"Do you trust the files in this folder\?",
]
INSTALL_HINTS = {
    "claude": "npm install -g @anthropic-ai/claude-code",
    "codex": "npm install -g @openai/codex",
    "gemini": "npm install -g @google/gemini-cli",
    "aider": "pipx install aider-chat",
}


@dataclass(frozen=True)
class Runtime:
    name: str
    command: list[str]
    prompt: PromptMode = "arg"
    ready: str | None = None  # pane text that shows the agent takes input (prompt="nudge")
    waiting: list[str] = field(default_factory=list)  # pane text: it waits for a human
    busy: list[str] = field(default_factory=list)  # pane text: it is in the middle of a turn
    exe: str = ""  # the pane's current command while this runtime runs
    # Started again in the same worktree (a supervisor restart), it picks its work up again:
    # from the beacon and `gt prime`, or its own session store. False for a person's shell.
    resumable: bool = False
    prompt_flag: str | None = None  # prompt="arg": pass the beacon after this flag
    settings_hook: bool = False  # install the Claude Code SessionStart hook (gt prime)
    ready_timeout: float = 60.0
    demo: bool = False
    description: str = ""
    # Environment variables of which at least one must be set (e.g. an API key).
    requires_env: tuple[str, ...] = ()
    # It reads typed text as a prompt, so the town may type into it on its own (mail notices,
    # stall nudges, queued nudges; dispatch/nudge.py). False for a person's shell, where typed
    # text is run as a command, and for a user's runtime unless town.toml says so.
    takes_prompts: bool = False

    def argv(self, beacon: str) -> list[str]:
        """The window's command, with the beacon when it is delivered as an argument."""
        if self.prompt != "arg" or not beacon:
            return list(self.command)
        if self.prompt_flag:
            return [*self.command, self.prompt_flag, beacon]
        return [*self.command, beacon]

    @property
    def binary(self) -> str:
        return self.command[0]

    def installed(self) -> bool:
        return shutil.which(self.binary) is not None

    def require_installed(self) -> None:
        if self.requires_env and not any(os.environ.get(k) for k in self.requires_env):
            raise GtError(
                f"runtime {self.name!r} needs {' or '.join(self.requires_env)} in the environment",
                hint="export it and retry, or sling with --agent demo",
            )
        if self.installed():
            return
        hint = INSTALL_HINTS.get(self.name) or (
            f"install {self.binary!r} or fix [runtimes.{self.name}] command in town.toml"
        )
        raise GtError(
            f"runtime {self.name!r} needs the `{self.binary}` command, which is not installed",
            hint=f"{hint}; or sling with --agent demo",
        )

    def matches(self, patterns: list[str], text: str) -> bool:
        return any(_compiled(p).search(text) for p in patterns)

    def is_waiting(self, pane_text: str) -> bool:
        return self.matches(self.waiting, pane_text)

    def is_busy(self, pane_text: str) -> bool:
        return self.matches(self.busy, pane_text)

    def is_ready(self, pane_text: str) -> bool:
        return self.ready is None or bool(_compiled(self.ready).search(pane_text))


_PATTERNS: dict[str, re.Pattern[str]] = {}


def _compiled(pattern: str) -> re.Pattern[str]:
    compiled = _PATTERNS.get(pattern)
    if compiled is None:
        compiled = re.compile(pattern, re.MULTILINE)
        _PATTERNS[pattern] = compiled
    return compiled


def _shell() -> str:
    return os.environ.get("SHELL") or "/bin/sh"


def builtin_presets() -> dict[str, Runtime]:
    python = sys.executable
    return {
        "claude": Runtime(
            name="claude",
            command=["claude", "--dangerously-skip-permissions"],
            prompt="arg",
            waiting=list(CLAUDE_WAITING),
            busy=[r"esc to interrupt"],
            exe="claude",
            resumable=True,
            settings_hook=True,
            description="Claude Code CLI",
            takes_prompts=True,
        ),
        "codex": Runtime(
            name="codex",
            command=["codex", "--dangerously-bypass-approvals-and-sandbox"],
            prompt="arg",
            waiting=[r"Allow command\?", r"Approve", r"\by/n\b"],
            busy=[r"esc to interrupt", r"Working"],
            exe="codex",
            resumable=True,
            description="OpenAI Codex CLI",
            takes_prompts=True,
        ),
        "gemini": Runtime(
            name="gemini",
            command=["gemini", "--yolo"],
            prompt="arg",
            prompt_flag="--prompt-interactive",
            waiting=[r"Allow execution", r"Apply this change\?", r"●\s*1\.\s*Yes"],
            busy=[r"esc to cancel"],
            exe="gemini",
            resumable=True,
            description="Google Gemini CLI",
            takes_prompts=True,
        ),
        "aider": Runtime(
            name="aider",
            command=["aider", "--yes-always", "--no-pretty"],
            prompt="nudge",
            ready=r"^\S*> ?$",
            waiting=[r"\(Y\)es/\(N\)o"],
            exe="aider",
            resumable=True,
            description="aider",
            takes_prompts=True,
        ),
        "shell": Runtime(
            name="shell",
            # A person's shell: show the beacon and the hook, then hand over.
            command=[
                "/bin/sh",
                "-c",
                'printf "%s\\n\\n" "$GT_BEACON"; gt prime; exec "${SHELL:-/bin/sh}" -i',
            ],
            prompt="none",
            exe=Path(_shell()).name,
            description="a plain shell, for a person",
        ),
        "builtin": Runtime(
            name="builtin",
            command=[python, "-m", "gastown_tui.runtimes.builtin_agent"],
            prompt="arg",
            busy=[r"^--- turn \d+: asking"],
            exe=Path(python).name,
            resumable=True,  # it primes from its hook on every start
            requires_env=("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN"),
            description="built-in Claude agent (anthropic SDK; tokens count against [budget])",
            takes_prompts=True,
        ),
        "demo": Runtime(
            name="demo",
            command=[python, "-m", "gastown_tui.runtimes.demo_agent"],
            prompt="arg",
            waiting=[r"Do you want to proceed\?", r"❯\s*1\.\s*Yes"],
            busy=[],
            exe=Path(python).name,
            resumable=True,  # it reads its hook afresh and redoes its (idempotent) work
            demo=True,
            description="DEMO AGENT: offline, scripted, no API key",
            takes_prompts=True,
        ),
    }


def _string_list(value: Any, where: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise GtError(f"{where} must be a string or a list of strings")
    return list(value)


def _from_table(name: str, table: dict[str, Any], base: Runtime | None) -> Runtime:
    where = f"town.toml [runtimes.{name}]"
    if not isinstance(table, dict):
        raise GtError(f"{where} must be a table")
    command: list[str]
    if "command" in table:
        raw = table["command"]
        if isinstance(raw, str):
            import shlex

            command = shlex.split(raw)
        else:
            command = _string_list(raw, f"{where} command")
        if not command:
            raise GtError(f"{where} command is empty")
    elif base is not None:
        command = list(base.command)
    else:
        raise GtError(f"{where} needs a command", hint='e.g. command = ["mybot", "--yes"]')
    prompt = table.get("prompt", base.prompt if base else "arg")
    if prompt not in PROMPT_MODES:
        raise GtError(f"{where} prompt = {prompt!r}", hint="one of arg, nudge, none")
    patterns: dict[str, list[str]] = {}
    for key in ("waiting", "busy"):
        if key in table:
            patterns[key] = _string_list(table[key], f"{where} {key}")
        else:
            patterns[key] = list(getattr(base, key)) if base else []
    ready = table.get("ready", base.ready if base else None)
    for pattern in [*patterns["waiting"], *patterns["busy"], *([ready] if ready else [])]:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise GtError(f"{where}: {pattern!r} is not a valid pattern ({exc})") from None
    fields: dict[str, Any] = {
        "name": name,
        "command": command,
        "prompt": prompt,
        "ready": ready or None,
        "waiting": patterns["waiting"],
        "busy": patterns["busy"],
        "exe": str(table.get("exe") or (base.exe if base and "command" not in table else "")),
        "resumable": bool(table.get("resumable", base.resumable if base else False)),
        "prompt_flag": table.get("prompt_flag", base.prompt_flag if base else None),
        # prompt = "nudge" says its first prompt is typed in: it takes prompts.
        "takes_prompts": table.get(
            "takes_prompts", base.takes_prompts if base else prompt == "nudge"
        ),
    }
    if not isinstance(fields["takes_prompts"], bool):
        raise GtError(f"{where} takes_prompts must be true or false")
    if "ready_timeout" in table:
        fields["ready_timeout"] = float(table["ready_timeout"])
    if not fields["exe"]:
        fields["exe"] = Path(command[0]).name
    if base is not None:
        return replace(base, **fields)
    return Runtime(**fields)


def all_runtimes(town: Town) -> dict[str, Runtime]:
    """Built-in presets merged with the town's `[runtimes.*]` tables."""
    runtimes = builtin_presets()
    for name, table in town.config.runtimes.items():
        runtimes[name] = _from_table(name, table, runtimes.get(name))
    return runtimes


def resolve_runtime(town: Town, name: str | None = None) -> Runtime:
    """The runtime called `name` (default: town.toml [town].default_runtime)."""
    wanted = (name or town.config.default_runtime).strip()
    runtimes = all_runtimes(town)
    runtime = runtimes.get(wanted)
    if runtime is None:
        raise GtError(
            f"unknown runtime {wanted!r}",
            hint="known: "
            + ", ".join(sorted(runtimes))
            + "; add one as [runtimes.NAME] in town.toml",
        )
    return runtime


def runtime_for_pane(
    town: Town, recorded: str | None, current_command: str | None
) -> Runtime | None:
    """The runtime to read a pane with: the polecat's recorded one, else the one whose
    executable is the pane's current command."""
    runtimes = all_runtimes(town)
    if recorded and recorded in runtimes:
        return runtimes[recorded]
    if current_command:
        base = Path(current_command).name
        for runtime in runtimes.values():
            if runtime.exe and runtime.exe == base:
                return runtime
    return None


# -- Claude Code settings -----------------------------------------------------------------------
CLAUDE_SETTINGS = Path(".claude") / "settings.local.json"
PRIME_COMMAND = "gt prime"


def install_claude_hook(worktree: Path) -> Path:
    """A SessionStart hook that runs `gt prime` (every new or resumed session reads its hook),
    merged into the worktree's `.claude/settings.local.json`, which git is told to ignore."""
    from gastown_tui.town.store import atomic_write_bytes
    from gastown_tui.town.work import ensure_excluded

    path = worktree / CLAUDE_SETTINGS
    settings: dict[str, Any] = {}
    if path.exists():
        try:
            loaded = orjson.loads(path.read_bytes())
            if isinstance(loaded, dict):
                settings = loaded
        except orjson.JSONDecodeError:
            raise GtError(
                f"{path} is not valid JSON", hint="fix or remove it; the town adds a hook there"
            ) from None
    hooks = settings.setdefault("hooks", {})
    entries = hooks.setdefault("SessionStart", [])
    present = any(
        h.get("command") == PRIME_COMMAND
        for entry in entries
        if isinstance(entry, dict)
        for h in entry.get("hooks", [])
        if isinstance(h, dict)
    )
    if not present:
        entries.append({"hooks": [{"type": "command", "command": PRIME_COMMAND}]})
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, orjson.dumps(settings, option=orjson.OPT_INDENT_2))
    ensure_excluded(worktree)
    return path
