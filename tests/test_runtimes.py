"""Runtime presets, user runtimes from town.toml, and the Claude Code settings hook."""

from __future__ import annotations

import sys
from pathlib import Path

import orjson
import pytest

from gastown_tui.runtimes.presets import (
    all_runtimes,
    builtin_presets,
    install_claude_hook,
    resolve_runtime,
    runtime_for_pane,
)
from gastown_tui.town.errors import GtError
from gastown_tui.town.town import Town
from tests.conftest import make_git_repo
from tests.polecat_fixtures import add_runtime, git_out


def test_presets() -> None:
    presets = builtin_presets()
    assert set(presets) == {
        "claude",
        "codex",
        "gemini",
        "aider",
        "opencode",
        "shell",
        "builtin",
        "demo",
    }
    claude = presets["claude"]
    assert claude.command == ["claude", "--dangerously-skip-permissions"]
    assert claude.prompt == "arg" and claude.settings_hook and claude.resumable
    assert all(r.resumable for n, r in presets.items() if n != "shell")
    assert not presets["shell"].resumable
    assert claude.argv("hi") == ["claude", "--dangerously-skip-permissions", "hi"]
    assert claude.is_waiting("Edit file\n Do you want to proceed?\n❯ 1. Yes\n  2. No")
    assert claude.is_waiting("❯ 1. Yes, and don't ask again")
    assert claude.is_busy("✻ Thinking… (12s · esc to interrupt)")
    assert not claude.is_waiting("> write the tests") and not claude.is_busy("> ")
    assert presets["gemini"].argv("go") == ["gemini", "--yolo", "--prompt-interactive", "go"]
    assert presets["opencode"].argv("go", resume=True) == ["opencode", "--auto", "--prompt", "go"]
    assert presets["opencode"].takes_prompts
    assert presets["aider"].prompt == "nudge" and presets["aider"].argv("go")[-1] != "go"
    assert presets["shell"].prompt == "none"
    demo = presets["demo"]
    assert demo.command[:3] == [sys.executable, "-m", "gastown_tui.runtimes.demo_agent"]
    assert demo.demo and demo.installed() and "DEMO" in demo.description
    builtin = presets["builtin"]
    assert builtin.command[1:] == ["-m", "gastown_tui.runtimes.builtin_agent"]
    assert builtin.requires_env == ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN")


def test_unknown_runtime_lists_the_known_ones(town: Town) -> None:
    with pytest.raises(GtError) as caught:
        resolve_runtime(town, "robot")
    assert "unknown runtime 'robot'" in str(caught.value)
    assert "claude" in str(caught.value) and "demo" in str(caught.value)
    assert caught.value.exit_code == 2


def test_default_runtime_comes_from_town_toml(tmp_path: Path) -> None:
    town = Town.init(tmp_path / "t", runtime="demo")
    assert resolve_runtime(town).name == "demo"


def test_missing_binary_is_a_clear_error(town: Town) -> None:
    claude = resolve_runtime(town, "claude")
    if claude.installed():
        pytest.skip("claude is installed here")
    with pytest.raises(GtError) as caught:
        claude.require_installed()
    message = str(caught.value)
    assert message.startswith("runtime 'claude' needs the `claude` command, which is not installed")
    assert "npm install" in message and "--agent demo" in message


def test_user_runtimes_extend_and_override(town: Town) -> None:
    add_runtime(
        town,
        "mybot",
        ["mybot", "--yes"],
        prompt="nudge",
        ready="> $",
        waiting=["Allow\\?"],
        busy="thinking",
    )
    add_runtime(town, "claude", ["/opt/claude/bin/claude", "--dangerously-skip-permissions"])
    runtimes = all_runtimes(town)
    mybot = runtimes["mybot"]
    assert (mybot.command, mybot.prompt, mybot.ready) == (["mybot", "--yes"], "nudge", "> $")
    assert mybot.waiting == ["Allow\\?"] and mybot.busy == ["thinking"] and mybot.exe == "mybot"
    assert mybot.is_ready("welcome\n> ") and not mybot.is_ready("loading")
    claude = runtimes["claude"]
    # A preset overridden by command only keeps its other keys.
    assert claude.command[0] == "/opt/claude/bin/claude" and claude.settings_hook
    assert claude.waiting == builtin_presets()["claude"].waiting
    assert runtime_for_pane(town, None, "mybot").name == "mybot"  # type: ignore[union-attr]
    assert runtime_for_pane(town, "mybot", "bash").name == "mybot"  # type: ignore[union-attr]
    assert runtime_for_pane(town, None, "unknown-thing") is None


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('command = ["x"]\nprompt = "yell"', "prompt = 'yell'"),
        ("command = []", "command is empty"),
        ('command = ["x"]\nwaiting = ["(unclosed"]', "not a valid pattern"),
        ('prompt = "arg"', "needs a command"),
        ('command = ["x"]\nenter_delay = -1', "enter_delay must be a number of seconds"),
    ],
)
def test_bad_user_runtime_is_reported(town: Town, table: str, message: str) -> None:
    with open(town.paths.town_toml, "a") as handle:
        handle.write(f"\n[runtimes.broken]\n{table}\n")
    town.__dict__.pop("config", None)
    with pytest.raises(GtError, match=r"runtimes\.broken"):
        all_runtimes(town)
    with pytest.raises(GtError) as caught:
        resolve_runtime(town, "demo")
    assert message in str(caught.value)


def test_claude_settings_hook(tmp_path: Path) -> None:
    repo = make_git_repo(tmp_path / "repo")
    settings = repo / ".claude" / "settings.local.json"
    settings.parent.mkdir()
    settings.write_text('{"permissions": {"allow": ["Bash(ls)"]}}')
    path = install_claude_hook(repo)
    install_claude_hook(repo)  # idempotent
    doc = orjson.loads(path.read_bytes())
    assert doc["permissions"] == {"allow": ["Bash(ls)"]}
    assert doc["hooks"]["SessionStart"] == [{"hooks": [{"type": "command", "command": "gt prime"}]}]
    # Beside it, the hooks that tell the observer at once (commands/signal.py), once each.
    assert doc["hooks"]["Notification"] == [
        {"hooks": [{"type": "command", "command": "gt signal waiting"}]}
    ]
    assert doc["hooks"]["Stop"] == [
        {"hooks": [{"type": "command", "command": "gt signal turn-ended"}]}
    ]
    assert git_out(repo, "status", "--porcelain") == ""  # excluded, never committed
    exclude = (repo / ".git" / "info" / "exclude").read_text().splitlines()
    assert exclude.count(".claude/settings.local.json") == 1
    settings.write_text("{not json")
    with pytest.raises(GtError, match="not valid JSON"):
        install_claude_hook(repo)


def test_a_runtime_carries_its_install_hint(town: Town) -> None:
    presets = builtin_presets()
    assert presets["codex"].install_hint == "npm install -g @openai/codex"
    add_runtime(
        town, "mybot", ["gt-no-such-program-here", "--yes"], install_hint="pipx install mybot"
    )
    add_runtime(town, "bare", ["gt-no-such-program-either"])
    add_runtime(town, "claude-opus", ["gt-no-such-claude"], base="claude")
    runtimes = all_runtimes(town)
    with pytest.raises(GtError) as caught:
        runtimes["mybot"].require_installed()
    assert caught.value.hint == "pipx install mybot; or sling with --agent demo"
    with pytest.raises(GtError) as caught:
        runtimes["bare"].require_installed()
    assert "fix [runtimes.bare] command in town.toml" in (caught.value.hint or "")
    # A runtime built on a preset keeps the preset's hint.
    assert runtimes["claude-opus"].install_hint == presets["claude"].install_hint


def test_a_runtime_prepares_its_own_worktree(tmp_path: Path) -> None:
    presets = builtin_presets()
    claude_wt = make_git_repo(tmp_path / "claude")
    presets["claude"].prepare_worktree(claude_wt)
    assert (claude_wt / ".claude" / "settings.local.json").is_file()
    codex_wt = make_git_repo(tmp_path / "codex")
    presets["codex"].prepare_worktree(codex_wt)
    assert not (codex_wt / ".claude").exists()
    plain = tmp_path / "plain"  # a plain-directory rig: no git to exclude the settings from
    plain.mkdir()
    presets["claude"].prepare_worktree(plain, git=False)
    assert not (plain / ".claude").exists()


def test_claude_hooks_merge_more_events_without_duplicates(tmp_path: Path) -> None:
    from gastown_tui.runtimes.presets import CLAUDE_HOOKS, install_claude_hooks

    repo = make_git_repo(tmp_path / "repo")
    install_claude_hooks(repo)
    more = {**CLAUDE_HOOKS, "PreCompact": ("gt note-compact",)}
    path = install_claude_hooks(repo, more)
    install_claude_hooks(repo, more)
    hooks = orjson.loads(path.read_bytes())["hooks"]
    assert hooks["SessionStart"] == [{"hooks": [{"type": "command", "command": "gt prime"}]}]
    assert hooks["PreCompact"] == [{"hooks": [{"type": "command", "command": "gt note-compact"}]}]
    assert hooks["Stop"] == [{"hooks": [{"type": "command", "command": "gt signal turn-ended"}]}]


def test_enter_delay_is_kept_where_a_program_reads_a_fast_enter_as_part_of_a_paste(
    town: Town,
) -> None:
    """The nudge protocol waits for the echo and a still screen (tmux/nudge.py); the fixed
    pause before Enter is only for programs whose paste detection is timed (Gemini CLI's
    FAST_RETURN_TIMEOUT, Codex), or set by a town for its own program."""
    presets = builtin_presets()
    assert presets["gemini"].enter_delay > 0.03 and presets["codex"].enter_delay > 0
    assert presets["claude"].enter_delay == 0 and presets["demo"].enter_delay == 0
    with open(town.paths.town_toml, "a") as handle:
        handle.write('\n[runtimes.slowpaste]\ncommand = ["slowpaste"]\nenter_delay = 0.2\n')
        handle.write('\n[runtimes.mygemini]\nbase = "gemini"\ncommand = ["gemini"]\n')
    town.__dict__.pop("config", None)
    runtimes = all_runtimes(town)
    assert runtimes["slowpaste"].enter_delay == 0.2
    assert runtimes["mygemini"].enter_delay == presets["gemini"].enter_delay
