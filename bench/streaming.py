"""6. Streamed /ask: time to the first Server-Sent Event on gunicorn (the README's
production command, 2 workers) while the model takes D seconds per call, next to
the time to the first byte of the same ask as plain JSON (the whole answer).

One asker asks SEQUENTIAL times alone; then, each asker with its own user,
connection and session, a round sends ASKERS asks at once, each timed from its
request to its `turn` event (and to `done`); the first event must not wait for
the model, whatever D is. A streamed ask holds a
gunicorn thread until it ends, so each worker gets THREADS threads: this row
measures streaming, not how many threads a worker needs (the concurrency table).
"""

from __future__ import annotations

import json
import statistics
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from testsupport.llm_stub import StubLLMServer, keyword_responder
from testsupport.serving import Gunicorn

DELAYS_S = (1.0, 3.0)
ASKERS = 6
ROUNDS = 2
SEQUENTIAL = 5
THREADS = 8
QUESTION = "Which customers live in Germany?"


def _askers(count: int, sqlite_file: str) -> list[str]:
    from bench.common import user_with_token
    from connections.services import (
        connection_create,
        session_connect,
        session_get_or_create_active,
    )

    tokens = []
    for _ in range(count):
        user, token = user_with_token("bench-stream")
        connection = connection_create(
            owner=user, db_type="sqlite", database_name=sqlite_file, host="", port=0
        )
        session_connect(
            session=session_get_or_create_active(user=user), connection=connection
        )
        tokens.append(token)
    from django.db import connections

    connections.close_all()
    return tokens


def _streamed(url: str, token: str) -> dict[str, float]:
    """Return ms to the first event and to `done` of one streamed ask."""
    started = time.perf_counter()
    first = done = 0.0
    headers = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}
    with httpx.stream(
        "POST", f"{url}/ask", json={"question": QUESTION}, headers=headers, timeout=60
    ) as response:
        if response.status_code != 200:
            raise RuntimeError(f"/ask answered {response.status_code}")
        for line in response.iter_lines():
            if line.startswith("event: ") and not first:
                first = (time.perf_counter() - started) * 1000
            if line == "event: done":
                done = (time.perf_counter() - started) * 1000
    if not (first and done):
        raise RuntimeError("the stream ended without its first or last event")
    return {"first_ms": first, "done_ms": done}


def _plain(url: str, token: str) -> float:
    """Return ms to the first byte of the same ask answered as JSON."""
    started = time.perf_counter()
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.stream(
        "POST", f"{url}/ask", json={"question": QUESTION}, headers=headers, timeout=60
    ) as response:
        chunks = response.iter_raw()
        body = next(chunks)
        ms = (time.perf_counter() - started) * 1000
        body += b"".join(chunks)
    if response.status_code != 200:
        raise RuntimeError(f"/ask answered {response.status_code}: {body[:200]!r}")
    json.loads(body)
    return ms


def _at_once(fn: Any, url: str, tokens: list[str]) -> list[Any]:
    results: list[Any] = [None] * len(tokens)

    def run(i: int) -> None:
        results[i] = fn(url, tokens[i])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(tokens))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(r is not None for r in results), "an ask failed"
    return results


def measure(env: dict[str, str], sqlite_file: str, log_dir: Path) -> list[dict]:
    tokens = _askers(ASKERS, sqlite_file)
    rows = []
    for delay in DELAYS_S:
        with StubLLMServer(responder=keyword_responder(), delay_s=delay) as stub:
            server = Gunicorn(
                {**env, "OPENAI_BASE_URL": stub.base_url}, workers=2, threads=THREADS
            )
            server.log_path = log_dir / f"gunicorn-stream-{server.port}.log"
            try:
                server.start()
                # Warm both workers (imports, engines, agents) before timing.
                _at_once(_plain, server.url, tokens)
                alone = [
                    _streamed(server.url, tokens[0])["first_ms"]
                    for _ in range(SEQUENTIAL)
                ]
                streamed: list[dict[str, float]] = []
                plain: list[float] = []
                for _ in range(ROUNDS):
                    streamed += _at_once(_streamed, server.url, tokens)
                    plain += _at_once(_plain, server.url, tokens)
            finally:
                server.stop()
        first = [s["first_ms"] for s in streamed]
        rows.append(
            {
                "delay_s": delay,
                "askers": ASKERS,
                "asks": len(first),
                "alone_p50_ms": statistics.median(alone),
                "alone_max_ms": max(alone),
                "first_p50_ms": statistics.median(first),
                "first_max_ms": max(first),
                "done_p50_ms": statistics.median(s["done_ms"] for s in streamed),
                "plain_first_byte_p50_ms": statistics.median(plain),
            }
        )
    return rows
