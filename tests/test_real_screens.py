"""The presets read the real programs' screens: each first-run / per-folder / permission screen
captured from the real program (tests/capture_screens.py, fixtures under tests/data/screens/) is
`waiting` with its question; a busy (mid-turn) screen is busy and not waiting; an idle screen is
neither; at 60, 80, 120 and 250 columns."""

from __future__ import annotations

import pytest

from gastown_tui.dispatch.observe import PANE_LINES
from gastown_tui.runtimes.presets import builtin_presets
from tests.realcli import SCREENS, WIDTHS, screen_fixture, squash

# program -> screen -> words of the question a person must answer (checked in the screen
# fixture, and later in the quoted question).
WAITING: dict[str, dict[str, str]] = {
    "claude": {
        "theme": "Choose the text style",
        "security-notes": "Press Enter to continue",
        "api-key": "Do you want to use this API key?",
        "trust": "Is this a project you created or one you trust?",
        "bypass": "Claude Code running in Bypass Permissions mode",
        "permission": "Do you want to proceed?",
    },
    "codex": {
        "trust": "Trust this folder?",
        "approval": "Would you like to run the following command?",
    },
    "gemini": {
        "trust": "Do you trust the files in this folder?",
        "approval": "Allow execution of [Shell]?",
    },
    "opencode": {
        "permission": "Permission required",
    },
}
BUSY = {"claude": ["busy"], "codex": ["busy"], "gemini": ["busy"], "opencode": ["busy"]}
IDLE = {"claude": ["idle"], "codex": ["idle"], "gemini": ["idle"], "opencode": ["idle"]}
# The program exited (the town must say so, not show it as busy or waiting).
EXITED = {"claude": ["root-refusal", "offline-onboarding"], "codex": [], "gemini": [],
          "opencode": []}  # fmt: skip


# Screens the presets do not read right yet: strict, so a fix shows up.
KNOWN_WRONG: dict[tuple[str, str, int], str] = {}
# The choices `gt answer` offers there: the first one's label (None: no numbered choices;
# Enter is the only answer).
FIRST_CHOICE: dict[tuple[str, str], str | None] = {
    ("claude", "theme"): "Auto (match terminal)",
    ("claude", "security-notes"): None,
    ("claude", "api-key"): "Yes",
    ("claude", "trust"): "Yes, I trust this folder",
    ("claude", "bypass"): "No, exit",
    ("claude", "permission"): "Yes",
    ("codex", "trust"): "Trust and continue",
    ("codex", "approval"): "Yes, proceed",
    ("gemini", "trust"): "Trust folder",
    ("gemini", "approval"): "Allow once",
    # Side by side, without numbers ("Allow once   Allow always   Reject"): not read yet.
    ("opencode", "permission"): None,
}


def bottom(text: str, lines: int = PANE_LINES) -> str:
    """What the town reads of a pane: the last rows of the visible screen (dispatch/agents.py
    screen_bottom)."""
    rows = text.rstrip("\n").split("\n")
    return "\n".join(rows[-lines:])


def cases(table: dict[str, list[str]] | dict[str, dict[str, str]]) -> list[tuple[str, str, int]]:
    return [(p, s, w) for p, screens in table.items() for s in screens for w in WIDTHS]


def test_every_fixture_is_listed() -> None:
    listed = {
        (p, s)
        for table in (WAITING, BUSY, IDLE, EXITED)
        for p, screens in table.items()
        for s in screens
    }
    on_disk = {(path.parent.name, path.stem.rsplit("-", 1)[0]) for path in SCREENS.glob("*/*.txt")}
    assert on_disk <= listed, f"fixtures without an expectation: {sorted(on_disk - listed)}"


@pytest.mark.parametrize(("program", "screen", "width"), cases(WAITING))
def test_a_question_screen_is_waiting(
    program: str, screen: str, width: int, request: pytest.FixtureRequest
) -> None:
    if (program, screen, width) in KNOWN_WRONG:
        reason = KNOWN_WRONG[program, screen, width]
        request.applymarker(pytest.mark.xfail(reason=reason, strict=True))
    text = screen_fixture(program, screen, width)
    assert WAITING[program][screen] in squash(text), "the fixture shows the question"
    runtime = builtin_presets()[program]
    prompt = runtime.waiting_prompt(bottom(text))
    assert prompt is not None, f"{program} {screen} at {width} columns: waiting"
    assert squash(WAITING[program][screen]) in squash(prompt.question), "its question is quoted"
    first = FIRST_CHOICE[program, screen]
    if first is None:
        assert not any(c.key.isdigit() for c in prompt.choices), prompt.choices
    else:
        assert prompt.choices and prompt.choices[0].key == "1", prompt.choices
        assert prompt.choices[0].label.startswith(first), prompt.choices
    assert not runtime.is_busy(bottom(text)), f"{program} {screen} at {width}: not busy"


@pytest.mark.parametrize(("program", "screen", "width"), cases(BUSY))
def test_a_mid_turn_screen_is_busy_not_waiting(program: str, screen: str, width: int) -> None:
    text = bottom(screen_fixture(program, screen, width))
    runtime = builtin_presets()[program]
    assert runtime.is_busy(text), f"{program} {screen} at {width} columns: busy"
    assert runtime.waiting_prompt(text) is None


@pytest.mark.parametrize(("program", "screen", "width"), cases(IDLE))
def test_an_idle_screen_is_neither(program: str, screen: str, width: int) -> None:
    text = bottom(screen_fixture(program, screen, width))
    runtime = builtin_presets()[program]
    assert not runtime.is_busy(text) and runtime.waiting_prompt(text) is None


@pytest.mark.parametrize(("program", "screen", "width"), cases(EXITED))
def test_a_start_up_failure_screen_is_not_busy(program: str, screen: str, width: int) -> None:
    text = bottom(screen_fixture(program, screen, width))
    assert not builtin_presets()[program].is_busy(text)
