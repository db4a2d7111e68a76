"""`gt answer AGENT CHOICE`: pick one choice of the question an agent waits at.

A nudge never answers a prompt (dispatch/nudge.py refuses while one shows): typing "1" picks at
once in Claude Code, and the nudge's Enter would then approve the *next* prompt, which nobody
saw. An answer sends exactly the keys of the one choice the person named (runtimes/presets.py
`Runtime.answer_keys`), then checks that the question went away.
"""

from __future__ import annotations

import contextlib
import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gastown_tui.dispatch.agents import find_window, screen_bottom
from gastown_tui.dispatch.nudge import PANE_LINES, nudge_lock
from gastown_tui.runtimes.presets import Runtime, runtime_for_pane
from gastown_tui.runtimes.screens import Prompt
from gastown_tui.tmux import TownTmux
from gastown_tui.town.errors import GtError, GtFailure
from gastown_tui.town.polecats import split_address
from gastown_tui.town.storage.files import flocked

if TYPE_CHECKING:
    from gastown_tui.town.town import Town

VERIFY_SECONDS = 5.0
CHOICES_WAIT = 1.0  # seconds a question shown without its choices is read again


@dataclass(frozen=True)
class AnswerOutcome:
    agent: str
    question: str
    choice: str
    label: str
    next_question: str | None = None  # the program asked something else right after

    def to_dict(self) -> dict[str, Any]:
        return {
            "agent": self.agent,
            "question": self.question,
            "choice": self.choice,
            "label": self.label,
            "next_question": self.next_question,
        }


def waiting_prompt(town: Town, tmux: TownTmux, agent: str) -> tuple[str, str, Prompt, Runtime]:
    """(address, pane id, prompt, runtime) of an agent that waits at a question; GtError
    otherwise."""
    address = town.polecats.resolve(agent)
    tmux.require()
    info = find_window(tmux, address)
    if info is None or info.pane_dead:
        raise GtError(f"{address} has no live window, so it waits at nothing")
    polecat = town.polecats.find(address)
    runtime = runtime_for_pane(town, polecat.runtime if polecat else None, info.current_command)
    prompt = None
    if runtime is not None:
        prompt = runtime.waiting_prompt(screen_bottom(tmux, info.pane_id, PANE_LINES))
    if prompt is None or runtime is None:
        raise GtError(
            f"{address} is not waiting at a question",
            hint=f"see its screen with `gt peek {address}`; to tell it something: gt nudge",
        )
    return address, info.pane_id, prompt, runtime


def answer_agent(town: Town, tmux: TownTmux, agent: str, wanted: str) -> AnswerOutcome:
    address, pane_id, prompt, runtime = waiting_prompt(town, tmux, agent)
    # A program draws its question a moment before its choices (Gemini CLI's trust dialog,
    # seen by the real-CLI tests): a question without them is read again for a while.
    deadline = time.monotonic() + CHOICES_WAIT
    while not prompt.choices and time.monotonic() < deadline:
        time.sleep(0.05)
        again = runtime.waiting_prompt(screen_bottom(tmux, pane_id, PANE_LINES))
        if again is None or again.question != prompt.question:
            break
        prompt = again
    if not prompt.choices:
        raise GtError(
            f"{address} waits at {prompt.question!r}, which has no numbered choices",
            hint=f"answer it yourself: gt attach {address}",
        )
    choice = prompt.choice(wanted)
    if choice is None:
        offered = ", ".join(f"{c.key} ({c.label})" for c in prompt.choices)
        raise GtError(
            f"{wanted!r} is not a choice of {address}'s question {prompt.question!r}",
            hint=f"it offers {offered}",
        )
    with flocked(nudge_lock(town, address)):
        # The screen may have moved since it was read: answer only the question still shown.
        bottom = screen_bottom(tmux, pane_id, PANE_LINES)
        again = runtime.waiting_prompt(bottom)
        if again is None or again.question != prompt.question:
            raise GtFailure(f"{address}'s question changed while answering; nothing was typed")
        if tmux.in_copy_mode(pane_id):
            tmux.leave_copy_mode(pane_id)
        for keys, literal in runtime.answer_keys(again, again.choice(choice.key) or choice):
            if literal:
                tmux.send_literal(pane_id, keys)
            else:
                tmux.send_key(pane_id, keys)
        after = _wait_answered(tmux, pane_id, runtime, bottom, prompt)
    with contextlib.suppress(Exception):
        town.events.append(
            "polecat.answered",
            actor=town.actor,
            rig=split_address(address)[0],
            msg=f"{address}: {prompt.question} -> {choice.key}. {choice.label}",
            polecat=address,
        )
    return AnswerOutcome(
        address, prompt.question, choice.key, choice.label, after.question if after else None
    )


_CURSOR = re.compile(r"[❯›●▶→>](?=\s*\d{1,2}[.)]\s)")


def _without_cursor(screen: str) -> str:
    """The screen with the choice cursor removed: moving it is not an answer."""
    return _CURSOR.sub(" ", screen)


def _wait_answered(
    tmux: TownTmux, pane_id: str, runtime: Runtime, before: str, prompt: Prompt
) -> Prompt | None:
    """The prompt that shows after the answer (None: no question now). GtFailure if the
    same question still shows, unchanged, after VERIFY_SECONDS."""
    deadline = time.monotonic() + VERIFY_SECONDS
    pause = 0.02
    while True:
        try:
            now = screen_bottom(tmux, pane_id, PANE_LINES)
        except GtError:
            return None  # the pane went away: the answer ended the program (e.g. "No, exit")
        if _without_cursor(now) != _without_cursor(before):
            # Something besides the cursor moved: a new screen (perhaps the next question).
            return runtime.waiting_prompt(now)
        if time.monotonic() >= deadline:
            raise GtFailure(
                f"the question {prompt.question!r} still shows after the answer",
                hint="look at it with gt peek, or answer it yourself with gt attach",
            )
        time.sleep(pause)
        pause = min(pause * 2, 0.2)
