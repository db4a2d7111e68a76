"""Start-up and permission screens: read as waiting with their question, answered only by
`gt answer` with exactly one choice's keys, never by a nudge (issue: real agent CLIs)."""

from __future__ import annotations

import os
import sys
import textwrap
import time
from pathlib import Path

import pytest

from gastown_tui.dispatch.observe import observe
from gastown_tui.dispatch.sling import sling
from gastown_tui.runtimes.presets import builtin_presets, resolve_runtime
from gastown_tui.runtimes.screens import flatten
from gastown_tui.tmux import TownTmux
from gastown_tui.town.errors import GtError
from gastown_tui.town.town import Town
from tests import polecat_fixtures as pf
from tests.conftest import GtRunner, snapshot_files
from tests.polecat_fixtures import add_runtime, set_town_env, wait_until
from tests.tmux_helpers import real_tmux

polecat_env, tmux = pf.polecat_env, pf.tmux
PANES = Path(__file__).parent / "data" / "panes"
PROGRAM = Path(__file__).parent / "procs" / "prompt_program.py"


def pane(name: str) -> str:
    return (PANES / name).read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("screen", "question", "choices", "selected"),
    [
        (
            "claude_permission.txt",
            "Do you want to proceed?",
            [
                "Yes",
                "Yes, and don't ask again for rm commands in /home/dev/project",
                "No, and tell",
            ],
            "1",
        ),
        (
            "claude_trust.txt",
            "Is this a project you created or one you trust?",
            ["Yes, I trust this folder", "No, exit"],
            "1",
        ),
        (
            "claude_bypass.txt",
            "Claude Code running in Bypass Permissions mode",
            ["No, exit", "Yes, I accept"],
            "1",
        ),
        (
            "claude_apikey.txt",
            "Do you want to use this API key?",
            ["Yes", "No (recommended)"],
            "2",
        ),
    ],
)
def test_claude_start_up_screens_are_waiting_with_their_question(
    screen: str, question: str, choices: list[str], selected: str
) -> None:
    claude = builtin_presets()["claude"]
    prompt = claude.waiting_prompt(pane(screen))
    assert prompt is not None, screen
    assert prompt.question == question
    labels = [c.label for c in prompt.choices]
    assert len(labels) == len(choices)
    assert all(label.startswith(want) for label, want in zip(labels, choices, strict=True))
    assert [c.key for c in prompt.choices if c.selected] == [selected]
    assert not claude.is_busy(pane(screen))


@pytest.mark.parametrize("width", [60, 64, 80, 120, 250])
def test_claude_busy_and_idle_hold_at_any_width(width: int) -> None:
    claude = builtin_presets()["claude"]
    footer = "⏵⏵ bypass permissions on (shift+tab to cycle) · esc to interrupt · ← for agents"
    cut = footer if len(footer) <= width - 2 else footer[: width - 5] + "…"
    if width <= 64:
        cut = "⏵⏵ bypass permissions on (shift+tab to … · esc to …"  # as Claude Code cuts it
    busy = f"✢ Recombobulating… (4s · ↓ 20 tokens)\n\n{'─' * width}\n>\n{'─' * width}\n  {cut}"
    assert claude.is_busy(busy), cut
    assert not claude.is_waiting(busy)
    assert claude.shows_started(busy)
    idle = pane("claude_idle_120.txt")
    assert not claude.is_busy(idle) and not claude.is_waiting(idle) and claude.shows_started(idle)
    assert claude.is_busy(pane("claude_busy_60.txt"))


def test_a_question_wrapped_at_a_narrow_width_is_still_found() -> None:
    claude = builtin_presets()["claude"]
    rows = [flatten(row) for row in pane("claude_trust.txt").splitlines()]
    narrow = "\n".join(line for row in rows for line in (textwrap.wrap(row, 38) or [""]))
    prompt = claude.waiting_prompt(narrow)
    assert prompt is not None and "one you trust?" in prompt.question


# -- runtimes in town.toml ------------------------------------------------------------------
def test_a_runtime_based_on_a_preset_inherits_and_adds_patterns(town: Town) -> None:
    add_runtime(
        town,
        "opus",
        ["claude", "--dangerously-skip-permissions", "--model", "opus"],
        base="claude",
        waiting=["Shall I continue\\?"],
        env={"ANTHROPIC_MODEL": "claude-opus-4-1"},
    )
    opus = resolve_runtime(town, "opus")
    claude = builtin_presets()["claude"]
    assert opus.base == "claude" and opus.settings_hook and opus.refuses_root
    assert opus.waiting[: len(claude.waiting)] == claude.waiting  # the base's, then its own
    assert opus.is_waiting("Shall I continue?") and opus.is_waiting(pane("claude_trust.txt"))
    assert opus.env == {"ANTHROPIC_MODEL": "claude-opus-4-1"}
    assert opus.resume_args == ("--continue",)


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"base": "nonesuch"}, "base = 'nonesuch' is not a preset"),
        ({"command": ["x"], "waiting": ["(unclosed"]}, "is not a valid pattern"),
        ({"command": ["x"], "env": {"BAD-NAME": "1"}}, "not a valid environment variable name"),
        ({"command": ["x"], "pass_env": ["1X"]}, "not a valid environment variable name"),
        ({"command": ["x"], "answer": "shout"}, "answer = 'shout'"),
        ({"command": ["x"], "wating": ["typo"]}, "unknown key 'wating'"),
    ],
)
def test_bad_runtime_tables_are_refused_before_anything_is_written(
    rig_town: Town, gt: GtRunner, table: dict[str, object], message: str
) -> None:
    command = table.pop("command", None)
    add_runtime(rig_town, "bad", list(command) if command else ["claude"], **table)  # type: ignore[arg-type]
    if command is None:  # a table with only `base`
        text = rig_town.paths.town_toml.read_text().replace('command = ["claude"]\n', "", 1)
        rig_town.paths.town_toml.write_text(text)
    before = snapshot_files(rig_town.root)
    proc = gt("sling", "Write the docs", "alpha", "--agent", "bad")
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert snapshot_files(rig_town.root) == before


def test_bad_town_env_is_refused(rig_town: Town, gt: GtRunner) -> None:
    set_town_env(rig_town, **{"NOT VALID": "1"})
    before = snapshot_files(rig_town.root)
    proc = gt("sling", "Write the docs", "alpha", "--agent", "demo")
    assert proc.returncode == 2 and "not a valid environment variable name" in proc.stderr
    assert snapshot_files(rig_town.root) == before


# -- windows get an explicit environment ------------------------------------------------------
@real_tmux
def test_windows_get_town_env_and_pass_through_and_never_the_servers_leftovers(
    rig_town: Town, tmux: TownTmux, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dump = tmp_path / "env.txt"
    show = (
        "import os,sys,time; open(sys.argv[1],'w').write(repr({k: os.environ.get(k) for k in "
        "('ANTHROPIC_MODEL','HTTPS_PROXY','MY_TOKEN','ANTHROPIC_BASE_URL','GT_AGENT','CI')})); "
        "print('UP', flush=True); time.sleep(60)"
    )
    add_runtime(
        rig_town,
        "envdump",
        [sys.executable, "-c", show, str(dump)],
        prompt="none",
        started="UP",
        pass_env=["MY_TOKEN"],
    )
    set_town_env(rig_town, ANTHROPIC_MODEL="claude-from-town-toml")
    # The server starts with a stale proxy and base URL in its environment...
    monkeypatch.setenv("HTTPS_PROXY", "http://stale.invalid:1")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://stale.invalid:2")
    monkeypatch.setenv("CI", "true")  # a town started inside a CI job
    first = rig_town.beads.create("start the server", rig="alpha")
    add_runtime(rig_town, "sleeper", ["sleep", "60"], prompt="none")
    sling(rig_town, tmux, first.id, "alpha", runtime="sleeper")
    # ...then the person's shell no longer has them, and has a token to pass.
    monkeypatch.delenv("HTTPS_PROXY")
    monkeypatch.delenv("ANTHROPIC_BASE_URL")
    monkeypatch.setenv("MY_TOKEN", "t0ken")
    bead = rig_town.beads.create("show the env", rig="alpha")
    sling(rig_town, tmux, bead.id, "alpha", runtime="envdump")
    seen = eval(wait_until(lambda: dump.exists() and dump.read_text(), what="the env dump"))
    assert seen["ANTHROPIC_MODEL"] == "claude-from-town-toml"
    assert seen["MY_TOKEN"] == "t0ken"
    assert seen["HTTPS_PROXY"] is None and seen["ANTHROPIC_BASE_URL"] is None
    assert seen["CI"] is None  # agents run interactively: no CI marker reaches them
    assert seen["GT_AGENT"].startswith("alpha/")


# -- root ---------------------------------------------------------------------------------------
def _fake_claude(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    fake = bindir / "claude"
    fake.write_text("#!/bin/sh\necho '? for shortcuts'\nsleep 60\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")


@real_tmux
@pytest.mark.skipif(os.geteuid() != 0, reason="root refusal: runs where the tests run as root")
def test_claude_as_root_is_refused_before_the_hook_with_the_fix(
    rig_town: Town, tmux: TownTmux, gt: GtRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `tmux` (the town's own server) is killed after the test: the last sling starts one.
    _fake_claude(tmp_path, monkeypatch)
    monkeypatch.delenv("IS_SANDBOX", raising=False)
    bead = rig_town.beads.create("Write the docs", rig="alpha")
    before = snapshot_files(rig_town.root)
    proc = gt("sling", bead.id, "alpha", "--agent", "claude")
    assert proc.returncode == 2
    assert "cannot run as root" in proc.stderr and "IS_SANDBOX" in proc.stderr
    assert snapshot_files(rig_town.root) == before
    # IS_SANDBOX in the person's shell is not passed on silently: still refused.
    monkeypatch.setenv("IS_SANDBOX", "1")
    assert gt("sling", bead.id, "alpha", "--agent", "claude").returncode == 2
    # Said in town.toml, it is the town's decision: the window gets it and the sling runs.
    set_town_env(rig_town, IS_SANDBOX="1")
    proc = gt("sling", bead.id, "alpha", "--agent", "claude")
    assert proc.returncode == 0, proc.stderr


# -- gt answer ---------------------------------------------------------------------------------
@pytest.fixture
def prompted(
    rig_town: Town, tmux: TownTmux, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[str, Path]:
    """A polecat whose program shows Claude Code's permission prompt; returns (address, the
    file of every byte typed at it)."""
    record = tmp_path / "typed.bin"
    return start_asker(rig_town, tmux, record), record


def start_asker(rig_town: Town, tmux: TownTmux, record: Path, **env: str) -> str:
    """Sling a bead to a polecat running tests/procs/prompt_program.py on Claude Code's
    permission prompt (`env`: more of its town env), once it is seen waiting; its address."""
    record.write_bytes(b"")
    add_runtime(
        rig_town,
        "asker",
        [sys.executable, str(PROGRAM), str(PANES / "claude_permission.txt"), str(record)],
        base="claude",
        prompt="none",
        exe="python",
    )
    set_town_env(rig_town, IS_SANDBOX="1", **env)
    bead = rig_town.beads.create("Clean the build", rig="alpha")
    address = sling(rig_town, tmux, bead.id, "alpha", runtime="asker").address
    wait_until(lambda: any(v.state == "waiting" for v in observe(rig_town, tmux)), what="waiting")
    return address


@real_tmux
def test_waiting_is_shown_with_its_question_everywhere(
    rig_town: Town, prompted: tuple[str, Path], gt: GtRunner
) -> None:
    address, _ = prompted
    listing = gt("polecat", "list", "--json")
    [entry] = [p for p in __import__("json").loads(listing.stdout) if p["address"] == address]
    assert entry["state"] == "waiting"
    assert entry["waiting_for"]["question"] == "Do you want to proceed?"
    status = gt("status")
    assert "waiting" in status.stdout and "1 working" not in status.stdout
    shown = gt("answer", address)
    assert shown.returncode == 0 and "Do you want to proceed?" in shown.stdout
    assert "3. No, and tell Claude" in shown.stdout


@real_tmux
def test_a_nudge_never_answers_and_gt_answer_sends_exactly_one_choice(
    rig_town: Town, prompted: tuple[str, Path], gt: GtRunner
) -> None:
    address, record = prompted
    before = snapshot_files(rig_town.root)
    proc = gt("nudge", address, "1")
    assert proc.returncode == 1
    assert "is waiting at: Do you want to proceed?" in proc.stderr
    assert f"gt answer {address} CHOICE" in proc.stderr
    for bad in ("7", "maybe"):
        refused = gt("answer", address, bad)
        assert refused.returncode == 2 and "is not a choice" in refused.stderr
    assert record.read_bytes() == b""  # nothing typed at all
    assert snapshot_files(rig_town.root).keys() == before.keys()
    proc = gt("answer", address, "2")
    assert proc.returncode == 0, proc.stderr
    assert "answered" in proc.stdout and "2. Yes, and don't ask again" in proc.stdout
    # Claude Code picks on the digit: exactly "2", no Enter that would answer the next prompt.
    assert wait_until(lambda: record.read_bytes()) == b"2"
    again = gt("answer", address, "1")
    assert again.returncode == 2 and "is not waiting" in again.stderr


@real_tmux
def test_arrow_answers_move_from_the_selected_choice(
    rig_town: Town, tmux: TownTmux, tmp_path: Path, gt: GtRunner
) -> None:
    record = tmp_path / "typed.bin"
    record.write_bytes(b"")
    add_runtime(
        rig_town,
        "arrows",
        [sys.executable, str(PROGRAM), str(PANES / "claude_apikey.txt"), str(record)],
        base="claude",
        prompt="none",
        answer="arrows",
    )
    set_town_env(rig_town, IS_SANDBOX="1")
    bead = rig_town.beads.create("Use the key", rig="alpha")
    address = sling(rig_town, tmux, bead.id, "alpha", runtime="arrows").address
    wait_until(lambda: any(v.state == "waiting" for v in observe(rig_town, tmux)), what="wait")
    proc = gt("answer", address, "yes")  # by label; the cursor is on 2. No
    assert proc.returncode == 0, proc.stderr
    wait_until(lambda: record.read_bytes().endswith(b"\r"), what="the Enter")
    assert record.read_bytes() in (b"\x1b[A\r", b"\x1bOA\r")  # one Up, then Enter


def test_answer_to_an_unknown_agent_is_bad_input(rig_town: Town, gt: GtRunner) -> None:
    proc = gt("answer", "alpha/nobody", "1")
    assert proc.returncode == 2


def test_env_table_rejects_nul() -> None:
    from gastown_tui.town.validate import env_table

    with pytest.raises(GtError, match="NUL"):
        env_table({"A": "x\0y"}, "town.toml [town] env")


@real_tmux
def test_an_answer_waits_for_choices_drawn_after_their_question(
    rig_town: Town, tmux: TownTmux, tmp_path: Path
) -> None:
    # Gemini CLI drew its trust question a moment before its choices, and `gt answer` read
    # the screen in between: "which has no numbered choices" (a real-CLI test in CI).
    import subprocess

    record, trigger = tmp_path / "typed.bin", tmp_path / "draw-the-choices"
    address = start_asker(rig_town, tmux, record, PROMPT_CHOICES_AFTER=str(trigger))
    [view] = [v for v in observe(rig_town, tmux) if v.address == address]
    assert " 1. " not in tmux.capture(view.pane_id, lines=40)  # the question alone, so far
    answering = subprocess.Popen(
        [sys.executable, "-m", "gastown_tui", "answer", address, "2"],
        env={**os.environ, "GT_TOWN": str(rig_town.root)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(0.3)
    trigger.write_text("")  # now the choices
    out, err = answering.communicate(timeout=30)
    assert answering.returncode == 0, err
    assert "2. Yes, and don't ask again" in out
    assert wait_until(lambda: record.read_bytes()) == b"2"
