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


def _streamed(client: httpx.Client, token: str) -> dict[str, float]:
    """Return ms to the first event and to `done` of one streamed ask."""
    headers = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}
    started = time.perf_counter()
    first = done = 0.0
    with client.stream(
        "POST", "/ask", json={"question": QUESTION}, headers=headers
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


def _plain(client: httpx.Client, token: str) -> float:
    """Return ms to the first byte of the same ask answered as JSON."""
    headers = {"Authorization": f"Bearer {token}"}
    started = time.perf_counter()
    with client.stream(
        "POST", "/ask", json={"question": QUESTION}, headers=headers
    ) as response:
        chunks = response.iter_raw()
        body = next(chunks)
        ms = (time.perf_counter() - started) * 1000
        body += b"".join(chunks)
    if response.status_code != 200:
        raise RuntimeError(f"/ask answered {response.status_code}: {body[:200]!r}")
    json.loads(body)
    return ms


def _at_once(fn: Any, clients: list[httpx.Client], tokens: list[str]) -> list[Any]:
    # Clients are made beforehand: building one (its TLS context) costs tens of
    # milliseconds of this process's CPU, which is not the server's latency.
    results: list[Any] = [None] * len(tokens)

    def run(i: int) -> None:
        results[i] = fn(clients[i], tokens[i])

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
            clients = [httpx.Client(base_url=server.url, timeout=60) for _ in tokens]
            try:
                server.start()
                # Warm both workers (imports, engines, agents) before timing.
                _at_once(_plain, clients, tokens)
                alone = [
                    _streamed(clients[0], tokens[0])["first_ms"]
                    for _ in range(SEQUENTIAL)
                ]
                streamed: list[dict[str, float]] = []
                plain: list[float] = []
                for _ in range(ROUNDS):
                    streamed += _at_once(_streamed, clients, tokens)
                    plain += _at_once(_plain, clients, tokens)
            finally:
                server.stop()
                for client in clients:
                    client.close()
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
