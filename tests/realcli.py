"""The harness for the real agent programs (tests/test_real_*.py): the pinned programs from
tests/agent_clis.py, a scripted model server from tests/model_servers.py, a throwaway HOME with
the program's configuration of a returning user, and a town whose town.toml points the
program at the server.

Test modules load it with `pytest_plugins = ["tests.polecat_fixtures", "tests.realcli"]`.
A missing program is a loud skip naming what is missing and how to install it; under CI=true
it is a failure: CI must run these tests.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from gastown_tui.tmux import TownTmux
from gastown_tui.town.town import Town
from tests import agent_clis
from tests.conftest import ROOT, run_gt, wait_until
from tests.model_servers import ScriptedServer, Turn, loop_script, serving

API_KEY = "sk-gt-test-0123456789abcdefghijklmnopqrstuv"


@pytest.fixture(scope="session")
def agent_clis_bin() -> Path | str:
    """The bin folder of the pinned programs, installed on first use; or why not (a str)."""
    try:
        return agent_clis.install()
    except (agent_clis.InstallError, subprocess.TimeoutExpired, OSError) as exc:
        return str(exc)


def require_program(bin_or_error: Path | str, program: str) -> Path:
    """The program's executable, or a loud skip (a failure under CI=true)."""
    if program in agent_clis.PY_PINS:
        return require_py_program(program)
    path = agent_clis.installed(program) if isinstance(bin_or_error, Path) else None
    if path is not None:
        return path
    pkg, version = agent_clis.PINS[program]
    why = bin_or_error if isinstance(bin_or_error, str) else "not installed"
    message = (
        f"REAL {program.upper()} MISSING: {pkg}@{version} ({why}); "
        f"install it with {agent_clis.how_to_install()}"
    )
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message + " -- CI must run the real-program tests")
    pytest.skip(message)


def require_py_program(program: str) -> Path:
    """A PyPI program (aider) installed on first use into its venv; a loud skip if it cannot."""
    try:
        return agent_clis.install_py(program)
    except (agent_clis.InstallError, subprocess.TimeoutExpired, OSError) as exc:
        pkg, version = agent_clis.PY_PINS[program]
        message = (
            f"REAL {program.upper()} MISSING: {pkg}=={version} ({exc}); "
            f"install it with {agent_clis.how_to_install()}"
        )
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + " -- CI must run the real-program tests")
        pytest.skip(message)


def is_root() -> bool:
    return os.geteuid() == 0


# -- configuration of a returning user, per program ----------------------------------------------
def claude_home(home: Path, trusted: list[Path], *, onboarded: bool = True,
                approved_key: bool = True, bypass_accepted: bool = True) -> None:  # fmt: skip
    """~/.claude.json and ~/.claude/settings.json as a person who already said yes has them
    (docs: /work/shared/REAL-CLIS.md, "Config of a returning user")."""
    state: dict[str, Any] = {"numStartups": 3, "theme": "dark"}
    if onboarded:
        state.update(hasCompletedOnboarding=True, lastOnboardingVersion="2.1.197")
    if approved_key:
        state["customApiKeyResponses"] = {"approved": [API_KEY[-20:]], "rejected": []}
    state["projects"] = {str(p): {"hasTrustDialogAccepted": True} for p in trusted}
    (home / ".claude").mkdir(parents=True, exist_ok=True)
    (home / ".claude.json").write_text(json.dumps(state, indent=2))
    settings: dict[str, Any] = {"theme": "dark"}
    if bypass_accepted:
        settings["skipDangerousModePermissionPrompt"] = True
    (home / ".claude" / "settings.json").write_text(json.dumps(settings, indent=2))


def claude_env(home: Path, url: str, tmp: Path) -> dict[str, str]:
    env = {
        "HOME": str(home),
        "TMPDIR": str(tmp),
        "ANTHROPIC_BASE_URL": url,
        "ANTHROPIC_API_KEY": API_KEY,
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_TELEMETRY": "1",
        "DISABLE_AUTOUPDATER": "1",
        "DISABLE_ERROR_REPORTING": "1",
    }
    if is_root():
        # The test's own throwaway sandbox: claude refuses --dangerously-skip-permissions as
        # root otherwise. Set here, explicitly, for this window only.
        env["IS_SANDBOX"] = "1"
    return env


def codex_home(home: Path, url: str, trusted: list[Path]) -> Path:
    codex = home / ".codex"
    codex.mkdir(parents=True, exist_ok=True)
    projects = "".join(f'\n[projects."{p}"]\ntrust_level = "trusted"\n' for p in trusted)
    (codex / "config.toml").write_text(
        'model = "gpt-test"\n'
        'model_provider = "scripted"\n'
        "check_for_update_on_startup = false\n"
        "allow_login_shell = false\n"
        'approval_policy = "never"\n'
        'sandbox_mode = "danger-full-access"\n'
        "[model_providers.scripted]\n"
        'name = "scripted"\n'
        f'base_url = "{url}/v1"\n'
        'env_key = "GT_TEST_OPENAI_KEY"\n'
        'wire_api = "responses"\n'
        "[tui]\n"
        "screen_reader_detection_done = true\n"
        "[analytics]\nenabled = false\n"
        "[feedback]\nenabled = false\n" + projects
    )
    return codex


def codex_env(home: Path, url: str, tmp: Path) -> dict[str, str]:
    return {
        "HOME": str(home),
        "TMPDIR": str(tmp),
        "CODEX_HOME": str(home / ".codex"),
        "GT_TEST_OPENAI_KEY": API_KEY,
    }


def gemini_home(home: Path, trusted: list[Path], folder_trust: bool = False) -> None:
    gemini = home / ".gemini"
    gemini.mkdir(parents=True, exist_ok=True)
    settings = {
        "security": {"auth": {"selectedType": "gemini-api-key"},
                     "folderTrust": {"enabled": folder_trust}},
        "privacy": {"usageStatisticsEnabled": False},
        "telemetry": {"enabled": False},
        "general": {"disableAutoUpdate": True, "disableUpdateNag": True},
        "ui": {"hideTips": True, "hideBanner": True},
        "ide": {"enabled": False, "hasSeenNudge": True},
    }  # fmt: skip
    (gemini / "settings.json").write_text(json.dumps(settings, indent=2))
    (gemini / "trustedFolders.json").write_text(
        json.dumps({str(p): "TRUST_FOLDER" for p in trusted}, indent=2)
    )


def gemini_env(home: Path, url: str, tmp: Path) -> dict[str, str]:
    return {
        "HOME": str(home),
        "TMPDIR": str(tmp),
        "GOOGLE_GEMINI_BASE_URL": url,
        "GEMINI_API_KEY": API_KEY,
        "NO_BROWSER": "1",
    }


def aider_env(home: Path, url: str, tmp: Path) -> dict[str, str]:
    return {
        "HOME": str(home),
        "TMPDIR": str(tmp),
        "OPENAI_API_BASE": url + "/v1",
        "OPENAI_API_KEY": API_KEY,
        "AIDER_MODEL": "openai/gpt-test",
        "AIDER_CHECK_UPDATE": "false",
        "AIDER_ANALYTICS": "false",
        "AIDER_SHOW_MODEL_WARNINGS": "false",
        "AIDER_GITIGNORE": "false",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",  # no fetch of a price list from GitHub
    }


def opencode_home(home: Path, url: str, permission: dict[str, str] | None = None) -> Path:
    """~/.config/opencode/opencode.json: a custom provider on the scripted Chat Completions
    server (@ai-sdk/openai-compatible ships inside the binary: nothing is installed)."""
    folder = home / ".config" / "opencode"
    folder.mkdir(parents=True, exist_ok=True)
    config: dict[str, Any] = {
        "$schema": "https://opencode.ai/config.json",
        "autoupdate": False,
        "share": "disabled",
        "model": "scripted/gpt-test",
        "small_model": "scripted/gpt-test",
        "provider": {"scripted": {
            "npm": "@ai-sdk/openai-compatible",
            "name": "Scripted",
            "options": {"baseURL": f"{url}/v1", "apiKey": "{env:GT_TEST_OPENAI_KEY}"},
            "models": {"gpt-test": {"name": "gpt-test"}},
        }},
    }  # fmt: skip
    if permission is not None:
        config["permission"] = permission
    (folder / "opencode.json").write_text(json.dumps(config, indent=2))
    return folder


def opencode_env(home: Path, url: str, tmp: Path) -> dict[str, str]:
    return {
        "HOME": str(home),
        "TMPDIR": str(tmp),
        # It keeps config, sessions, logs and caches in the XDG folders: all in this HOME.
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "XDG_STATE_HOME": str(home / ".local" / "state"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "GT_TEST_OPENAI_KEY": API_KEY,
        "OPENCODE_DISABLE_AUTOUPDATE": "1",
        "OPENCODE_DISABLE_MODELS_FETCH": "1",  # no models.dev: the provider is in the config
        # At start it installs @opencode-ai/plugin into its config folder with npm, in the
        # background: pointed at the scripted server, that fails at once and stays local.
        "npm_config_registry": f"{url}/npm/",
    }


PRESET_FLAGS = {
    "claude": ["--dangerously-skip-permissions"],
    "codex": ["--dangerously-bypass-approvals-and-sandbox"],
    "gemini": ["--yolo"],
    "opencode": ["--auto"],
}


def write_town_env(town: Town, env: dict[str, str]) -> None:
    """`[town.env]` in town.toml: the variables every agent window is created with (and
    nothing else: the town's tmux server's own environment does not reach them)."""
    lines = ["\n[town.env]"] + [f"{k} = {json.dumps(v)}" for k, v in env.items()]
    with open(town.paths.town_toml, "a", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
    town.__dict__.pop("config", None)


def write_runtime(town: Town, program: str, flags: list[str]) -> None:
    """`[runtimes.PROGRAM]` with other flags than the preset's (e.g. without the bypass, to
    see a permission prompt); everything else comes from the preset (runtimes/presets.py)."""
    command = [program, *flags]
    with open(town.paths.town_toml, "a", encoding="utf-8") as handle:
        handle.write(f"\n[runtimes.{program}]\ncommand = {json.dumps(command)}\n")
    town.__dict__.pop("config", None)


@dataclass
class RealRig:
    """A town with one git rig and a real program pointed at its scripted server."""

    program: str
    town: Town
    tmux: TownTmux
    server: ScriptedServer
    home: Path
    exe: Path
    env: dict[str, str]
    notes: list[str] = field(default_factory=list)

    def gt(self, *args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
        return run_gt(self.town, *args, **kw)

    def sling(self, title: str, *extra: str) -> tuple[str, str]:
        """Create a bead and sling it with --agent PROGRAM: (bead id, polecat address)."""
        bead = self.town.beads.create(title, rig="alpha")
        out = self.gt("sling", bead.id, "alpha", "--agent", self.program, "--json", *extra)
        assert out.returncode == 0, out.stderr + out.stdout
        data = json.loads(out.stdout)
        first = data["slung"][0] if "slung" in data else data
        address = first["agent"]
        return bead.id, str(address)

    def pane(self, address: str) -> str:
        info = self.tmux.find_window("gt-alpha", address.split("/", 1)[1])
        return self.tmux.capture(info.pane_id, lines=60) if info else "(no window)"

    def wait_pane(self, address: str, text: str, timeout: float = 30) -> None:
        """Wait until the program's pane shows `text` (on failure, show the pane)."""
        try:
            wait_until(lambda: text in self.pane(address), timeout=timeout, what=repr(text))
        except BaseException:
            print(f"--- pane of {address}:\n{self.pane(address)}")
            raise

    def kill_9_and_restart(
        self, address: str, bead: str, before_patrol: Any = None, timeout: float = 60
    ) -> dict[str, Any]:
        """kill -9 the agent's program; one witness patrol restarts it on the same hook.
        Returns the body of the restarted program's first main request."""
        from gastown_tui.supervise.witness import Witness

        before = len(self.server.main_requests())
        name = address.split("/", 1)[1]
        info = self.tmux.find_window("gt-alpha", name)
        assert info is not None and info.pane_pid
        os.kill(info.pane_pid, signal.SIGKILL)
        wait_until(  # dead, and tmux knows how (a patrol waits for that: WindowInfo)
            lambda: (
                (w := self.tmux.find_window("gt-alpha", name)) is not None
                and w.pane_dead
                and not w.exit_pending
            ),
            what="the pane to die",
        )
        if before_patrol is not None:
            before_patrol()
        actions = Witness(self.town, self.tmux, "alpha").patrol()
        assert any("restarted" in a and bead in a for a in actions), actions
        wait_until(
            lambda: len(self.server.main_requests()) > before,
            timeout=timeout,
            what="the restarted program's first request",
        )
        assert self.town.polecats.hooked(address).id == bead, "the same hook"
        return self.server.main_requests()[before].body

    def wait_seen(self, needle: str, timeout: float, address: str | None = None) -> None:
        """Wait until a main request of the program contains `needle`; on failure show the pane."""
        try:
            wait_until(lambda: self.server.seen(needle), timeout=timeout, what=repr(needle))
        except BaseException:
            if address:
                print(f"--- pane of {address}:\n{self.pane(address)}")
            print(f"--- {len(self.server.log)} requests: {[r.path for r in self.server.log]}")
            raise


def make_real_rig(
    program: str,
    exe: Path,
    rig_town: Town,
    tmux: TownTmux,
    tmp_path: Path,
    script: list[Turn],
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[RealRig]:
    """The preset as it ships, unchanged: the pinned program is found on PATH (of this process,
    which restarts agents through the witness, and of every `gt` it runs); the variables
    pointing it at the scripted server are town.toml's `[town.env]`."""
    no_leaks(monkeypatch)
    bin_dir = exe.parent
    if program in agent_clis.PY_PINS:
        # Only the program, not its venv's python and pip, goes on PATH.
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir()
        (bin_dir / program).symlink_to(exe)
    monkeypatch.setenv("PATH", str(bin_dir) + os.pathsep + os.environ["PATH"])
    home = tmp_path / "home"
    home.mkdir()
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    try:
        with serving(program, script) as server:
            # Trust the folder that holds the town: the rig's clone and all its worktrees.
            # Codex trusts the main repository's root only, not parent folders.
            trusted = [tmp_path, Path(rig_town.rigs.get("alpha").path)]
            if program == "claude":
                claude_home(home, trusted)
                env = claude_env(home, server.url, scratch)
            elif program == "codex":
                codex_home(home, server.url, trusted)
                env = codex_env(home, server.url, scratch)
            elif program == "gemini":
                gemini_home(home, trusted)
                env = gemini_env(home, server.url, scratch)
            elif program == "opencode":
                opencode_home(home, server.url)
                env = opencode_env(home, server.url, scratch)
            else:
                env = aider_env(home, server.url, scratch)
            write_town_env(rig_town, env)
            yield RealRig(program, rig_town, tmux, server, home, exe, env)
    finally:
        tmux.kill_server()  # the programs first, then what they left behind
        kill_leftovers(home)


def kill_leftovers(home: Path) -> list[int]:
    """SIGKILL the processes this test's agents left: those whose executable lives under its
    throwaway HOME (Codex's TUI starts a detached `codex app-server` from
    $HOME/.codex/packages/ that outlives its pane and the tmux server) or that run with that
    HOME (Gemini CLI relaunches itself in a child node process that a killed server's hangup
    does not reach). Only the test's own processes match its unique HOME path."""
    import signal

    killed = []
    prefix = str(home.resolve()) + os.sep
    homes = [b"HOME=" + str(h).encode() + b"\0" for h in {home, home.resolve()}]
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            exe = os.readlink(entry / "exe")
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        environ = b"\0" + environ
        if exe.startswith(prefix) or any(b"\0" + h in environ for h in homes):
            try:
                os.kill(int(entry.name), signal.SIGKILL)
                killed.append(int(entry.name))
            except OSError:
                pass
    return killed


def no_leaks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing of the program's configuration reaches the town's tmux server from this
    process: what a window gets, it gets from town.toml."""
    for name in ("IS_SANDBOX", "ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL",
                 "ANTHROPIC_MODEL", "CODEX_HOME", "OPENAI_API_KEY", "GEMINI_API_KEY",
                 "GOOGLE_API_KEY", "GOOGLE_GEMINI_BASE_URL", "OPENCODE_CONFIG",
                 "OPENCODE_CONFIG_DIR", "OPENCODE_CONFIG_CONTENT"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)


SCREENS = ROOT / "tests" / "data" / "screens"
WIDTHS = (60, 80, 120, 250)


def screen_fixture(program: str, screen: str, width: int) -> str:
    return (SCREENS / program / f"{screen}-{width}.txt").read_text(encoding="utf-8")


def squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def usage_by_bead(rig: RealRig, bead: str) -> dict[str, Any]:
    """`gt usage --by bead --json` for one bead (it reads the program's transcripts)."""
    out = rig.gt("usage", "--by", "bead", "--json")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)["by"].get(bead) or {}


SAMPLES = ROOT / "tests" / "data" / "transcripts"


def save_sample(rig: RealRig) -> None:
    """With GT_SAVE_TRANSCRIPTS=1, copy the program's transcripts of this test to
    tests/data/transcripts/<program>/ (the samples tests/test_transcripts.py reads)."""
    if os.environ.get("GT_SAVE_TRANSCRIPTS") != "1":
        return
    import shutil

    pattern = {"claude": ".claude/projects/*/*.jsonl", "codex": ".codex/sessions/*/*/*/*.jsonl",
               "gemini": ".gemini/tmp/*/chats/*.jsonl"}[rig.program]  # fmt: skip
    target = SAMPLES / rig.program
    target.mkdir(parents=True, exist_ok=True)
    for path in rig.home.glob(pattern):
        shutil.copy(path, target / path.name)


def polecat_row(rig: RealRig, address: str) -> dict[str, Any]:
    out = rig.gt("polecat", "list", "--json")
    assert out.returncode == 0, out.stderr
    rows = [r for r in json.loads(out.stdout) if r["address"] == address]
    return rows[0] if rows else {}


def answer_until_closed(
    rig: RealRig, address: str, bead: str, answers: dict[str, str], timeout: float = 90
) -> list[str]:
    """Play a new user: whenever `gt polecat list` shows the agent waiting, answer the
    question (the first `answers` pattern it matches) with `gt answer`; until the bead
    closes. Returns the questions seen, in order. A question nobody scripted fails. (`gt
    answer` checks the prompt went away: the same question again is a new prompt.)"""
    import time

    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while rig.town.beads.get(bead).status != "closed":
        if time.monotonic() > deadline:
            pytest.fail(
                f"{bead} not closed after {timeout}s; questions {seen}\n{rig.pane(address)}"
            )
        row = polecat_row(rig, address)
        prompt = row.get("waiting_for") if row.get("state") == "waiting" else None
        if not prompt:
            time.sleep(0.2)
            continue
        question = str(prompt["question"])
        signal = row.get("signal") or {}
        if signal.get("kind") == "waiting" and question == signal.get("message"):
            # Only its hook has said so yet (runtimes/presets.py CLAUDE_HOOKS): a person would
            # read the question off the screen, which the observer reads a moment later.
            time.sleep(0.2)
            continue
        choice = next((c for p, c in answers.items() if re.search(p, question)), None)
        if choice is None:
            pytest.fail(f"unexpected question {question!r}:\n{rig.pane(address)}")
        out = rig.gt("answer", address, choice)
        if out.returncode == 1 and "changed while answering" in out.stderr:
            rig.notes.append(f"gt answer refused: {out.stderr.strip()}")
            continue  # the screen redrew: read it again (nothing was typed)
        if out.returncode == 2 and "is not waiting at a question" in out.stderr:
            rig.notes.append(f"gt answer found no question: {out.stderr.strip()}")
            continue  # it moved on between the look and the answer (nothing was typed)
        assert out.returncode == 0, f"gt answer {choice} at {question!r}: {out.stderr}\n" + (
            rig.pane(address)
        )
        seen.append(question)
    return seen


# -- the fixtures every real-program test module shares: it names its `program` ---------------
@pytest.fixture
def exe(agent_clis_bin: Path | str, program: str) -> Path:
    return require_program(agent_clis_bin, program)


@pytest.fixture
def script() -> list[Turn]:
    return loop_script()


@pytest.fixture
def rig(
    program: str,
    exe: Path,
    rig_town: Town,
    tmux: TownTmux,
    tmp_path: Path,
    script: list[Turn],
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[RealRig]:
    yield from make_real_rig(program, exe, rig_town, tmux, tmp_path, script, monkeypatch)
