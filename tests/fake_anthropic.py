"""A real HTTP server on 127.0.0.1 that speaks enough of the Anthropic Messages API for tests.

It serves POST /v1/messages (plain JSON, or server-sent events when the request asks for a
stream) from a script of replies, and records every request. A reply can also be an error
status (with headers such as retry-after), a stream cut off mid-body, or a stream that ends
without `message_stop` — the failure modes the built-in agent must treat as failures.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def text(value: str) -> dict[str, Any]:
    return {"type": "text", "text": value}


def tool_use(name: str, arguments: dict[str, Any], ident: str) -> dict[str, Any]:
    return {"type": "tool_use", "id": ident, "name": name, "input": arguments}


@dataclass
class Reply:
    content: list[dict[str, Any]] = field(default_factory=list)
    stop_reason: str | None = "end_turn"
    input_tokens: int = 100
    output_tokens: int = 20
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    cut_stream: bool = False  # close the connection half-way through the events
    no_message_stop: bool = False  # end the stream cleanly but without message_stop


@dataclass
class FakeAnthropic:
    replies: list[Any]  # Reply, or a callable(requests) -> Reply
    requests: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""

    def next_reply(self) -> Reply:
        if not self.replies:
            return Reply(status=500, content=[text("the test script ran out of replies")])
        reply = self.replies.pop(0)
        # A callable reply is made from the requests so far (it can use ids the tools made).
        return reply(self.requests) if callable(reply) else reply


def _message(reply: Reply, model: str, index: int) -> dict[str, Any]:
    return {
        "id": f"msg_{index:04d}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": reply.content,
        "stop_reason": reply.stop_reason,
        "stop_sequence": None,
        "usage": {"input_tokens": reply.input_tokens, "output_tokens": reply.output_tokens},
    }


def _events(reply: Reply, model: str, index: int) -> list[tuple[str, dict[str, Any]]]:
    start = _message(reply, model, index)
    start = {**start, "content": [], "stop_reason": None,
             "usage": {"input_tokens": reply.input_tokens, "output_tokens": 1}}  # fmt: skip
    events: list[tuple[str, dict[str, Any]]] = [
        ("message_start", {"type": "message_start", "message": start})
    ]
    for n, block in enumerate(reply.content):
        if block["type"] == "text":
            events.append(("content_block_start", {"type": "content_block_start", "index": n,
                           "content_block": {"type": "text", "text": ""}}))  # fmt: skip
            events.append(("content_block_delta", {"type": "content_block_delta", "index": n,
                           "delta": {"type": "text_delta", "text": block["text"]}}))  # fmt: skip
        else:
            events.append(("content_block_start", {"type": "content_block_start", "index": n,
                           "content_block": {**block, "input": {}}}))  # fmt: skip
            events.append(("content_block_delta", {"type": "content_block_delta", "index": n,
                           "delta": {"type": "input_json_delta",
                                     "partial_json": json.dumps(block["input"])}}))  # fmt: skip
        events.append(("content_block_stop", {"type": "content_block_stop", "index": n}))
    events.append(("message_delta", {"type": "message_delta",
                   "delta": {"stop_reason": reply.stop_reason, "stop_sequence": None},
                   "usage": {"output_tokens": reply.output_tokens}}))  # fmt: skip
    if not reply.no_message_stop:
        events.append(("message_stop", {"type": "message_stop"}))
    return events


class _Handler(BaseHTTPRequestHandler):
    fake: FakeAnthropic
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        self.fake.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
        reply = self.fake.next_reply()
        index = len(self.fake.requests)
        model = str(body.get("model", "claude-test"))
        if reply.status != 200:
            payload = json.dumps(
                {"type": "error", "error": {"type": "api_error", "message": "scripted error"}}
            ).encode()
            self.send_response(reply.status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(payload)))
            for key, value in reply.headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(payload)
            return
        if not body.get("stream"):
            payload = json.dumps(_message(reply, model, index)).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            return
        events = _events(reply, model, index)
        chunks = [f"event: {name}\ndata: {json.dumps(data)}\n\n".encode() for name, data in events]
        stream = b"".join(chunks)
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        if reply.cut_stream:
            # Promise the whole body, send half of it, hang up: a connection lost mid-stream.
            self.send_header("content-length", str(len(stream)))
            self.end_headers()
            self.wfile.write(stream[: len(stream) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.send_header("content-length", str(len(stream)))
        self.end_headers()
        self.wfile.write(stream)


@contextmanager
def serve(replies: list[Any]) -> Iterator[FakeAnthropic]:
    fake = FakeAnthropic(list(replies))
    handler = type("Handler", (_Handler,), {"fake": fake})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
