"""The built-in mayor: a Claude tool-use loop on the `anthropic` SDK, in window gt-hq:mayor.

It makes no model call while nothing is asked of it (zero tokens idle): it waits for mail
(a nudge typed into its window wakes it early). Each new batch of mail is one turn: the model
sees the mail (the first turn also its `gt prime`), acts through the mayor's tools
(runtimes/mayor_tools.py: the real `gt` commands, so bad arguments come back as the CLI's error
text and write nothing), and answers. An answer to the overseer that the model did not send
with `mail_reply` is sent for it, in the conversation's thread.

Every response's tokens are recorded against agent `mayor` (town/usage.py) and count against
the budget; before each model call it waits while the town is over budget (the breaker).
An API failure ends the turn with a note to the overseer and the process exits non-zero, so
the supervisor restarts it with backoff (supervise/mayor.py) and stops it in a crash loop.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gastown_tui.runtimes import mayor_tools
from gastown_tui.runtimes.agent_kit import say, start_agent
from gastown_tui.runtimes.builtin_agent import _as_blocks, _brief, stream_reply, wait_for_budget

if TYPE_CHECKING:
    from gastown_tui.town.mail import Message
    from gastown_tui.town.town import Town

LABEL = "BUILTIN MAYOR"
FAILED = 4
POLL = 1.0
MAX_ROUNDS = 12  # tool rounds in one turn
MAX_HISTORY = 60  # messages kept; past it the conversation restarts from a fresh prime

SYSTEM = """\
You are the mayor of a Gas Town: a town of AI agents (polecats) supervised by deterministic \
code. The overseer (a person) talks to you by mail. Act only through your tools. For a goal: \
a few beads with dependencies (bead_create deps), a convoy that tracks them (convoy_create), \
or a formula (formula_run); then sling the ready beads (sling, with the convoy). For a \
question: read status and answer truthfully and briefly. For an escalation, crash loop or \
failed merge: re-sling, split, run a formula, or ask the overseer. Answer the overseer with \
mail_reply to the message id you were given, naming the beads and convoys you made. A tool \
that fails returns the CLI's error: fix the arguments and try again."""


def mail_text(messages: list[Message]) -> str:
    lines = ["New mail:"]
    for message in messages:
        lines.append(
            f"--- message {message.id} from {message.sender} ({message.type}, "
            f"{message.priority}): {message.subject}"
        )
        lines.append(message.body.strip())
    return "\n".join(lines)


def run_turn(
    client: Any,
    town: Town,
    config: Any,  # [builtin] of town.toml (town/config.py BuiltinSection)
    messages: list[dict[str, Any]],
) -> tuple[str, set[str], bool]:
    """One turn to end_turn: (the final text, message ids answered with mail_reply, ok)."""
    import anthropic

    from gastown_tui.town.usage import record_usage

    replied: set[str] = set()
    text = ""
    for _ in range(MAX_ROUNDS):
        wait_for_budget(town, config.budget_poll)
        try:
            final, stopped = stream_reply(
                client,
                model=config.model,
                max_tokens=config.max_tokens,
                system=SYSTEM,
                tools=mayor_tools.TOOLS,
                messages=messages,
            )
        except anthropic.APIStatusError as exc:
            say(f"\n{LABEL}: the API answered {exc.status_code}: {exc.message}")
            return f"the model call failed ({exc.status_code})", replied, False
        except Exception as exc:  # a stream cut mid-body, a refused connection
            say(f"\n{LABEL}: the model call failed: {type(exc).__name__}: {exc}")
            return f"the model call failed ({type(exc).__name__})", replied, False
        say()
        if not stopped or final.stop_reason is None:
            say(f"{LABEL}: the stream ended without message_stop; treating the call as failed")
            return "the model's answer was cut off", replied, False
        record_usage(
            town,
            agent="mayor",
            model=final.model or config.model,
            input_tokens=final.usage.input_tokens,
            output_tokens=final.usage.output_tokens,
            cache_creation_input_tokens=getattr(final.usage, "cache_creation_input_tokens", 0) or 0,
            cache_read_input_tokens=getattr(final.usage, "cache_read_input_tokens", 0) or 0,
        )
        town.touch_heartbeat("mayor", command="builtin-mayor")
        messages.append({"role": "assistant", "content": [b.model_dump() for b in final.content]})
        text = "".join(b.text for b in final.content if b.type == "text").strip() or text
        if final.stop_reason != "tool_use":
            return text, replied, True
        results = []
        for block in final.content:
            if block.type != "tool_use":
                continue
            args = dict(block.input or {})
            say(f"> {block.name} {_brief(args)}")
            output, is_error = mayor_tools.call(block.name, args)
            say(f"  {output.splitlines()[0] if output else ''}")
            if block.name == "mail_reply" and not is_error:
                replied.add(str(args.get("id", "")))
            results.append(
                {"type": "tool_result", "tool_use_id": block.id, "content": output,
                 "is_error": is_error}
            )  # fmt: skip
        messages.append({"role": "user", "content": results})
    return text or "I ran out of tool rounds for this turn.", replied, True


def answer_unanswered(town: Town, batch: list[Message], text: str, replied: set[str]) -> None:
    """The overseer always gets an answer in the thread: the model's final words."""
    from gastown_tui.town.mayor import OVERSEER

    for message in batch:
        if message.sender == OVERSEER and message.id not in replied:
            town.mail.reply(message.id, text or "(no answer)", sender="mayor")
            break


def main(argv: list[str] | None = None) -> int:
    from gastown_tui.town.errors import GtError
    from gastown_tui.town.mayor import prime_text

    started = start_agent(
        LABEL, "Claude via the anthropic SDK; tokens count against [budget]", argv
    )
    if isinstance(started, int):
        return started
    address, town = started.address, started.town
    if address != "mayor":
        say(f"{LABEL}: GT_AGENT must be mayor, not {address!r}")
        return 2
    import anthropic

    client = anthropic.Anthropic()  # ANTHROPIC_API_KEY / ANTHROPIC_BASE_URL from the env
    config = town.config.builtin
    messages: list[dict[str, Any]] = []
    say("idle: waiting for mail")
    while True:
        nudges = mayor_tools.read_lines(POLL)
        for line in nudges:
            say(f"nudge received: {line[:200]}")
        try:
            batch = mayor_tools.take_unread(town)
        except GtError as exc:
            say(f"{LABEL}: error: {exc}")
            continue
        if not batch:
            continue  # a nudge without mail: nothing to think about, no tokens spent
        say("working …")
        if len(messages) > MAX_HISTORY:
            messages = []
        content = mail_text(batch)
        if not messages:
            content = prime_text(town) + "\n" + content
        messages.append({"role": "user", "content": content})
        if len(messages) >= 2 and messages[-2]["role"] == "user":
            last, prev = messages.pop(), messages.pop()
            messages.append({"role": "user", "content": _as_blocks(prev) + _as_blocks(last)})
        text, replied, ok = run_turn(client, town, config, messages)
        try:
            answer_unanswered(town, batch, text if ok else f"{LABEL}: {text}", replied)
        except GtError as exc:
            say(f"{LABEL}: could not answer: {exc}")
        say("idle: waiting for mail")
        if not ok:
            return FAILED


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except KeyboardInterrupt:
        raise SystemExit(0) from None
