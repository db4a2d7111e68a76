"""Capture the real programs' screens (first-run, per-folder, permission, busy, idle) at several
widths into tests/data/screens/<program>/<screen>-<width>.txt, the fixtures that
tests/test_real_screens.py classifies.

    .venv/bin/python -m tests.capture_screens [claude|codex|gemini|opencode ...] [--screen NAME]

Each screen is produced for real: the pinned program (tests/agent_clis.py) in its own tmux
server, a throwaway HOME set up so that the wanted screen is the one shown, and a scripted model
server (tests/model_servers.py). The text saved is the pane's visible screen, trailing blank
rows dropped, as `tmux capture-pane -p` gives it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tests import agent_clis
from tests.model_servers import Turn, say, serving, shell
from tests.realcli import (
    API_KEY,
    PRESET_FLAGS,
    SCREENS,
    WIDTHS,
    claude_env,
    claude_home,
    codex_env,
    codex_home,
    gemini_env,
    gemini_home,
    kill_leftovers,
    opencode_env,
    opencode_home,
)

HEIGHT = 40


@dataclass
class Scene:
    """How to get a program to show one screen."""

    program: str
    name: str
    until: str  # regex: the screen is there
    setup: Callable[[Path, Path, str], dict[str, str]]  # (home, folder, url) -> env
    flags: list[str] | None = None  # default: the preset's flags
    prompt: str = "Run gt prime and begin work on your hook."
    script: Callable[[threading.Event], list[Turn]] = lambda hold: [say("ok")]
    keys: list[tuple[str, str]] = field(default_factory=list)  # (wait regex, keys) first
    git: bool = True  # the folder is a git repository
    timeout: float = 45.0  # seconds to wait for `until`


def _claude(onboarded: bool = True, approved: bool = True, trusted: bool = True,
            bypass: bool = True, token: bool = False, sandbox: bool = True):  # fmt: skip
    def setup(home: Path, folder: Path, url: str) -> dict[str, str]:
        if onboarded or approved or trusted:
            claude_home(home, [folder] if trusted else [], onboarded=onboarded,
                        approved_key=approved, bypass_accepted=bypass)  # fmt: skip
        env = claude_env(home, url, home / "tmp")
        if token:  # skips onboarding's probe of api.anthropic.com (REAL-CLIS.md)
            env.pop("ANTHROPIC_API_KEY")
            env["ANTHROPIC_AUTH_TOKEN"] = API_KEY
        if not sandbox:
            env.pop("IS_SANDBOX", None)
        return env

    return setup


def _held(hold: threading.Event) -> list[Turn]:
    return [shell("sleep 0", hold=hold)]


def _codex(trusted: bool = True):
    def setup(home: Path, folder: Path, url: str) -> dict[str, str]:
        codex_home(home, url, [folder] if trusted else [])
        return codex_env(home, url, home / "tmp")

    return setup


def _gemini(trusted: bool = True, folder_trust: bool = False):
    def setup(home: Path, folder: Path, url: str) -> dict[str, str]:
        gemini_home(home, [folder] if trusted else [], folder_trust=folder_trust)
        return gemini_env(home, url, home / "tmp")

    return setup


def _opencode(permission: dict[str, str] | None = None):
    def setup(home: Path, folder: Path, url: str) -> dict[str, str]:
        opencode_home(home, url, permission=permission)
        return opencode_env(home, url, home / "tmp")

    return setup


# The flag before the first prompt (else it is the last argument).
PROMPT_FLAGS = {"gemini": "--prompt-interactive", "opencode": "--prompt"}

SCENES: list[Scene] = [
    # -- Claude Code ---------------------------------------------------------------------------
    Scene("claude", "theme", r"Choose the text style", _claude(False, False, False, False, True)),
    Scene("claude", "security-notes", r"Press Enter to continue",
          _claude(False, False, False, False, True), keys=[(r"Choose the text style", "Enter")]),
    Scene("claude", "api-key", r"Do you want to use this API key\?", _claude(approved=False)),
    Scene("claude", "offline-onboarding", r"Unable to connect to Anthropic services",
          _claude(False, False, False, False)),
    Scene("claude", "trust", r"Yes, I trust this folder", _claude(trusted=False)),
    Scene("claude", "bypass", r"Yes, I accept", _claude(bypass=False)),
    Scene("claude", "permission", r"Do you want to proceed\?", _claude(), flags=[],
          script=lambda hold: [shell("touch approval-probe.txt")]),
    Scene("claude", "busy", r"esc to", _claude(), script=_held),
    Scene("claude", "idle", r"SCRIPTED-IDLE", _claude(),
          script=lambda hold: [say("SCRIPTED-IDLE: nothing to do.")]),
    Scene("claude", "root-refusal", r"cannot be used with root", _claude(sandbox=False)),
    # -- Codex -----------------------------------------------------------------------------
    Scene("codex", "trust", r"Trust this folder\?|Do you trust", _codex(trusted=False)),
    Scene("codex", "approval", r"Would you like to run|Allow command|approve", _codex(),
          flags=["--ask-for-approval", "on-request", "--sandbox", "read-only"],
          script=lambda hold: [shell("touch approval-probe.txt", extra={
              "sandbox_permissions": "require_escalated",
              "justification": "Create approval-probe.txt outside the sandbox?"})]),
    Scene("codex", "busy", r"esc to interrupt|Working", _codex(), script=_held),
    Scene("codex", "idle", r"SCRIPTED-IDLE", _codex(),
          script=lambda hold: [say("SCRIPTED-IDLE: nothing to do.")]),
    # -- Gemini CLI ------------------------------------------------------------------------
    Scene("gemini", "trust", r"Do you trust|trust this folder", _gemini(False, True)),
    Scene("gemini", "approval", r"Allow execution|Apply this change|Do you want to proceed",
          _gemini(), flags=[], script=lambda hold: [shell("touch approval-probe.txt")]),
    Scene("gemini", "busy", r"esc to cancel", _gemini(), script=_held),
    Scene("gemini", "idle", r"SCRIPTED-IDLE", _gemini(),
          script=lambda hold: [say("SCRIPTED-IDLE: nothing to do.")]),
    # -- opencode --------------------------------------------------------------------------
    Scene("opencode", "permission", r"Allow once", _opencode({"bash": "ask"}), flags=[],
          script=lambda hold: [shell("touch approval-probe.txt")]),
    Scene("opencode", "busy", r"esc interrupt", _opencode(), script=_held),
    # The turn is over once its footer has the time it took ("▣  Build · gpt-test · 6.5s").
    Scene("opencode", "idle", r"SCRIPTED-IDLE[\s\S]*▣.* · [\d.]+m?s", _opencode(),
          script=lambda hold: [say("SCRIPTED-IDLE: nothing to do.")], timeout=120),
]  # fmt: skip


def tmux(socket: str, *args: str) -> str:
    return subprocess.run(
        ["tmux", "-L", socket, "-f", os.devnull, *args], capture_output=True, text=True
    ).stdout


def screen_text(socket: str, target: str) -> str:
    rows = tmux(socket, "capture-pane", "-p", "-t", target).split("\n")
    while rows and not rows[-1].strip():
        rows.pop()
    return "\n".join(row.rstrip() for row in rows) + "\n"


def wait_screen(socket: str, target: str, pattern: str, timeout: float = 45.0) -> str | None:
    deadline = time.monotonic() + timeout
    regex = re.compile(pattern)
    while time.monotonic() < deadline:
        text = screen_text(socket, target)
        if regex.search(text):
            time.sleep(0.6)  # let the frame finish drawing
            return screen_text(socket, target)
        time.sleep(0.1)
    return None


def capture(scene: Scene, exe: Path, width: int, work: Path) -> str | None:
    base = work / f"{scene.program}-{scene.name}-{width}"
    home, folder = base / "home", base / "project"
    (home / "tmp").mkdir(parents=True)
    folder.mkdir(parents=True)
    if scene.git:
        subprocess.run(["git", "init", "-q", str(folder)], check=True)
    hold = threading.Event()
    with serving(scene.program, scene.script(hold)) as server:
        env = scene.setup(home, folder, server.url)
        flags = PRESET_FLAGS[scene.program] if scene.flags is None else scene.flags
        flag = PROMPT_FLAGS.get(scene.program)
        prompt_args = [flag, scene.prompt] if flag else [scene.prompt]
        argv = ["env", *(f"{k}={v}" for k, v in env.items()), str(exe), *flags, *prompt_args]
        socket = f"gt-capture-{os.getpid()}-{width}-{scene.program}-{scene.name}"
        target = "s:0"
        command = " ".join(_quote(a) for a in argv) + "; sleep 600"
        tmux(socket, "new-session", "-d", "-x", str(width), "-y", str(HEIGHT), "-s", "s",
             "-c", str(folder), command)  # fmt: skip
        try:
            for wait, keys in scene.keys:
                if wait_screen(socket, target, wait) is None:
                    return None
                tmux(socket, "send-keys", "-t", target, keys)
            return wait_screen(socket, target, scene.until, scene.timeout)
        finally:
            hold.set()
            tmux(socket, "kill-server")
            kill_leftovers(home)


def _quote(arg: str) -> str:
    import shlex

    return shlex.quote(arg)


def main(argv: list[str]) -> int:
    programs = [a for a in argv if not a.startswith("--")] or list(agent_clis.PINS)
    only = None
    if "--screen" in argv:
        only = argv[argv.index("--screen") + 1]
        programs = [p for p in programs if p != only]
    bin_dir = agent_clis.install()
    work = Path(tempfile.mkdtemp(prefix="gt-capture-"))
    failures = 0
    try:
        for scene in SCENES:
            if scene.program not in programs or (only and scene.name != only):
                continue
            if scene.name == "root-refusal" and os.geteuid() != 0:
                continue
            out = SCREENS / scene.program
            out.mkdir(parents=True, exist_ok=True)
            results: dict[int, str | None] = {}

            def one(width: int, scene: Scene = scene, results: dict = results) -> None:
                results[width] = capture(scene, bin_dir / scene.program, width, work)

            threads = [threading.Thread(target=one, args=(w,)) for w in WIDTHS]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            for width, text in sorted(results.items()):
                if text is None:
                    failures += 1
                    print(f"FAILED {scene.program} {scene.name} {width}: no {scene.until!r}")
                    continue
                (out / f"{scene.name}-{width}.txt").write_text(text, encoding="utf-8")
                print(f"saved {scene.program}/{scene.name}-{width}.txt")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
