"""The DEMO MAYOR: an offline, scripted mayor (no AI, no API key), labelled as a demo.

`python -m gastown_tui.runtimes.demo_mayor` in window gt-hq:mayor (dispatch/mayor.py starts
it). It waits for mail (a nudge typed into its window wakes it early) and for each message:

- a question ("what's going on?"): answers with a summary computed from the store right now
  (town/mayor.py `summary`), never a canned text;
- any other sentence from the overseer is a goal: four beads with dependencies (sketch and
  tests first, then build, then review), a convoy that tracks them (`--auto`: the deacon slings
  the later ones as they become ready), and slings of the two ready beads to demo polecats;
- mail from an agent (an escalation, a crash loop, a failed merge): tells the overseer, in the
  conversation's thread, what woke it.

Everything it does goes through the real `gt` commands as GT_AGENT=mayor (runtimes/
mayor_tools.py), so it shows in the feed under its name and is checked like the CLI.
"""

from __future__ import annotations

import json
import re
import sys
from typing import TYPE_CHECKING

from gastown_tui.runtimes import mayor_tools
from gastown_tui.runtimes.agent_kit import say, start_agent

if TYPE_CHECKING:
    from gastown_tui.town.mail import Message
    from gastown_tui.town.town import Town

LABEL = "DEMO MAYOR"
POLL = 0.3
QUESTION = re.compile(
    r"^\s*(what|how|who|which|where|when|why|is|are|any|status|anything|tell me)\b|\?\s*$",
    re.IGNORECASE,
)
# A goal becomes these steps; the numbers are the steps each one needs.
STEPS: list[tuple[str, list[int]]] = [
    ("Sketch the approach", []),
    ("Write the tests", []),
    ("Build it", [0, 1]),
    ("Review and land", [2]),
]


def is_question(text: str) -> bool:
    return bool(QUESTION.search(text.strip()))


def answer_question(town: Town) -> str:
    from gastown_tui.town.mayor import summary

    return f"{LABEL} (scripted): here is what is going on, read from the store just now:\n" + (
        summary(town)
    )


def _pick_rig(town: Town, text: str) -> str | None:
    names = town.rigs.names()
    for name in names:
        if re.search(rf"\b{re.escape(name)}\b", text):
            return name
    return names[0] if names else None


def plan_goal(town: Town, text: str) -> str:
    """Beads with dependencies, a convoy, slings: what a mayor does with a one-line goal."""
    goal = " ".join(text.split())
    short = goal if len(goal) <= 60 else goal[:59] + "…"
    rig = _pick_rig(town, goal)
    if rig is None:
        return f"{LABEL}: there is no rig to work in yet: add one with gt rig add NAME PATH."
    ids: list[str] = []
    for title, needs in STEPS:
        result, failed = mayor_tools.call(
            "bead_create",
            {
                "title": f"{title}: {short}",
                "rig": rig,
                "description": f"Part of the overseer's goal: {goal}",
                "deps": [ids[i] for i in needs],
            },
        )
        if failed:
            return f"{LABEL}: I could not make the beads: {result}"
        ids.append(json.loads(result)["id"])
        say(f"    bead {ids[-1]}: {title}")
    result, failed = mayor_tools.call("convoy_create", {"title": short, "beads": ids, "auto": True})
    if failed:
        return f"{LABEL}: beads {', '.join(ids)} made, but no convoy: {result}"
    convoy = json.loads(result)["id"]
    say(f"    convoy {convoy}")
    slung: list[str] = []
    for index, (_, needs) in enumerate(STEPS):
        if needs:
            continue
        result, failed = mayor_tools.call(
            "sling", {"bead": ids[index], "rig": rig, "convoy": convoy, "agent": "demo"}
        )
        first = result.splitlines()[0] if result else ""
        holder = town.beads.get(ids[index]).assignee if failed else None
        if holder:  # the deacon fed the auto convoy first: it is at work all the same
            slung.append(f"{ids[index]}: dispatched by the deacon to {holder}")
        else:
            slung.append(
                f"{ids[index]}: {first}" if not failed else f"{ids[index]} NOT slung: {first}"
            )
        say(f"    {slung[-1]}")
    lines = [
        f"{LABEL} (scripted): I turned your goal into {len(ids)} beads in rig {rig}, tracked by "
        f"convoy {convoy}:",
        *(
            f"- {ids[i]} {title}"
            + (f" (after {', '.join(ids[n] for n in needs)})" if needs else "")
            for i, (title, needs) in enumerate(STEPS)
        ),
        "Slung now:",
        *(f"- {line}" for line in slung),
        "The deacon slings the others as what they need closes.",
    ]
    return "\n".join(lines)


def notice(message: Message) -> str:
    return (
        f"{LABEL}: I was woken by mail from {message.sender} ({message.type}): "
        f"{message.subject}\nA real mayor would re-sling, split the bead or run a formula; "
        "the demo leaves the decision to you (gt mail read " + message.id + ")."
    )


def handle(town: Town, message: Message) -> None:
    from gastown_tui.town.mayor import OVERSEER, load_state

    if message.sender == OVERSEER:
        text = message.body.strip() or message.subject
        say(f"> overseer: {text[:200]}")
        answer = answer_question(town) if is_question(text) else plan_goal(town, text)
        town.mail.reply(message.id, answer, sender="mayor")
    else:
        say(f"> mail from {message.sender}: {message.subject[:200]}")
        answer = notice(message)
        town.mail.send(
            [OVERSEER],
            f"Re: {message.subject}"[:200],
            answer,
            sender="mayor",
            type="reply",
            thread=load_state(town).thread,
        )
    for line in answer.splitlines():
        say(f"  {line}")


def main(argv: list[str] | None = None) -> int:
    from gastown_tui.town.errors import GtError

    started = start_agent(LABEL, "offline and scripted: no AI, no API key", argv)
    if isinstance(started, int):
        return started
    address, town = started.address, started.town
    if address != "mayor":
        say(f"{LABEL}: GT_AGENT must be mayor, not {address!r}")
        return 2
    say("I answer 'what's going on?' from the store and turn a goal into beads, a convoy and")
    say("slings. Tell me with gt mayor tell TEXT, or in the app's Mayor pane.")
    say("idle: waiting for mail")
    while True:
        for line in mayor_tools.read_lines(POLL):
            say(f"nudge received: {line[:200]}")
        try:
            messages = mayor_tools.take_unread(town)
            if not messages:
                continue
            say("working …")
            for message in messages:
                handle(town, message)
            say("idle: waiting for mail")
        except GtError as exc:
            say(f"{LABEL}: error: {exc}")
            say("idle: waiting for mail")
        town.touch_heartbeat(address, command="demo-mayor")


def _run() -> int:
    try:
        return main()
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(_run())
