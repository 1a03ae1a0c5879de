"""An OpenAI-compatible chat-completions server on 127.0.0.1, for tests, benchmarks
and load runs: the real `ChatOpenAI` client talks to it over HTTP.

It records every request body (so tests can check what the agent sent, e.g. the
history of earlier turns) and answers from a `responder`: a function from the
request body to a `StubReply` (text, tool calls, or an HTTP error to inject).
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from testsupport.loopback import serve_in_thread


@dataclass
class StubReply:
    """What the stub answers to one chat-completions request."""

    content: str | None = None
    tool_calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    status: int = 200
    error: str | None = None
    # The error's `code` (Azure's "content_filter", OpenAI's "context_length_exceeded").
    error_code: str | None = None
    # Overrides the finish reason ("length": the reply hit the token cap).
    finish_reason: str | None = None
    # A separate thoughts field (vLLM, DeepSeek), streamed before the content.
    reasoning_content: str | None = None
    # Servers that send neither usage nor a finish reason.
    no_usage: bool = False
    no_finish_reason: bool = False


Responder = Callable[[dict[str, Any]], StubReply]


def estimate_tokens(payload: Any) -> int:
    """Return a rough token count (4 characters a token), as the stub reports usage."""
    return max(1, len(json.dumps(payload)) // 4)


def last_user_question(body: dict[str, Any]) -> str:
    for message in reversed(body.get("messages", [])):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):
                return " ".join(part.get("text", "") for part in content)
            return content or ""
    return ""


def _last_message(body: dict[str, Any]) -> dict[str, Any]:
    messages = body.get("messages") or [{}]
    return messages[-1]


DEFAULT_RULES: tuple[tuple[str, str], ...] = (
    (
        r"germany|german",
        "SELECT id, name, country FROM customers WHERE country = 'Germany' ORDER BY id",
    ),
    (r"how many customers|count", "SELECT COUNT(*) AS customer_count FROM customers"),
    (r"\border", "SELECT id, customer_id, total FROM orders ORDER BY id"),
    (r"\bnote", "SELECT id, body FROM notes ORDER BY id"),
)
DEFAULT_SQL = "SELECT id, name, country FROM customers ORDER BY id"


def keyword_responder(
    rules: Sequence[tuple[str, str]] = DEFAULT_RULES, default_sql: str = DEFAULT_SQL
) -> Responder:
    """Answer a question with one `run_query` call, then with the rows it returned.

    The SQL is picked by the first rule whose regular expression matches the
    question (case-insensitive).
    """

    def respond(body: dict[str, Any]) -> StubReply:
        last = _last_message(body)
        if last.get("role") == "tool":
            rows = str(last.get("content", ""))
            return StubReply(content=f"Here is what I found:\n{rows[:2000]}")
        question = last_user_question(body)
        sql = default_sql
        for pattern, candidate in rules:
            if re.search(pattern, question, re.IGNORECASE):
                sql = candidate
                break
        return StubReply(tool_calls=[("run_query", {"sql": sql})])

    return respond


def scripted_responder(replies: Sequence[StubReply]) -> Responder:
    """Answer with the given replies in order, one per request."""
    queue = list(replies)
    lock = threading.Lock()

    def respond(body: dict[str, Any]) -> StubReply:
        with lock:
            if not queue:
                return StubReply(status=500, error="The script has no more replies.")
            return queue.pop(0)

    return respond


class StubLLMServer:
    """A threaded HTTP server speaking `/v1/chat/completions`, JSON and SSE."""

    def __init__(
        self,
        responder: Responder | None = None,
        *,
        model: str = "stub-model",
        delay_s: float = 0.0,
        chunk_delay_s: float = 0.0,
        port: int = 0,
        keep_requests: bool = True,
    ):
        self.responder = responder or keyword_responder()
        self.model = model
        self.delay_s = delay_s
        # Pause between streamed words, so a page can be watched answering.
        self.chunk_delay_s = chunk_delay_s
        self.requests: list[dict[str, Any]] = []
        # Each request's path (with its query string) and headers, in order.
        self.paths: list[str] = []
        self.headers: list[dict[str, str]] = []
        # A load run sends far more requests than anyone will read back.
        self.keep_requests = keep_requests
        self._failures: list[tuple[int, str]] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", port), self._handler_class())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        assert isinstance(host, str)  # an AF_INET server's address
        return f"http://{host}:{port}/v1"

    def fail_next(
        self, count: int, status: int = 500, message: str = "stub failure"
    ) -> None:
        """Make the next `count` requests fail with `status` (e.g. 429, 500)."""
        with self._lock:
            self._failures.extend([(status, message)] * count)

    def start(self) -> StubLLMServer:
        self._thread = serve_in_thread(self._server)
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> StubLLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _reply_for(self, body: dict[str, Any]) -> StubReply:
        with self._lock:
            if self.keep_requests:
                self.requests.append(body)
            if self._failures:
                status, message = self._failures.pop(0)
                return StubReply(status=status, error=message)
        if self.delay_s:
            time.sleep(self.delay_s)
        return self.responder(body)

    def _completion(self, body: dict[str, Any], reply: StubReply) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": reply.content}
        if reply.reasoning_content is not None:
            message["reasoning_content"] = reply.reasoning_content
        if reply.tool_calls:
            message["tool_calls"] = [
                {
                    "id": f"call_{uuid.uuid4().hex[:12]}",
                    "type": "function",
                    "function": {"name": name, "arguments": json.dumps(args)},
                }
                for name, args in reply.tool_calls
            ]
        prompt_tokens = estimate_tokens(
            {"messages": body.get("messages"), "tools": body.get("tools")}
        )
        completion_tokens = estimate_tokens(message)
        completion: dict[str, Any] = {
            "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.model,
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "finish_reason": None
                    if reply.no_finish_reason
                    else reply.finish_reason
                    or ("tool_calls" if reply.tool_calls else "stop"),
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }
        if reply.no_usage:
            del completion["usage"]
        return completion

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in two writes: without this, Nagle plus
            # the client's delayed ACK hold every answer back about 40 ms.
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:
                return

            def _send_json(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                if status == 429:
                    self.send_header("Retry-After", "0")
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if self.path.rstrip("/").endswith("/models"):
                    self._send_json(
                        200, {"object": "list", "data": [{"id": stub.model}]}
                    )
                else:
                    self._send_json(404, {"error": {"message": "not found"}})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    body = json.loads(self.rfile.read(length) or b"{}")
                except json.JSONDecodeError:
                    self._send_json(400, {"error": {"message": "invalid JSON"}})
                    return
                # Azure puts the deployment in the path and api-version in the query.
                if (
                    not self.path.split("?")[0]
                    .rstrip("/")
                    .endswith("/chat/completions")
                ):
                    self._send_json(404, {"error": {"message": "not found"}})
                    return
                if stub.keep_requests:
                    stub.paths.append(self.path)
                    stub.headers.append({k.lower(): v for k, v in self.headers.items()})
                reply = stub._reply_for(body)
                if reply.status != 200:
                    error = {"message": reply.error or "error", "type": "stub_error"}
                    if reply.error_code:
                        error["code"] = reply.error_code
                    self._send_json(reply.status, {"error": error})
                    return
                completion = stub._completion(body, reply)
                if body.get("stream"):
                    self._send_stream(body, completion)
                else:
                    self._send_json(200, completion)

            def _send_stream(
                self, body: dict[str, Any], completion: dict[str, Any]
            ) -> None:
                # As OpenAI streams: the text word by word, tool calls, the finish
                # reason, and usage in a last chunk of its own when asked for.
                choice = completion["choices"][0]
                message = choice["message"]
                base = {key: completion[key] for key in ("id", "created", "model")} | {
                    "object": "chat.completion.chunk"
                }

                def chunk(delta: dict[str, Any], finish: str | None = None) -> dict:
                    return base | {
                        "choices": [
                            {"index": 0, "delta": delta, "finish_reason": finish}
                        ]
                    }

                chunks = [chunk({"role": "assistant", "content": ""})]
                thoughts = re.findall(
                    r"\s*\S+\s*", message.get("reasoning_content") or ""
                )
                chunks += [chunk({"reasoning_content": word}) for word in thoughts]
                words = re.findall(r"\s*\S+\s*", message.get("content") or "")
                chunks += [chunk({"content": word}) for word in words]
                if message.get("tool_calls"):
                    calls = [
                        {**call, "index": i}
                        for i, call in enumerate(message["tool_calls"])
                    ]
                    chunks.append(chunk({"tool_calls": calls}))
                chunks.append(chunk({}, choice["finish_reason"]))
                if "usage" in completion and (body.get("stream_options") or {}).get(
                    "include_usage"
                ):
                    chunks.append(base | {"choices": [], "usage": completion["usage"]})
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                try:
                    for item in chunks:
                        choices = item["choices"]
                        if (
                            stub.chunk_delay_s
                            and choices
                            and choices[0]["delta"].get("content")
                        ):
                            time.sleep(stub.chunk_delay_s)
                        self._write_chunk(f"data: {json.dumps(item)}\n\n".encode())
                    self._write_chunk(b"data: [DONE]\n\n")
                    self._write_chunk(b"")
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True

            def _write_chunk(self, data: bytes) -> None:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.flush()

        return Handler
