"""Agent runtimes: how to start an agent in a window, give it its first prompt, and read its
pane (ready? waiting for a human? busy?). Screens are read by runtimes/screens.py.

Presets are merged with the user's `[runtimes.<name>]` tables of town.toml (a user table with
a preset's name changes only the keys it sets). Pane patterns are Python regular expressions
searched in the pane's last lines.

A runtime is the extension point for a new agent program: it says how to start it (command,
prompt), read its screen (ready, waiting, busy, started), what to tell a person who lacks it
(install_hint), and what its worktree needs before it starts (`prepare_worktree`: Claude Code's
settings hooks, CLAUDE_HOOKS). Sling (dispatch/sling/start.py) knows none of these by name.
Agent programs of our own (runtimes/demo_agent.py, runtimes/builtin_agent.py) share
runtimes/agent_kit.py.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from gastown_tui.runtimes.screens import ENTER, Choice, Prompt, read_prompt, search
from gastown_tui.town.errors import GtError
from gastown_tui.town.validate import env_names, env_table

if TYPE_CHECKING:
    from gastown_tui.town.town import Town

PromptMode = Literal["arg", "nudge", "none"]
PROMPT_MODES = ("arg", "nudge", "none")
# How a choice at a prompt is picked (`gt answer`): "digit" types its number (Claude Code and
# Gemini CLI pick at once: no Enter, which would answer the *next* prompt too), "digit-enter"
# types it and Enter (line readers: the demo agent, aider's y/n), "arrows" moves the cursor
# from the selected choice and presses Enter.
AnswerMode = Literal["digit", "digit-enter", "arrows"]
ANSWER_MODES = ("digit", "digit-enter", "arrows")

# Claude Code's screens that wait for a person (wording seen in 2.1.x; REAL-CLIS.md in shared).
CLAUDE_WAITING = [
    r"Do you want to proceed\?",
    r"Do you want to (make this edit|create|run|allow)",
    r"Do you want to use this API key\?",
    r"Is this a project you created or one you trust\?",
    r"Yes, I trust this folder",
    r"Do you trust the files in this folder\?",
    r"Claude Code running in Bypass Permissions mode",
    r"Choose the text style that looks best",
    r"Press Enter to continue",
    r"❯\s*1\.\s*Yes",
    r"\bAllow\b.*\?",
]
# Mid-turn footer; below about 64 columns Claude Code cuts it to "esc to …".
CLAUDE_BUSY = [r"esc to (?:interrupt|…)", r"\(\d+s · [↓↑]"]
# Its own screen is drawn: the idle footer, a turn under way, or a start-up question.
CLAUDE_STARTED = [r"\? for shortcuts", r"bypass permissions on", r"for agents", *CLAUDE_BUSY]
CODEX_WAITING = [
    r"Trust this folder\?",
    r"\d\.\s*Trust and continue",
    r"Allow command\?",
    r"Would you like to run the following command\?",
    r"Would you like to make the following edits\?",
    r"Yes, proceed",
]
GEMINI_WAITING = [
    r"Do you trust this folder\?",
    r"Do you trust the files in this folder\?",
    r"Allow execution",
    r"Apply this change\?",
    r"Do you want to proceed\?",
    r"●\s*1\.\s*(Yes|Trust)",
]


@dataclass(frozen=True)
class Runtime:
    name: str
    command: list[str]
    prompt: PromptMode = "arg"
    ready: str | None = None  # pane text that shows the agent takes input (prompt="nudge")
    waiting: list[str] = field(default_factory=list)  # pane text: it waits for a human
    busy: list[str] = field(default_factory=list)  # pane text: it is in the middle of a turn
    # Pane text that shows the program is up (its own screen is drawn). A sling returns once
    # it shows (or a waiting screen does); without any, once the process lived `start_grace`.
    started: list[str] = field(default_factory=list)
    start_grace: float = 2.0
    exe: str = ""  # the pane's current command while this runtime runs
    # Started again in the same worktree (a supervisor restart), it picks its work up again:
    # from the beacon and `gt prime`, or its own session store. False for a person's shell.
    resumable: bool = False
    # Added to the command on a restart in the same worktree, to continue the program's own
    # conversation (`claude --continue`) when it has one there (see has_conversation).
    resume_args: tuple[str, ...] = ()
    prompt_flag: str | None = None  # prompt="arg": pass the beacon after this flag
    # Its worktree gets Claude Code's settings hooks (CLAUDE_HOOKS: gt prime at SessionStart).
    settings_hook: bool = False
    # Told to a person when `command` is not installed ("npm install -g ...").
    install_hint: str = ""
    ready_timeout: float = 60.0
    demo: bool = False
    description: str = ""
    # Environment variables of which at least one must be set (e.g. an API key).
    requires_env: tuple[str, ...] = ()
    # It reads typed text as a prompt, so the town may type into it on its own (mail notices,
    # stall nudges, queued nudges; dispatch/nudge.py). False for a person's shell, where typed
    # text is run as a command, and for a user's runtime unless town.toml says so.
    takes_prompts: bool = False
    # Variables set in every window of this runtime, and names copied from the environment
    # of the `gt` that starts the window (town.toml [runtimes.NAME] env / pass_env).
    env: dict[str, str] = field(default_factory=dict)
    pass_env: tuple[str, ...] = ()
    answer: AnswerMode = "digit"
    # Claude Code refuses --dangerously-skip-permissions as root unless IS_SANDBOX=1.
    refuses_root: bool = False
    base: str | None = None
    # Least seconds from typing a nudge to pressing Enter (tmux/nudge.py waits for the echo
    # and a still screen in any case). For programs that take an Enter soon after typed keys
    # as part of a paste: Gemini CLI turns an Enter within 30 ms of the last key into a
    # newline (FAST_RETURN_TIMEOUT in its bundle); Codex buffers fast input as a paste too.
    enter_delay: float = 0.0

    def argv(self, beacon: str, resume: bool = False) -> list[str]:
        """The window's command, with the beacon when it is delivered as an argument."""
        command = [*self.command, *(self.resume_args if resume else ())]
        if self.prompt != "arg" or not beacon:
            return command
        if self.prompt_flag:
            return [*command, self.prompt_flag, beacon]
        return [*command, beacon]

    @property
    def binary(self) -> str:
        return self.command[0]

    def installed(self) -> bool:
        return shutil.which(self.binary) is not None

    def require_installed(self, window_env: dict[str, str] | None = None) -> None:
        """Refuse, before anything is hooked, a runtime that cannot start here: a missing
        program or API key, or Claude Code's refusal to run as root."""
        # What the window will really get (a variable of the person's shell that is not
        # passed on does not count), or, without it, this process's environment.
        environ = dict(os.environ) if window_env is None else window_env
        if self.requires_env and not any(environ.get(k) for k in self.requires_env):
            raise GtError(
                f"runtime {self.name!r} needs {' or '.join(self.requires_env)} in the environment",
                hint="export it and retry, or sling with --agent demo",
            )
        if not self.installed():
            hint = self.install_hint or (
                f"install {self.binary!r} or fix [runtimes.{self.name}] command in town.toml"
            )
            raise GtError(
                f"runtime {self.name!r} needs the `{self.binary}` command, which is not installed",
                hint=f"{hint}; or sling with --agent demo",
            )
        if self.refuses_root and os.geteuid() == 0 and environ.get("IS_SANDBOX") != "1":
            raise GtError(
                f"runtime {self.name!r} cannot run as root: Claude Code refuses "
                "--dangerously-skip-permissions with root privileges",
                hint="run the town as a non-root user, or, if this machine really is a "
                'sandbox, set IS_SANDBOX = "1" under [town.env] in town.toml',
            )

    def prepare_worktree(self, worktree: Path, *, git: bool = True) -> None:
        """Make `worktree` ready for this program before its window starts (called by sling
        for every start, restarts too; each step is idempotent). `git` is False for a
        plain-directory rig's work folder."""
        if self.settings_hook and git:
            install_claude_hooks(worktree)

    def matches(self, patterns: list[str], text: str) -> bool:
        return bool(text) and any(search(_compiled(p), text) for p in patterns)

    def is_waiting(self, pane_text: str) -> bool:
        return self.matches(self.waiting, pane_text)

    def waiting_prompt(self, pane_text: str) -> Prompt | None:
        """The question the pane waits at, with its choices (None if it does not wait)."""
        return read_prompt(pane_text, [_compiled(p) for p in self.waiting])

    def is_busy(self, pane_text: str) -> bool:
        return self.matches(self.busy, pane_text)

    def is_ready(self, pane_text: str) -> bool:
        return self.ready is None or bool(_compiled(self.ready).search(pane_text))

    def can_resume(self, env: dict[str, str], worktree: Path) -> bool:
        """Whether `resume_args` can continue a conversation in `worktree`: Claude Code's
        `--continue` exits with an error where it has none; the others start fresh."""
        if not self.resume_args:
            return False
        if (self.base or self.name) == "claude":
            return claude_has_conversation(env.get("HOME") or os.environ.get("HOME"), str(worktree))
        return True

    def shows_started(self, pane_text: str) -> bool:
        return self.matches([*self.started, *self.waiting, *self.busy], pane_text)

    def answer_keys(self, prompt: Prompt, choice: Choice) -> list[tuple[str, bool]]:
        """The keys that pick `choice` at `prompt`, as (keys, literal) pairs for send-keys."""
        if choice.key == ENTER:
            return [("Enter", False)]
        if self.answer == "arrows" and choice in prompt.choices:
            steps = prompt.choices.index(choice) - prompt.selected_index
            key = "Down" if steps > 0 else "Up"
            return [*([(key, False)] * abs(steps)), ("Enter", False)]
        if self.answer == "digit-enter" or choice.key.isalpha():
            return [(choice.key, True), ("Enter", False)]
        return [(choice.key, True)]


_PATTERNS: dict[str, re.Pattern[str]] = {}


def _compiled(pattern: str) -> re.Pattern[str]:
    compiled = _PATTERNS.get(pattern)
    if compiled is None:
        compiled = re.compile(pattern, re.MULTILINE)
        _PATTERNS[pattern] = compiled
    return compiled


def claude_has_conversation(home: str | None, worktree: str) -> bool:
    """Claude Code keeps a folder's conversations in ~/.claude/projects/<path with / and . as
    ->/*.jsonl; `--continue` with none there exits with an error, so resume only with one."""
    folder = Path(home or os.path.expanduser("~")) / ".claude" / "projects"
    key = re.sub(r"[^A-Za-z0-9]", "-", str(worktree))
    try:
        return any((folder / key).glob("*.jsonl"))
    except OSError:
        return False


def _shell() -> str:
    return os.environ.get("SHELL") or "/bin/sh"


def builtin_presets() -> dict[str, Runtime]:
    python = sys.executable
    agent_banner = [r"^=== .+ ===", r"^beacon: "]  # start_agent in runtimes/agent_kit.py
    return {
        "claude": Runtime(
            name="claude",
            command=["claude", "--dangerously-skip-permissions"],
            prompt="arg",
            waiting=list(CLAUDE_WAITING),
            busy=list(CLAUDE_BUSY),
            started=list(CLAUDE_STARTED),
            exe="claude",
            resumable=True,
            resume_args=("--continue",),
            settings_hook=True,
            install_hint="npm install -g @anthropic-ai/claude-code",
            refuses_root=True,
            answer="digit",
            pass_env=("ANTHROPIC_MODEL", "ANTHROPIC_SMALL_FAST_MODEL", "CLAUDE_CONFIG_DIR"),
            description="Claude Code CLI",
            takes_prompts=True,
        ),
        "codex": Runtime(
            name="codex",
            command=["codex", "--dangerously-bypass-approvals-and-sandbox"],
            prompt="arg",
            waiting=list(CODEX_WAITING),
            busy=[r"esc to interrupt", r"\bWorking \(", r"esc to inter…"],
            started=[r"Ask Codex", r"for agents", r"for shortcuts", r"OpenAI Codex"],
            # `codex` is a node script that starts a native binary: tmux shows `node`.
            exe="node",
            resumable=True,
            # Continues the folder's latest session (starts fresh where there is none).
            resume_args=("resume", "--last"),
            install_hint="npm install -g @openai/codex",
            answer="arrows",
            pass_env=("OPENAI_API_KEY", "OPENAI_BASE_URL", "CODEX_HOME"),
            description="OpenAI Codex CLI",
            takes_prompts=True,
            enter_delay=0.05,
        ),
        "gemini": Runtime(
            name="gemini",
            command=["gemini", "--yolo"],
            prompt="arg",
            prompt_flag="--prompt-interactive",
            waiting=list(GEMINI_WAITING),
            busy=[r"esc to cancel"],
            started=[r"Type your message", r"YOLO mode", r"gemini-\d"],
            # `gemini` is a node script (and relaunches itself as a child node): tmux shows
            # `node`. Never set GEMINI_CLI_NO_RELAUNCH: trusting a folder then exits 199.
            exe="node",
            resumable=True,
            resume_args=("--resume", "latest"),  # the project's latest session, or a new one
            install_hint="npm install -g @google/gemini-cli",
            answer="digit",
            pass_env=("GEMINI_API_KEY", "GOOGLE_API_KEY", "GOOGLE_GEMINI_BASE_URL"),
            description="Google Gemini CLI",
            takes_prompts=True,
            enter_delay=0.05,
        ),
        "aider": Runtime(
            name="aider",
            command=["aider", "--yes-always", "--no-pretty"],
            prompt="nudge",
            ready=r"^\S*> ?$",
            waiting=[r"\(Y\)es/\(N\)o"],
            exe="aider",
            resumable=True,
            install_hint="pipx install aider-chat",
            answer="digit-enter",
            pass_env=("OPENAI_API_KEY", "OPENAI_API_BASE", "AIDER_MODEL"),
            description="aider",
            takes_prompts=True,
        ),
        "opencode": Runtime(
            name="opencode",
            # --auto approves what its permission rules do not deny (no "Permission
            # required" question for each command); --prompt submits the beacon at start.
            command=["opencode", "--auto"],
            prompt="arg",
            prompt_flag="--prompt",
            # Its question (seen in 1.18): "△ Permission required" / "# Shell command" /
            # "Allow once   Allow always   Reject", choices side by side, without numbers.
            waiting=[r"Permission required", r"Allow once\s+Allow always\s+Reject"],
            busy=[r"esc interrupt"],
            started=[r"ctrl\+p commands", r"tab agents"],
            exe="opencode",  # a native binary (the npm package's bin is a symlink to it)
            install_hint="npm install -g opencode-ai",
            # Restarted, it starts a new session from the beacon and `gt prime`: with
            # `--continue` (the folder's own latest session) 1.18 ignores `--prompt`, so the
            # beacon would never be sent.
            resumable=True,
            answer="arrows",
            pass_env=(
                "OPENCODE_CONFIG",
                "OPENCODE_CONFIG_DIR",
                "OPENCODE_CONFIG_CONTENT",
                "OPENCODE_DISABLE_AUTOUPDATE",
            ),
            description="opencode",
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
            started=[r"\[GAS TOWN\]"],
            exe=Path(_shell()).name,
            description="a plain shell, for a person",
        ),
        "builtin": Runtime(
            name="builtin",
            command=[python, "-m", "gastown_tui.runtimes.builtin_agent"],
            prompt="arg",
            busy=[r"^--- turn \d+: asking"],
            started=agent_banner,
            exe=Path(python).name,
            resumable=True,  # it primes from its hook on every start
            requires_env=("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN"),
            pass_env=("ANTHROPIC_MODEL",),
            description="built-in Claude agent (anthropic SDK; tokens count against [budget])",
            takes_prompts=True,
        ),
        "demo": Runtime(
            name="demo",
            command=[python, "-m", "gastown_tui.runtimes.demo_agent"],
            prompt="arg",
            waiting=[r"Do you want to proceed\?", r"❯\s*1\.\s*Yes"],
            busy=[],
            started=agent_banner,
            exe=Path(python).name,
            resumable=True,  # it reads its hook afresh and redoes its (idempotent) work
            answer="digit-enter",  # it reads a line
            demo=True,
            description="DEMO AGENT: offline, scripted, no API key",
            takes_prompts=True,
        ),
    }


RUNTIME_KEYS = {
    "base",
    "takes_prompts",
    "command",
    "prompt",
    "prompt_flag",
    "ready",
    "ready_timeout",
    "waiting",
    "busy",
    "started",
    "start_grace",
    "enter_delay",
    "exe",
    "resumable",
    "resume_args",
    "settings_hook",
    "install_hint",
    "env",
    "pass_env",
    "answer",
    "description",
}


def _string_list(value: Any, where: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise GtError(f"{where} must be a string or a list of strings")
    return list(value)


def _float(table: dict[str, Any], key: str, where: str) -> float:
    value = table[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise GtError(f"{where} {key} must be a number of seconds, not {value!r}")
    return float(value)


def _from_table(
    name: str, table: dict[str, Any], same_name: Runtime | None, presets: dict[str, Runtime]
) -> Runtime:
    """A runtime from its town.toml table. `base = "claude"` starts from that preset; a table
    named like a preset starts from it too. Patterns add to the base's; other keys replace."""
    where = f"town.toml [runtimes.{name}]"
    if not isinstance(table, dict):
        raise GtError(f"{where} must be a table")
    unknown = sorted(set(table) - RUNTIME_KEYS)
    if unknown:
        raise GtError(
            f"{where}: unknown key {unknown[0]!r}", hint="known: " + ", ".join(sorted(RUNTIME_KEYS))
        )
    base = same_name
    if "base" in table:
        wanted = table["base"]
        if not isinstance(wanted, str) or wanted not in presets or wanted == name:
            raise GtError(
                f"{where} base = {wanted!r} is not a preset",
                hint="one of " + ", ".join(sorted(presets)),
            )
        base = presets[wanted]
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
    answer = table.get("answer", base.answer if base else "digit")
    if answer not in ANSWER_MODES:
        raise GtError(f"{where} answer = {answer!r}", hint="one of " + ", ".join(ANSWER_MODES))
    patterns: dict[str, list[str]] = {}
    for key in ("waiting", "busy", "started"):
        own = _string_list(table[key], f"{where} {key}") if key in table else []
        inherited = list(getattr(base, key)) if base else []
        patterns[key] = inherited + [p for p in own if p not in inherited]
    ready = table.get("ready", base.ready if base else None)
    if ready is not None and not isinstance(ready, str):
        raise GtError(f"{where} ready must be a string (a pattern)")
    for pattern in [*patterns["waiting"], *patterns["busy"], *patterns["started"]]:
        _check_pattern(pattern, where)
    if ready:
        _check_pattern(ready, where)
    env = dict(base.env) if base else {}
    if "env" in table:
        env.update(env_table(table["env"], f"{where} env"))
    pass_env = tuple(base.pass_env) if base else ()
    if "pass_env" in table:
        pass_env += tuple(
            n for n in env_names(table["pass_env"], f"{where} pass_env") if n not in pass_env
        )
    command_changed = "command" in table
    fields: dict[str, Any] = {
        "name": name,
        "command": command,
        "prompt": prompt,
        "ready": ready or None,
        "waiting": patterns["waiting"],
        "busy": patterns["busy"],
        "started": patterns["started"],
        "exe": str(table.get("exe") or (base.exe if base and not command_changed else "")),
        "resumable": bool(table.get("resumable", base.resumable if base else False)),
        "resume_args": tuple(
            _string_list(table["resume_args"], f"{where} resume_args")
            if "resume_args" in table
            else (base.resume_args if base else ())
        ),
        "prompt_flag": table.get("prompt_flag", base.prompt_flag if base else None),
        # prompt = "nudge" says its first prompt is typed in: it takes prompts.
        "takes_prompts": table.get(
            "takes_prompts", base.takes_prompts if base else prompt == "nudge"
        ),
        "settings_hook": bool(table.get("settings_hook", base.settings_hook if base else False)),
        "env": env,
        "pass_env": pass_env,
        "answer": answer,
        "base": base.base or base.name if base else None,
        # Root refusal belongs to Claude Code's bypass flag: kept while the command has it.
        "refuses_root": bool(base and base.refuses_root)
        and "--dangerously-skip-permissions" in command,
    }
    if not isinstance(fields["takes_prompts"], bool):
        raise GtError(f"{where} takes_prompts must be true or false")
    for key in ("ready_timeout", "start_grace", "enter_delay"):
        if key in table:
            fields[key] = _float(table, key, where)
    for key in ("description", "install_hint"):
        if key in table:
            fields[key] = str(table[key])
    if not fields["exe"]:
        fields["exe"] = Path(command[0]).name
    if base is not None:
        return replace(base, **fields)
    return Runtime(**fields)


def _check_pattern(pattern: str, where: str) -> None:
    try:
        re.compile(pattern)
    except re.error as exc:
        raise GtError(f"{where}: {pattern!r} is not a valid pattern ({exc})") from None


def all_runtimes(town: Town) -> dict[str, Runtime]:
    """Built-in presets merged with the town's `[runtimes.*]` tables."""
    presets = builtin_presets()
    runtimes = dict(presets)
    for name, table in town.config.runtimes.items():
        runtimes[name] = _from_table(name, table, presets.get(name), presets)
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
# Claude Code hook event -> the commands it runs, installed in every worktree of a runtime with
# `settings_hook` (Runtime.prepare_worktree). SessionStart: every new or resumed session reads
# its hook. Notification (a permission prompt or a question) and Stop (the end of a turn) tell
# the town's observer at once (commands/signal.py, dispatch/live.py).
SIGNAL_HOOKS: dict[str, tuple[str, ...]] = {
    "Notification": ("gt signal waiting",),
    "Stop": ("gt signal turn-ended",),
}
CLAUDE_HOOKS: dict[str, tuple[str, ...]] = {"SessionStart": (PRIME_COMMAND,), **SIGNAL_HOOKS}


def install_claude_hooks(worktree: Path, hooks: dict[str, tuple[str, ...]] | None = None) -> Path:
    """Merge `hooks` (default CLAUDE_HOOKS) into the worktree's `.claude/settings.local.json`,
    which git is told to ignore. Idempotent: a command already there is not added again, and
    the person's own settings and hooks are kept."""
    import orjson  # here: `gt nudge` imports this module, only a claude sling needs orjson

    from gastown_tui.town.storage.files import atomic_write_bytes
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
    table = settings.setdefault("hooks", {})
    changed = False
    for event, commands in (CLAUDE_HOOKS if hooks is None else hooks).items():
        entries = table.setdefault(event, [])
        present = {
            h.get("command")
            for entry in entries
            if isinstance(entry, dict)
            for h in entry.get("hooks", [])
            if isinstance(h, dict)
        }
        for command in commands:
            if command not in present:
                entries.append({"hooks": [{"type": "command", "command": command}]})
                changed = True
    if changed:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, orjson.dumps(settings, option=orjson.OPT_INDENT_2))
    ensure_excluded(worktree)
    return path


install_claude_hook = install_claude_hooks  # the name tests and older callers use
