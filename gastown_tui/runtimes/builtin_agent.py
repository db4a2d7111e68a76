"""The built-in agent: a Claude tool-use loop on the `anthropic` SDK, run in a polecat's window.

`python -m gastown_tui.runtimes.builtin_agent [BEACON]`. It reads its hook with the same code
as `gt prime`, works in its worktree through a few tools (read, write and list files, run a
command), talks to the town through others (mail, escalate, done), records the tokens of every
response in usage.jsonl against its agent, bead and convoy, and pauses before a model call
while the town is over budget. The hook, `gt done`, mail and escalation go through the agent
kit it shares with the DEMO AGENT (runtimes/agent_kit.py). Lines typed into its window
(nudges) are passed to the model.

Failures are loud, never silent: an API error after the SDK's own retries, a stream cut
mid-body, or a stream that ends without `message_stop` (stop_reason None) exit non-zero, so the
witness restarts the agent with backoff and declares a crash loop if it keeps failing.
`import anthropic` (about 0.8 s) happens here only, never in the `gt` CLI.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gastown_tui.runtimes.agent_kit import Agent, output_of, read_typed_lines, say, start_agent

if TYPE_CHECKING:
    from gastown_tui.town.town import Town

LABEL = "BUILTIN AGENT"
FAILED = 4
MAX_OUTPUT = 10_000

SYSTEM = """\
You are {address}, a polecat (worker agent) in a Gas Town: a town of AI agents supervised by \
deterministic code. Your hook holds one bead (a work item). GUPP: if there is work on your \
hook, you run it. Work only in your worktree ({worktree}); commit as you go; when the work is \
finished call gt_done. If you are blocked or need a decision, use escalate (or mail_send to \
ask); do not guess. Keep answers short: the overseer reads your window."""

TOOLS: list[dict[str, Any]] = [
    {
        "name": "read_file",
        "description": "Read a text file of the worktree.",
        "input_schema": {
            "type": "object",
            "properties": {"path": {"type": "string"}},
            "required": ["path"],
        },
    },
    {
        "name": "write_file",
        "description": "Create or replace a text file of the worktree.",
        "input_schema": {
            "type": "object",
            "properties": {"path": {"type": "string"}, "content": {"type": "string"}},
            "required": ["path", "content"],
        },
    },
    {
        "name": "list_files",
        "description": "List the files under a folder of the worktree (default: all).",
        "input_schema": {"type": "object", "properties": {"path": {"type": "string"}}},
    },
    {
        "name": "run_command",
        "description": "Run a shell command in the worktree; returns exit status and output.",
        "input_schema": {
            "type": "object",
            "properties": {"command": {"type": "string"}},
            "required": ["command"],
        },
    },
    {
        "name": "mail_send",
        "description": "Send mail to a town address (overseer, mayor, <rig>/witness, ...).",
        "input_schema": {
            "type": "object",
            "properties": {
                "to": {"type": "string"},
                "subject": {"type": "string"},
                "body": {"type": "string"},
            },
            "required": ["to", "subject", "body"],
        },
    },
    {
        "name": "escalate",
        "description": "Escalate a blocker to the witness and the mayor (critical: overseer).",
        "input_schema": {
            "type": "object",
            "properties": {
                "subject": {"type": "string"},
                "body": {"type": "string"},
                "severity": {"type": "string", "enum": ["critical", "high", "medium"]},
            },
            "required": ["subject", "body"],
        },
    },
    {
        "name": "gt_done",
        "description": "Finish: commits everything and hands the work to the refinery.",
        "input_schema": {"type": "object", "properties": {"note": {"type": "string"}}},
    },
]


class Workspace:
    """The tools that touch files and processes, confined to the worktree."""

    def __init__(self, root: Path, timeout: float) -> None:
        self.root = root.resolve()
        self.timeout = timeout

    def path(self, relative: str) -> Path:
        target = (self.root / (relative or ".")).resolve()
        if target != self.root and self.root not in target.parents:
            raise ValueError(f"{relative!r} is outside the worktree")
        return target

    def read_file(self, path: str) -> str:
        return self.path(path).read_text(encoding="utf-8", errors="replace")[:MAX_OUTPUT]

    def write_file(self, path: str, content: str) -> str:
        target = self.path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content, encoding="utf-8")
        return f"wrote {len(content)} characters to {target.relative_to(self.root)}"

    def list_files(self, path: str = ".") -> str:
        base = self.path(path)
        names = sorted(
            str(p.relative_to(self.root))
            for p in base.rglob("*")
            if p.is_file() and ".git" not in p.relative_to(self.root).parts
        )
        return "\n".join(names[:500]) or "(no files)"

    def run_command(self, command: str) -> str:
        try:
            proc = subprocess.run(
                command,
                shell=True,
                cwd=self.root,
                capture_output=True,
                text=True,
                timeout=self.timeout,
            )
        except subprocess.TimeoutExpired:
            return f"timed out after {self.timeout:.0f}s"
        output = (proc.stdout + proc.stderr)[-MAX_OUTPUT:]
        return f"exit status {proc.returncode}\n{output}"


def wait_for_budget(town: Town, poll: float) -> None:
    from gastown_tui.town.usage import budget_state

    announced = False
    while True:
        state = budget_state(town)
        if not state["over"]:
            if announced:
                say("budget raised: resuming")
            return
        if not announced:
            say(f"PAUSED: the town is over budget ({state['reason']}); waiting for it to rise")
            announced = True
        time.sleep(poll)
        town.__dict__.pop("config", None)  # the overseer may have raised it in town.toml


def call_tool(
    name: str, args: dict[str, Any], workspace: Workspace, agent: Agent
) -> tuple[str, bool]:
    """Run one tool. Returns (result text, is_error)."""
    try:
        if name == "read_file":
            return workspace.read_file(str(args.get("path", ""))), False
        if name == "write_file":
            return workspace.write_file(
                str(args.get("path", "")), str(args.get("content", ""))
            ), False
        if name == "list_files":
            return workspace.list_files(str(args.get("path") or ".")), False
        if name == "run_command":
            return workspace.run_command(str(args.get("command", ""))), False
        if name == "mail_send":
            sent = agent.mail(
                str(args.get("to", "")), str(args.get("subject", "")), str(args.get("body", ""))
            )
            return f"sent {sent}", False
        if name == "escalate":
            proc = agent.escalate(
                str(args.get("subject", "")),
                str(args.get("body", "")),
                str(args.get("severity") or "medium"),
            )
            return output_of(proc), proc.returncode != 0
        if name == "gt_done":
            proc = agent.done(str(args.get("note") or f"{LABEL}: done"))
            return output_of(proc), proc.returncode != 0
    except Exception as exc:  # a tool failing is information for the model, not a crash
        return f"{type(exc).__name__}: {exc}", True
    return f"unknown tool {name!r}", True


def main(argv: list[str] | None = None) -> int:
    from gastown_tui.town.errors import GtError
    from gastown_tui.town.usage import record_usage

    agent = start_agent(LABEL, "Claude via the anthropic SDK", argv)
    if isinstance(agent, int):
        return agent
    address, town = agent.address, agent.town
    try:
        config = town.config.builtin  # [builtin] in town.toml (town/config.py)
        bead = agent.hooked()
        if bead is None:
            say("nothing on my hook; exiting")
            return 0
        worktree = agent.worktree()
    except GtError as exc:
        return agent.failed(exc)

    import anthropic

    client = anthropic.Anthropic()  # ANTHROPIC_API_KEY / ANTHROPIC_BASE_URL from the env
    workspace = Workspace(worktree, config.command_timeout)
    system = SYSTEM.format(address=address, worktree=worktree)
    messages: list[dict[str, Any]] = [{"role": "user", "content": agent.prime()}]
    reminders = 0
    for turn in range(1, config.max_turns + 1):
        wait_for_budget(town, config.budget_poll)
        for nudge in read_typed_lines():
            say(f"nudge received: {nudge}")
            messages.append({"role": "user", "content": f"[nudge from a person] {nudge}"})
        if len(messages) >= 2 and messages[-1]["role"] == messages[-2]["role"] == "user":
            # Consecutive user turns must be merged for the API.
            last = messages.pop()
            prev = messages.pop()
            messages.append({"role": "user", "content": _as_blocks(prev) + _as_blocks(last)})
        say(f"--- turn {turn}: asking {config.model}")
        try:
            final, stopped = stream_reply(
                client,
                model=config.model,
                max_tokens=config.max_tokens,
                system=system,
                tools=TOOLS,
                messages=messages,
            )
        except anthropic.APIStatusError as exc:
            say(f"\n{LABEL}: the API answered {exc.status_code}: {exc.message}")
            return FAILED
        except Exception as exc:  # transport errors: a stream cut mid-body, a refused connection
            say(f"\n{LABEL}: the model call failed: {type(exc).__name__}: {exc}")
            return FAILED
        say()
        if not stopped or final.stop_reason is None:
            # A stream that just ends is a truncated answer, however complete it looks.
            say(f"{LABEL}: the stream ended without message_stop; treating the call as failed")
            return FAILED
        usage = final.usage
        # Looked up per response: the sling that started us may add the bead to its convoy
        # only after our window is up.
        convoys = town.convoys.convoys_of(bead.id)
        convoy = convoys[0].id if convoys else None
        record_usage(
            town,
            agent=address,
            model=final.model or config.model,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cache_creation_input_tokens=getattr(usage, "cache_creation_input_tokens", 0) or 0,
            cache_read_input_tokens=getattr(usage, "cache_read_input_tokens", 0) or 0,
            bead=bead.id,
            convoy=convoy,
        )
        agent.heartbeat("builtin")
        messages.append({"role": "assistant", "content": [b.model_dump() for b in final.content]})
        if final.stop_reason == "tool_use":
            results = []
            finished = False
            for block in final.content:
                if block.type != "tool_use":
                    continue
                say(f"> {block.name} {_brief(block.input)}")
                text, is_error = call_tool(block.name, dict(block.input or {}), workspace, agent)
                say(f"  {text.splitlines()[0] if text else ''}")
                results.append(
                    {"type": "tool_result", "tool_use_id": block.id, "content": text,
                     "is_error": is_error}
                )  # fmt: skip
                finished = finished or (block.name == "gt_done" and not is_error)
            messages.append({"role": "user", "content": results})
            if finished:
                say(f"=== {LABEL} finished {bead.id} ===")
                return 0
            continue
        if final.stop_reason == "max_tokens":
            messages.append({"role": "user", "content": "Continue."})
            continue
        reminders += 1
        if reminders > 2:
            proc = agent.done(f"{LABEL} stopped without gt_done", status="escalated")
            say(proc.stdout + proc.stderr)
            return 0 if proc.returncode == 0 else FAILED
        messages.append(
            {"role": "user", "content": "Your hook still holds the bead. Continue the work; call "
             "gt_done when it is finished, or escalate if you are blocked."}
        )  # fmt: skip
    proc = agent.done(f"{LABEL}: out of turns", status="escalated")
    say(proc.stdout + proc.stderr)
    return FAILED


def stream_reply(client: Any, **request: Any) -> tuple[Any, bool]:
    """One Messages API call, streamed: its text is echoed to the window as it comes (a person
    attached sees the agent think). Returns the final message and whether the stream reached
    message_stop; API and transport errors are the caller's to report."""
    stopped = False
    with client.messages.stream(**request) as stream:
        for event in stream:
            if event.type == "text":
                sys.stdout.write(event.text)
                sys.stdout.flush()
            elif event.type == "message_stop":
                stopped = True
        final = stream.get_final_message()
    return final, stopped


def _as_blocks(message: dict[str, Any]) -> list[dict[str, Any]]:
    content = message["content"]
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return list(content)


def _brief(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 120 else text[:117] + "..."


if __name__ == "__main__":
    raise SystemExit(main())
