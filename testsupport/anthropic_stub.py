"""An Anthropic Messages API server on 127.0.0.1, for tests: the real
`ChatAnthropic` client talks to it over HTTP (`POST /v1/messages`, JSON and SSE).

It speaks the wire format as Anthropic documents it: content blocks (`text`,
`tool_use`, `thinking`), `stop_reason` (`end_turn`, `tool_use`, `max_tokens`,
`refusal`), usage, the streamed events (`message_start`, `content_block_*`,
`message_delta`, `message_stop`) and errors as `{"type": "error", "error":
{"type", "message"}}` (429 `rate_limit_error`, 529 `overloaded_error`).
It answers with the same `StubReply` and responders as the OpenAI stub: a
responder reads the request in Anthropic's shape.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from testsupport.llm_stub import StubReply, estimate_tokens
from testsupport.loopback import serve_in_thread

AnthropicResponder = Callable[[dict[str, Any]], StubReply]

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


def anthropic_last_tool_result(body: dict[str, Any]) -> str | None:
    """Return the text of the last message's tool_result block, or None."""
    messages = body.get("messages") or []
    if not messages or messages[-1].get("role") != "user":
        return None
    content = messages[-1].get("content")
    if not isinstance(content, list):
        return None
    for block in content:
        if isinstance(block, dict) and block.get("type") == "tool_result":
            inner = block.get("content")
            if isinstance(inner, list):
                return "".join(part.get("text", "") for part in inner)
            return str(inner or "")
    return None


def anthropic_keyword_responder(sql: str) -> AnthropicResponder:
    """Call run_query with `sql`, then answer with the rows it was shown."""

    def respond(body: dict[str, Any]) -> StubReply:
        rows = anthropic_last_tool_result(body)
        if rows is not None:
            return StubReply(content=f"Here is what I found:\n{rows[:2000]}")
        return StubReply(tool_calls=[("run_query", {"sql": sql})])

    return respond


class StubAnthropicServer:
    """A threaded HTTP server speaking `/v1/messages`."""

    def __init__(self, responder: AnthropicResponder, *, model: str = "claude-stub"):
        self.responder = responder
        self.model = model
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> StubAnthropicServer:
        serve_in_thread(self._server)
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def message(self, body: dict[str, Any], reply: StubReply) -> dict[str, Any]:
        """Return the Messages API answer for `reply`."""
        content: list[dict[str, Any]] = []
        if reply.reasoning_content:
            content.append(
                {
                    "type": "thinking",
                    "thinking": reply.reasoning_content,
                    "signature": "stub-signature",
                }
            )
        if reply.content:
            content.append({"type": "text", "text": reply.content})
        for name, args in reply.tool_calls:
            content.append(
                {
                    "type": "tool_use",
                    "id": f"toolu_{uuid.uuid4().hex[:12]}",
                    "name": name,
                    "input": args,
                }
            )
        stop = {"length": "max_tokens"}.get(reply.finish_reason or "") or (
            reply.finish_reason or ("tool_use" if reply.tool_calls else "end_turn")
        )
        return {
            "id": f"msg_{uuid.uuid4().hex[:12]}",
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": content,
            "stop_reason": stop,
            "stop_sequence": None,
            "usage": {
                "input_tokens": estimate_tokens(body.get("messages")),
                "output_tokens": estimate_tokens(content),
            },
        }

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:
                return

            def _send_json(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                if status in (429, 529):
                    self.send_header("Retry-After", "0")
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                if not self.path.split("?")[0].rstrip("/").endswith("/v1/messages"):
                    self._send_json(404, {"type": "error", "error": {}})
                    return
                with stub._lock:
                    stub.requests.append(body)
                    stub.headers.append({k.lower(): v for k, v in self.headers.items()})
                reply = stub.responder(body)
                if reply.status != 200:
                    kind = _ERROR_TYPES.get(reply.status, "api_error")
                    error = {"type": kind, "message": reply.error or kind}
                    self._send_json(reply.status, {"type": "error", "error": error})
                    return
                message = stub.message(body, reply)
                if body.get("stream"):
                    self._send_stream(message)
                else:
                    self._send_json(200, message)

            def _send_stream(self, message: dict[str, Any]) -> None:
                events: list[tuple[str, dict[str, Any]]] = [
                    (
                        "message_start",
                        {
                            "type": "message_start",
                            "message": {
                                **message,
                                "content": [],
                                "stop_reason": None,
                                "usage": {
                                    "input_tokens": message["usage"]["input_tokens"],
                                    "output_tokens": 1,
                                },
                            },
                        },
                    )
                ]
                for index, block in enumerate(message["content"]):
                    events += _block_events(index, block)
                events.append(
                    (
                        "message_delta",
                        {
                            "type": "message_delta",
                            "delta": {
                                "stop_reason": message["stop_reason"],
                                "stop_sequence": None,
                            },
                            # Cumulative, as the API sends it.
                            "usage": message["usage"],
                        },
                    )
                )
                events.append(("message_stop", {"type": "message_stop"}))
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for name, data in events:
                    frame = f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(frame), frame))
                    self.wfile.flush()
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()

        return Handler


def _block_events(
    index: int, block: dict[str, Any]
) -> list[tuple[str, dict[str, Any]]]:
    """Return one content block as Anthropic streams it: start, deltas, stop."""
    kind = block["type"]
    if kind == "text":
        start: dict[str, Any] = {"type": "text", "text": ""}
        deltas = [
            {"type": "text_delta", "text": word}
            for word in re.findall(r"\s*\S+\s*", block["text"])
        ]
    elif kind == "thinking":
        start = {"type": "thinking", "thinking": "", "signature": ""}
        deltas = [
            {"type": "thinking_delta", "thinking": block["thinking"]},
            {"type": "signature_delta", "signature": block["signature"]},
        ]
    else:
        start = {**block, "input": {}}
        raw = json.dumps(block["input"])
        deltas = [
            {"type": "input_json_delta", "partial_json": raw[i : i + 10]}
            for i in range(0, len(raw), 10)
        ]
    events = [
        (
            "content_block_start",
            {"type": "content_block_start", "index": index, "content_block": start},
        )
    ]
    events += [
        (
            "content_block_delta",
            {"type": "content_block_delta", "index": index, "delta": d},
        )
        for d in deltas
    ]
    events.append(
        ("content_block_stop", {"type": "content_block_stop", "index": index})
    )
    return events
