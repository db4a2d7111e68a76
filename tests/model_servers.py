"""Scripted model servers on 127.0.0.1 for the real agent programs (tests/test_real_*.py).

One server per API the programs speak, each a real HTTP server that logs every request (method,
path, JSON body) and plays a script of turns:

- Anthropic Messages API (Claude Code): `POST /v1/messages?beta=true`, streamed as SSE, the
  shell tool `Bash` as `tool_use` blocks; the session-title side request (`tools: []`) gets a
  `{"title": ...}` text.
- OpenAI Responses API (Codex): `POST /v1/responses`, SSE `response.*` events, the shell tool
  `exec_command` as `function_call` items.
- Gemini API (Gemini CLI): `POST /v1beta/models/MODEL:streamGenerateContent?alt=sse`, the shell
  tool `run_shell_command` as `functionCall` parts; non-streamed side requests get JSON.
- OpenAI Chat Completions (aider: shell commands in the reply's text; opencode: the shell tool
  `bash` as streamed `tool_calls`).

A turn is one model response of the main loop: `Shell(command)` (the program's own shell tool)
or `Say(text)` (a final answer). A turn may wait (`delay`, or `hold` until the test sets the
event) before it answers: a slow turn, to catch the program mid-turn. When the script runs out
every further main request is answered `Say("nothing more to do")`, so late nudges get a reply.
Side requests (titles, token counts, classifiers) never consume a turn. ConversationServer
(Anthropic) serves several agents at once: it picks each reply from the request's own
conversation instead of one shared script.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Turn:
    delay: float = 0.0  # seconds to wait before answering
    hold: threading.Event | None = None  # wait (at most 60 s) until the test sets it


@dataclass
class Shell(Turn):
    command: str = ""
    extra: dict[str, Any] = field(default_factory=dict)  # more tool arguments (Codex escalation)


@dataclass
class Say(Turn):
    text: str = ""


def shell(command: str, **kw: Any) -> Shell:
    return Shell(command=command, **kw)


def say(text: str, **kw: Any) -> Say:
    return Say(text=text, **kw)


# The script that proves the loop: prime, do the work, commit, done. `{file}` in a command is
# the file name the test expects.
def idle_script() -> list[Turn]:
    """Prime, then end the turn with a marker and wait: for nudge and restart tests."""
    return [shell("gt prime"), say("Primed. MARKER-BEFORE-KILL: waiting for word.")]


def loop_script(
    file: str = "hello.txt", content: str = "hello from the real program"
) -> list[Turn]:
    return [
        shell("gt prime"),
        shell(f"printf '%s\\n' '{content}' > {file}"),
        shell(f"git add {file} && git commit -q -m 'add {file}'"),
        shell("gt done"),
        say("Done: committed and ran gt done."),
    ]


@dataclass
class Logged:
    method: str
    path: str
    body: dict[str, Any]
    headers: dict[str, str]
    main: bool  # a request of the main loop (it consumed a turn)
    at: float = field(default_factory=time.monotonic)


class ScriptedServer:
    """The common part: request log, the script, the HTTP plumbing. Subclasses answer."""

    kind = "base"

    def __init__(self, script: list[Turn]) -> None:
        self.script = list(script)
        self.log: list[Logged] = []
        self.lock = threading.Lock()
        self.url = ""
        self.calls = 0  # tool calls handed out: ids stay unique across restarts
        self._server: ThreadingHTTPServer | None = None

    # -- what the tests read ----------------------------------------------------------------
    def main_requests(self) -> list[Logged]:
        with self.lock:
            return [r for r in self.log if r.main]

    def bodies_text(self, main_only: bool = True) -> str:
        """Every main request body as JSON text: for `"needle" in server.bodies_text()`."""
        with self.lock:
            return "\n".join(json.dumps(r.body) for r in self.log if r.main or not main_only)

    def seen(self, needle: str) -> bool:
        return needle in self.bodies_text()

    def remaining(self) -> int:
        with self.lock:
            return len(self.script)

    def add(self, *turns: Turn) -> None:
        with self.lock:
            self.script.extend(turns)

    # -- plumbing ---------------------------------------------------------------------------
    def next_turn(self) -> Turn:
        with self.lock:
            turn = self.script.pop(0) if self.script else Say(text="nothing more to do")
        return self.wait(turn)

    def turn_for(self, body: dict[str, Any]) -> Turn:
        """The reply to a main request: the next turn of the one script (ConversationServer
        chooses from the request instead)."""
        return self.next_turn()

    def wait(self, turn: Turn) -> Turn:
        if turn.hold is not None:
            turn.hold.wait(60.0)
        if turn.delay:
            time.sleep(turn.delay)
        return turn

    def record(self, handler: BaseHTTPRequestHandler, body: dict[str, Any], main: bool) -> None:
        with self.lock:
            self.log.append(
                Logged(handler.command, handler.path, body, dict(handler.headers.items()), main)
            )

    def take_turn(self, handler: _Handler, body: dict[str, Any], endpoint: str) -> Turn | None:
        """The turn for a request to `endpoint` (None: anything else, answered 404). A request
        that offers tools is the program's main loop; one without (a session title) gets a
        fixed text and uses up no turn."""
        path = handler.path.split("?", 1)[0]
        if not path.endswith(endpoint):
            self.record(handler, body, main=False)
            handler.send_json({"error": {"message": "not scripted"}}, status=404)
            return None
        main = bool(body.get("tools"))
        self.record(handler, body, main=main)
        return self.next_turn() if main else Say(text="Scripted test session")

    def new_call_id(self) -> str:
        with self.lock:
            self.calls += 1
            return f"call_{self.kind}_{self.calls:04d}"

    def handle(self, handler: _Handler, body: dict[str, Any]) -> None:
        raise NotImplementedError

    def start(self) -> None:
        owner = self

        class Handler(_Handler):
            server_owner = owner

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


class _Handler(BaseHTTPRequestHandler):
    server_owner: ScriptedServer
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def _body(self) -> dict[str, Any]:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            loaded = json.loads(raw or b"{}")
        except ValueError:
            return {"_raw": raw.decode("utf-8", "replace")}
        return loaded if isinstance(loaded, dict) else {"_json": loaded}

    def do_HEAD(self) -> None:  # Claude Code probes its base URL
        self.server_owner.record(self, {}, main=False)
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    def do_GET(self) -> None:
        self.server_owner.record(self, {}, main=False)
        if self.path.startswith("/npm/"):  # opencode's npm install: a 404 ends it at once
            self.send_json({"error": "Not found"}, status=404)
            return
        self.send_json({"data": [], "models": []})

    def do_POST(self) -> None:
        body = self._body()
        try:
            self.server_owner.handle(self, body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the program went away (a kill -9 mid-turn)

    def send_json(self, payload: Any, status: int = 200) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def send_sse(self, events: list[tuple[str | None, Any]], done: bool = False) -> None:
        chunks = []
        for name, data in events:
            head = f"event: {name}\n" if name else ""
            chunks.append(f"{head}data: {json.dumps(data)}\n\n".encode())
        if done:
            chunks.append(b"data: [DONE]\n\n")
        stream = b"".join(chunks)
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("cache-control", "no-cache")
        self.send_header("content-length", str(len(stream)))
        self.end_headers()
        self.wfile.write(stream)


# -- Anthropic Messages API (Claude Code) ------------------------------------------------------
class AnthropicServer(ScriptedServer):
    kind = "anthropic"
    usage = {"input_tokens": 1200, "output_tokens": 40, "cache_read_input_tokens": 300,
             "cache_creation_input_tokens": 50}  # fmt: skip

    def handle(self, handler: _Handler, body: dict[str, Any]) -> None:
        path = handler.path.split("?", 1)[0]
        if path.endswith("/count_tokens"):
            self.record(handler, body, main=False)
            handler.send_json({"input_tokens": 1000})
            return
        if not path.endswith("/v1/messages"):
            self.record(handler, body, main=False)
            handler.send_json({"error": "not scripted"}, status=404)
            return
        main = bool(body.get("tools"))
        self.record(handler, body, main=main)
        if main:
            turn = self.turn_for(body)
            if isinstance(turn, Shell):
                block: dict[str, Any] = {"type": "tool_use", "id": "toolu_" + self.new_call_id(),
                    "name": "Bash", "input": {"command": turn.command,
                                               "description": f"Run {turn.command}"}}  # fmt: skip
                content, stop = [block], "tool_use"
            else:
                content, stop = [{"type": "text", "text": getattr(turn, "text", "")}], "end_turn"
        else:
            # Side requests without tools: the session title wants JSON, others plain text.
            content = [{"type": "text", "text": json.dumps({"title": "Scripted test session"})}]
            stop = "end_turn"
        model = str(body.get("model") or "claude-test")
        if not body.get("stream"):
            handler.send_json(self._message(content, stop, model))
            return
        handler.send_sse(self._events(content, stop, model))

    def _message(self, content: list[dict[str, Any]], stop: str, model: str) -> dict[str, Any]:
        return {"id": f"msg_{len(self.log):05d}", "type": "message", "role": "assistant",
                "model": model, "content": content, "stop_reason": stop, "stop_sequence": None,
                "usage": dict(self.usage)}  # fmt: skip

    def _events(self, content: list[dict[str, Any]], stop: str, model: str) -> list[Any]:
        start = {**self._message([], stop, model), "stop_reason": None,
                 "usage": {**self.usage, "output_tokens": 1}}  # fmt: skip
        events: list[tuple[str | None, Any]] = [
            ("message_start", {"type": "message_start", "message": start})
        ]
        for n, block in enumerate(content):
            if block["type"] == "text":
                first = {"type": "text", "text": ""}
                delta = {"type": "text_delta", "text": block["text"]}
            else:
                first = {**block, "input": {}}
                delta = {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}
            events.append(
                (
                    "content_block_start",
                    {"type": "content_block_start", "index": n, "content_block": first},
                )
            )
            events.append(
                ("content_block_delta", {"type": "content_block_delta", "index": n, "delta": delta})
            )
            events.append(("content_block_stop", {"type": "content_block_stop", "index": n}))
        events.append(("message_delta", {"type": "message_delta",
                       "delta": {"stop_reason": stop, "stop_sequence": None},
                       "usage": {"output_tokens": self.usage["output_tokens"]}}))  # fmt: skip
        events.append(("message_stop", {"type": "message_stop"}))
        return events


class ConversationServer(AnthropicServer):
    """An Anthropic server for several Claude Code agents at once (tests/test_real_support.py):
    each reply is chosen from the request itself, so agents working in parallel cannot take
    each other's turns. `scripts` maps a needle (e.g. `assigned BEAD-ID`, from the beacon of
    dispatch/agents.py) to that conversation's turns. The conversation's current script is the
    last needle in a user text block (a long-lived agent's later beacon starts its next
    script); the turn index is how many tool results followed it."""

    kind = "conversation"

    def __init__(self, scripts: dict[str, list[Turn]]) -> None:
        super().__init__([])
        self.scripts = dict(scripts)

    def position(self, body: dict[str, Any]) -> tuple[str | None, int]:
        """(the needle this conversation is working on, tool results since its prompt)."""
        key: str | None = None
        results = 0
        for message in body.get("messages") or []:
            if message.get("role") != "user":
                continue
            content = message.get("content")
            blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
            for block in blocks or []:
                if block.get("type") == "tool_result":
                    results += 1
                elif block.get("type") == "text":
                    text = str(block.get("text") or "")
                    found = [k for k in self.scripts if k in text]
                    if found:
                        key, results = max(found, key=text.rfind), 0
        return key, results

    def step_of(self, body: dict[str, Any]) -> str | None:
        return self.position(body)[0]

    def turn_for(self, body: dict[str, Any]) -> Turn:
        key, index = self.position(body)
        script = self.scripts.get(key or "", [])
        turn = script[index] if index < len(script) else Say(text="nothing more to do")
        return self.wait(turn)


# -- OpenAI Responses API (Codex) --------------------------------------------------------------
class ResponsesServer(ScriptedServer):
    kind = "openai"

    def handle(self, handler: _Handler, body: dict[str, Any]) -> None:
        turn = self.take_turn(handler, body, "/responses")
        if turn is None:
            return
        rid = f"resp_{len(self.log):05d}"
        if isinstance(turn, Shell):
            item: dict[str, Any] = {"type": "function_call", "id": "fc_" + self.new_call_id(),
                "call_id": self.new_call_id(), "name": "exec_command",
                "arguments": json.dumps({"cmd": turn.command, **turn.extra})}  # fmt: skip
        else:
            item = {"type": "message", "id": f"msg_{len(self.log):05d}", "role": "assistant",
                    "status": "completed",
                    "content": [{"type": "output_text", "text": getattr(turn, "text", ""),
                                 "annotations": []}]}  # fmt: skip
        usage = {"input_tokens": 1500, "input_tokens_details": {"cached_tokens": 500},
                 "output_tokens": 30, "output_tokens_details": {"reasoning_tokens": 0},
                 "total_tokens": 1530}  # fmt: skip
        events: list[tuple[str | None, Any]] = [
            ("response.created", {"type": "response.created",
                                  "response": {"id": rid, "status": "in_progress"}}),
            ("response.output_item.added", {"type": "response.output_item.added",
                                            "output_index": 0, "item": item}),
        ]  # fmt: skip
        if item["type"] == "message":
            events.append(("response.output_text.delta", {"type": "response.output_text.delta",
                           "item_id": item["id"], "output_index": 0, "content_index": 0,
                           "delta": item["content"][0]["text"]}))  # fmt: skip
        events += [
            ("response.output_item.done", {"type": "response.output_item.done",
                                           "output_index": 0, "item": item}),
            ("response.completed", {"type": "response.completed",
                                    "response": {"id": rid, "status": "completed",
                                                 "usage": usage}}),
        ]  # fmt: skip
        handler.send_sse(events)


# -- Gemini API (Gemini CLI) -------------------------------------------------------------------
class GeminiServer(ScriptedServer):
    kind = "gemini"

    def handle(self, handler: _Handler, body: dict[str, Any]) -> None:
        path = handler.path.split("?", 1)[0]
        usage = {"promptTokenCount": 2000, "candidatesTokenCount": 25,
                 "cachedContentTokenCount": 0, "totalTokenCount": 2025}  # fmt: skip
        if path.endswith(":countTokens"):
            self.record(handler, body, main=False)
            handler.send_json({"totalTokens": 1000})
            return
        if path.endswith(":streamGenerateContent"):
            main = bool(body.get("tools"))
            self.record(handler, body, main=main)
            turn = self.next_turn() if main else Say(text="ok")
            if isinstance(turn, Shell):
                part: dict[str, Any] = {"functionCall": {"name": "run_shell_command",
                    "args": {"command": turn.command,
                             "description": f"Run {turn.command}"}}}  # fmt: skip
            else:
                part = {"text": getattr(turn, "text", "")}
            chunk = {"candidates": [{"content": {"role": "model", "parts": [part]},
                                     "finishReason": "STOP", "index": 0}],
                     "usageMetadata": usage, "modelVersion": "gemini-test"}  # fmt: skip
            handler.send_sse([(None, chunk)])
            return
        if path.endswith(":generateContent"):
            # Side requests (next-speaker check, model routing, loop detection) want JSON.
            self.record(handler, body, main=False)
            answer = self.side_answer(body)
            handler.send_json({"candidates": [{"content": {"role": "model",
                               "parts": [{"text": answer}]}, "finishReason": "STOP",
                               "index": 0}], "usageMetadata": usage})  # fmt: skip
            return
        self.record(handler, body, main=False)
        handler.send_json({"error": {"message": "not scripted"}}, status=404)

    side_answers: dict[str, str] = {
        "next_speaker": json.dumps({"reasoning": "done", "next_speaker": "user"}),
        "model_choice": json.dumps({"reasoning": "simple", "model_choice": "flash"}),
    }

    def side_answer(self, body: dict[str, Any]) -> str:
        text = json.dumps(body)
        for key, answer in self.side_answers.items():
            if key in text:
                return answer
        return "{}"


# -- OpenAI Chat Completions API (aider, through litellm) --------------------------------------
class ChatServer(ScriptedServer):
    """aider has no shell tool: it applies edits from the reply's text and offers to run the
    shell commands in its ```bash blocks. A `Shell` turn is such a block; `Say` is plain text
    (an edit in aider's "whole" format is plain text too). Its commit-message requests are side
    requests."""

    kind = "chat"

    def handle(self, handler: _Handler, body: dict[str, Any]) -> None:
        path = handler.path.split("?", 1)[0]
        if not path.endswith("/chat/completions"):
            self.record(handler, body, main=False)
            handler.send_json({"error": {"message": "not scripted"}}, status=404)
            return
        system = " ".join(
            str(m.get("content")) for m in body.get("messages", []) if m.get("role") == "system"
        )
        main = "commit message" not in system.lower()
        self.record(handler, body, main=main)
        turn = self.next_turn() if main else Say(text="add the scripted change")
        if isinstance(turn, Shell):
            text = f"Running it now.\n\n```bash\n{turn.command}\n```\n"
        else:
            text = getattr(turn, "text", "")
        model = str(body.get("model") or "gpt-test")
        usage = {"prompt_tokens": 900, "completion_tokens": 35, "total_tokens": 935}
        cid = f"chatcmpl-{len(self.log):05d}"
        if not body.get("stream"):
            handler.send_json({"id": cid, "object": "chat.completion", "model": model,
                               "choices": [{"index": 0, "finish_reason": "stop",
                                            "message": {"role": "assistant", "content": text}}],
                               "usage": usage})  # fmt: skip
            return
        chunks: list[tuple[str | None, Any]] = [
            (None, {"id": cid, "object": "chat.completion.chunk", "model": model,
                    "choices": [{"index": 0, "delta": {"role": "assistant", "content": text},
                                 "finish_reason": None}]}),
            (None, {"id": cid, "object": "chat.completion.chunk", "model": model,
                    "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                    "usage": usage}),
        ]  # fmt: skip
        handler.send_sse(chunks, done=True)


# -- OpenAI Chat Completions with tools (opencode, through @ai-sdk/openai-compatible) ----------
class ToolChatServer(ScriptedServer):
    """opencode's main loop offers tools (its shell tool is `bash` with `{command, description,
    workdir, timeout}`) and gets tool results back as `{"role": "tool"}` messages; its side
    requests (the session title: `You are a title generator`) come without tools."""

    kind = "toolchat"

    def handle(self, handler: _Handler, body: dict[str, Any]) -> None:
        turn = self.take_turn(handler, body, "/chat/completions")
        if turn is None:
            return
        model = str(body.get("model") or "gpt-test")
        cid = f"chatcmpl-{len(self.log):05d}"
        usage = {"prompt_tokens": 1000, "completion_tokens": 30, "total_tokens": 1030}

        def chunk(delta: dict[str, Any], finish: str | None = None, **more: Any) -> Any:
            return (None, {"id": cid, "object": "chat.completion.chunk", "model": model,
                           "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                           **more})  # fmt: skip

        if isinstance(turn, Shell):
            args = json.dumps({"command": turn.command, "description": "Run a command",
                               **turn.extra})  # fmt: skip
            call = {"index": 0, "id": self.new_call_id(), "type": "function",
                    "function": {"name": "bash", "arguments": ""}}  # fmt: skip
            chunks = [
                chunk({"role": "assistant", "content": None, "tool_calls": [call]}),
                chunk({"tool_calls": [{"index": 0, "function": {"arguments": args}}]}),
                chunk({}, "tool_calls", usage=usage),
            ]
        else:
            chunks = [
                chunk({"role": "assistant", "content": getattr(turn, "text", "")}),
                chunk({}, "stop", usage=usage),
            ]
        handler.send_sse(chunks, done=True)


SERVERS: dict[str, Callable[[list[Turn]], ScriptedServer]] = {
    "claude": AnthropicServer,
    "codex": ResponsesServer,
    "gemini": GeminiServer,
    "aider": ChatServer,
    "opencode": ToolChatServer,
}


@contextmanager
def serving(program: str, script: list[Turn]) -> Iterator[ScriptedServer]:
    server = SERVERS[program](script)
    server.start()
    try:
        yield server
    finally:
        server.stop()
