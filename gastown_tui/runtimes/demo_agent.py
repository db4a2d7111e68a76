"""The DEMO AGENT: an offline, deterministic stand-in for an AI agent.

Run in a polecat's window as `python -m gastown_tui.runtimes.demo_agent [BEACON]`. It shows a
new user the whole town move with no API key, and lets tests drive the real machinery:

- reads its hook with the same code as `gt prime` (town/work.py) and prints it (through the
  agent kit it shares with the built-in agent: runtimes/agent_kit.py);
- works step by step, pausing `[demo] step_seconds` (GT_DEMO_STEP overrides) between steps,
  and echoes every line typed into its window meanwhile ("nudge received: …");
- writes `notes/<bead>.md` in its worktree and commits it as the polecat;
- a bead labelled `needs-human` makes it ask a Claude-like permission question and wait for
  an answer (what the app shows as the `waiting` state); `crash` makes it exit non-zero
  without calling `gt done` (for supervisor tests); the line `[demo] ask` typed while it
  pauses asks the same question at once and goes back to pausing once answered (for
  benchmarks of how soon a waiting agent is seen: bench/bench_observe.py);
- mails `<rig>/witness` "POLECAT_DONE <bead>" and finishes with the real `gt done`, then
  exits;
- a formula step follows its role's script (the step's `demo` table, town/formulas.py):
  escalate once along its role's chain before finishing, close a bead with its note (the
  customer's answer), and finish with the scripted closing note; an escalation's answer bead
  mails the answer to the agent who asked.
"""

from __future__ import annotations

import os
import select
import sys
import time
from collections.abc import Callable
from typing import Any

from gastown_tui.runtimes.agent_kit import Agent, output_of, run_gt, say, start_agent
from gastown_tui.town.paths import child
from gastown_tui.town.validate import check_bead_id

LABEL = "DEMO AGENT"
CRASH_STATUS = 3
PROMPT_LINES = ("Do you want to proceed?", "❯ 1. Yes", "  2. No")
ASK_LINE = "[demo] ask"


class Pauser:
    """Sleeps between steps while echoing whatever is typed into the window."""

    def __init__(self, step: float, stream: object = None) -> None:
        self.step = step
        self.stdin = stream if stream is not None else sys.stdin
        self.closed = False

    def _read_line(self, timeout: float) -> str | None:
        if self.closed:
            time.sleep(max(0.0, timeout))
            return None
        try:
            ready, _, _ = select.select([self.stdin], [], [], max(0.0, timeout))
        except (OSError, ValueError):
            self.closed = True
            return None
        if not ready:
            return None
        line = self.stdin.readline()  # type: ignore[attr-defined]
        if line == "":
            self.closed = True  # EOF: nobody can type any more; keep working
            return None
        return line.rstrip("\r\n")

    def pause(self, seconds: float | None = None) -> None:
        deadline = time.monotonic() + (self.step if seconds is None else seconds)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            line = self._read_line(left)
            if line is not None and line.strip() == ASK_LINE:
                say(f"{LABEL} asks, as it was told to.")
                answer = ask_person(self)
                say(f"answer {answer!r}: back to work")
            elif line is not None and line.strip():
                say(f"nudge received: {line}")

    def ask(self) -> str:
        """Wait (without limit) for one answer line; other lines are echoed as nudges."""
        while True:
            line = self._read_line(3600.0)
            if line is not None:
                return line.strip()
            if self.closed:
                return "1"  # no terminal to answer from: proceed rather than hang forever


def ask_person(pauser: Pauser) -> str:
    """Show the permission question, wait for one answer line, and redraw like a TUI agent
    does, so the question no longer shows once answered: up over the prompt and the echoed
    answer, then clear to the end of the screen."""
    for line in PROMPT_LINES:
        say(line)
    answer = pauser.ask()
    sys.stdout.write(f"\x1b[{len(PROMPT_LINES) + 1}A\x1b[J")
    return answer


def step_seconds(town: object) -> float:
    env = os.environ.get("GT_DEMO_STEP")
    if env:
        try:
            return max(0.0, float(env))
        except ValueError:
            pass
    return max(0.0, town.config.demo.step_seconds)  # type: ignore[attr-defined]


def main(argv: list[str] | None = None, pauser_factory: Callable[[float], Pauser] = Pauser) -> int:
    from gastown_tui.town.errors import GtError
    from gastown_tui.town.work import commit_all

    agent = start_agent(LABEL, "offline and scripted: no AI, no API key", argv)
    if isinstance(agent, int):
        return agent
    address, town = agent.address, agent.town
    try:
        step = step_seconds(town)
        pauser = pauser_factory(step)
        agent.heartbeat("demo")
        say(f"[1/6] {address}: reading my hook (gt prime)")
        for line in agent.prime().splitlines():
            say(f"    {line}")
        bead = agent.hooked()
        if bead is None:
            say(f"{LABEL}: nothing on my hook; exiting")
            return 0
        pauser.pause()
        script = role_script(bead)
        if script.get("escalate") and not answered(bead):
            return escalate_step(agent, script["escalate"], pauser)
        say(f"[2/6] planning {bead.id}: {bead.title}")
        pauser.pause()
        polecat = agent.polecat()
        worktree = agent.worktree(polecat)
        # The id names a file: refuse one that could leave the folder (town/paths.py).
        notes = child(worktree / "notes", "bead id", f"{check_bead_id(bead.id)}.md")
        say(f"[3/6] writing {notes.relative_to(worktree)}")
        notes.parent.mkdir(parents=True, exist_ok=True)
        notes.write_text(
            f"# {bead.id}: {bead.title}\n\n"
            f"Worked by {address} ({LABEL}, scripted).\n\n"
            f"{bead.description.strip() or '(no description)'}\n"
        )
        agent.heartbeat("demo")
        pauser.pause()
        if "crash" in bead.labels:
            say(f"{LABEL}: simulated crash (bead labelled `crash`); exiting without gt done")
            return CRASH_STATUS
        if "needs-human" in bead.labels:
            say(f"{LABEL} wants to commit {notes.name} on {bead.id}.")
            answer = ask_person(pauser)
            if answer.lower() not in ("", "1", "y", "yes"):
                say(f"answer {answer!r}: not proceeding; deferring the bead")
                done = agent.done("the overseer said no", status="deferred")
                say(done.stdout.strip() or done.stderr.strip())
                return 0 if done.returncode == 0 else done.returncode
            say(f"answer {answer!r}: proceeding")
        say(f"[4/6] committing on {polecat.branch if polecat else 'my branch'}")
        commit = commit_all(address, worktree, f"{bead.id}: notes by {LABEL}")
        say(f"    commit {commit[:12] if commit else '(nothing to commit)'}")
        pauser.pause()
        say(f"[5/6] mailing {agent.rig}/witness: POLECAT_DONE {bead.id}")
        try:
            agent.mail(
                f"{agent.rig}/witness",
                f"POLECAT_DONE {bead.id}",
                f"{address} finished {bead.id} ({LABEL}).\n",
            )
        except GtError as exc:
            say(f"    mail not sent: {exc}")
        pauser.pause()
        note = script.get("note") or f"{LABEL}: wrote notes/{bead.id}.md"
        finish_script(agent, bead, script, note)
        say("[6/6] gt done")
        done = agent.done(note)
        for line in output_of(done).splitlines():
            say(f"    {line}")
        if done.returncode != 0:
            return done.returncode
        say(f"=== {LABEL} finished {bead.id} ===")
        return 0
    except GtError as exc:
        return agent.failed(exc)


def role_script(bead: Any) -> dict[str, str]:
    """What this step's role does in the demo: the step's `demo` table; an escalation's
    answer bead answers."""
    script = dict(bead.metadata.get("demo") or {})
    if bead.metadata.get("escalation_for") and "note" not in script:
        script["note"] = (
            "ANSWER: that is not the documented behaviour: it is a bug. Reproduce it and fix "
            "it; the customer can use a default config until then."
        )
        script["mail"] = bead.created_by
    return script


def answered(bead: Any) -> bool:
    return any(c.text.startswith("ANSWER") for c in bead.comments)


def escalate_step(agent: Agent, subject: str, pauser: Pauser) -> int:
    say(f"[2/6] {agent.address}: I cannot settle this alone; escalating along my role's chain")
    result = agent.escalate(subject, f"{LABEL} asks: {subject}")
    for line in output_of(result).splitlines():
        say(f"    {line}")
    pauser.pause()
    say(f"=== {LABEL}: step escalated; it comes back to me with the answer ===")
    return result.returncode


def finish_script(agent: Agent, bead: Any, script: dict[str, str], note: str) -> None:
    """The scripted side effects before `gt done`: close a bead (tell the customer), mail."""
    target = (script.get("close") or "").strip()
    if target:
        say(f"    closing {target} with the answer (the customer is told)")
        result = run_gt(["bead", "close", target, "-r", note])
        say(f"    {output_of(result)}")
        run_gt(["mail", "send", "overseer", "-s", f"Customer answered: {target}", "-m", note])
    to = (script.get("mail") or "").strip()
    if to:
        say(f"    mailing {to}: {note[:60]}")
        result = run_gt(["mail", "send", to, "-s", f"Answer for {bead.title}"[:200], "-m", note])
        say(f"    {output_of(result)}")


if __name__ == "__main__":
    raise SystemExit(main())
