"""Faults on a production-like service (gunicorn subprocesses, PostgreSQL app
database, stub LLM over HTTP): a target database that goes down and comes back,
an LLM failing then recovering, concurrent asks on one session, and a worker
killed with SIGKILL in the middle of an /ask."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from testsupport.fixtures import PASSWORD, connection_fields
from testsupport.llm_stub import StubLLMServer, keyword_responder
from testsupport.serving import (
    Client,
    Gunicorn,
    TcpProxy,
    app_database_migrate,
    database_url_derived,
    serving_env,
)

pytestmark = pytest.mark.slow

GERMANY = "Which customers live in Germany?"
GERMANS = ["Ada Lovelace", "Chen Wei", "Fatima Zahra"]
SERVER_PORTS = {"postgresql": 5432, "mysql": 3306}


@pytest.fixture(scope="module")
def stub() -> Iterator[StubLLMServer]:
    with StubLLMServer(responder=keyword_responder()) as server:
        yield server


@pytest.fixture(autouse=True)
def _stub_reset(stub: StubLLMServer) -> None:
    stub.responder = keyword_responder()
    stub.delay_s = 0.0
    stub.requests.clear()
    stub._failures.clear()


@pytest.fixture(scope="module")
def env(shop_databases: dict[str, Any], stub: StubLLMServer) -> dict[str, str]:
    env = serving_env(
        database_url=database_url_derived("serving"),
        sqlite_dir=shop_databases["sqlite_dir"],
        llm_base_url=stub.base_url,
        TARGET_CONNECT_TIMEOUT_S="3",
    )
    app_database_migrate(env)
    return env


@pytest.fixture(scope="module")
def server(
    env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Gunicorn]:
    # One worker with threads: concurrent asks share the process's engine and
    # compiled agent, the harder case.
    instance = Gunicorn(
        env, workers=1, threads=4, log_dir=tmp_path_factory.mktemp("gunicorn")
    )
    try:
        yield instance.start()
    finally:
        instance.stop()


def _user(base_url: str) -> Client:
    client = Client(base_url)
    client.register_and_login(f"fault-{uuid.uuid4().hex[:8]}@example.com", PASSWORD)
    return client


def _fields(db_type: str, **overrides: Any) -> dict[str, Any]:
    fields = connection_fields(db_type)
    if "password" in fields:
        fields["db_password"] = fields.pop("password")
    return {**fields, **overrides}


def _turns(client: Client, session_id: str) -> list[dict[str, Any]]:
    response = client.get(f"/threads/{session_id}")
    assert response.status_code == 200, response.text
    return response.json()["turns"]


def _wait_for(condition: Any, timeout_s: float = 20) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)


@pytest.mark.parametrize("db_type", ["postgresql", "mysql"])
def test_a_restarted_target_database_is_502_while_down_then_reconnects_by_itself(
    server, db_type
):
    proxy = TcpProxy(SERVER_PORTS[db_type]).start()
    try:
        client = _user(server.url)
        session_id = client.connect(_fields(db_type, port=proxy.port))
        assert client.post("/ask", {"question": GERMANY}).status_code == 200

        proxy.stop()
        down = client.post("/ask", {"question": GERMANY})
        proxy.start()
        back = client.post("/ask", {"question": GERMANY})
    finally:
        proxy.stop()

    assert down.status_code == 502
    assert "database" in down.json()["detail"].lower()
    assert back.status_code == 200, back.text
    assert [r[1] for r in back.json()["result"]["rows"]] == GERMANS
    assert [t["status"] for t in _turns(client, session_id)] == ["ok", "error", "ok"]


@pytest.mark.parametrize("status", [429, 500])
def test_an_llm_failing_then_recovering_is_retried_and_the_turn_stored_once(
    server, stub, status
):
    client = _user(server.url)
    session_id = client.connect(_fields("sqlite"))
    stub.fail_next(2, status)  # LLM_MAX_RETRIES=2: the third attempt answers

    response = client.post("/ask", {"question": GERMANY})

    assert response.status_code == 200, response.text
    assert [r[1] for r in response.json()["result"]["rows"]] == GERMANS
    assert len(stub.requests) == 4  # two failures, then tool call and answer
    turns = _turns(client, session_id)
    assert [(t["question"], t["status"]) for t in turns] == [(GERMANY, "ok")]


def test_an_llm_still_failing_after_its_retries_is_502_and_asking_again_works(
    server, stub
):
    client = _user(server.url)
    session_id = client.connect(_fields("sqlite"))
    stub.fail_next(3, 500)

    failed = client.post("/ask", {"question": GERMANY})
    again = client.post("/ask", {"question": GERMANY})

    assert failed.status_code == 502
    assert "HTTP 500" in failed.json()["detail"]
    assert again.status_code == 200, again.text
    turns = _turns(client, session_id)
    assert [(t["question"], t["status"]) for t in turns] == [
        (GERMANY, "error"),
        (GERMANY, "ok"),
    ]


def test_two_concurrent_asks_on_one_session_store_both_turns_once_in_order(
    server, stub
):
    client = _user(server.url)
    session_id = client.connect(_fields("sqlite"))
    stub.delay_s = 0.5  # both asks are inside the agent loop at the same time
    questions = [GERMANY, "List the orders"]
    responses: dict[str, httpx.Response] = {}

    def ask(question: str) -> None:
        responses[question] = client.with_base_url(server.url).post(
            "/ask", {"question": question}
        )

    threads = [threading.Thread(target=ask, args=(q,)) for q in questions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert {q: r.status_code for q, r in responses.items()} == {
        GERMANY: 200,
        "List the orders": 200,
    }
    # Each answer holds its own question's rows, not the other one's.
    assert responses[GERMANY].json()["result"]["row_count"] == 3
    assert responses["List the orders"].json()["result"]["row_count"] == 6
    turns = _turns(client, session_id)
    assert sorted(t["question"] for t in turns) == sorted(questions)
    assert all(t["status"] == "ok" for t in turns)
    assert [t["turn_id"] for t in turns] == sorted(
        r.json()["turn_id"] for r in responses.values()
    )
    assert [t["created_at"] for t in turns] == sorted(t["created_at"] for t in turns)


def _ask_in_background(client: Client, question: str) -> threading.Thread:
    def ask() -> None:
        # The worker dies under it: no answer comes back.
        with contextlib.suppress(httpx.HTTPError):
            client.post("/ask", {"question": question})

    thread = threading.Thread(target=ask, daemon=True)
    thread.start()
    return thread


def _session_with_two_answers(
    server: Gunicorn, stub: StubLLMServer
) -> tuple[Client, str]:
    client = _user(server.url)
    session_id = client.connect(_fields("postgresql"))
    for question in (GERMANY, "How many customers are there?"):
        assert client.post("/ask", {"question": question}).status_code == 200
    return client, session_id


def _interrupted_ask(client: Client, stub: StubLLMServer) -> threading.Thread:
    # The LLM takes long enough for the ask to be caught mid-flight.
    stub.delay_s = 30
    before = len(stub.requests)
    thread = _ask_in_background(
        client.with_base_url(str(client.http.base_url)), "orders?"
    )
    _wait_for(lambda: len(stub.requests) > before)
    return thread


def _assert_survived(client: Client, session_id: str, stub: StubLLMServer) -> None:
    turns = _turns(client, session_id)
    assert [(t["question"], t["status"]) for t in turns] == [
        (GERMANY, "ok"),
        ("How many customers are there?", "ok"),
        ("orders?", "error"),
    ]
    assert "Ada Lovelace" in turns[0]["answer"]
    assert turns[1]["result"]["rows"] == [[6]]
    assert turns[2]["error_code"] == "interrupted"
    assert turns[2]["finished_at"] is not None
    # Same token, same stored (encrypted) password: asking again just works.
    stub.delay_s = 0
    again = client.post("/ask", {"question": "List the orders"})
    assert again.status_code == 200, again.text
    assert again.json()["result"]["row_count"] == 6


def test_a_service_killed_mid_ask_restarts_with_the_interrupted_turn_failed(
    env, stub, tmp_path
):
    first = Gunicorn(env, workers=1, log_dir=tmp_path)
    second = Gunicorn(env, workers=1, port=None, log_dir=tmp_path)
    try:
        first.start()
        client, session_id = _session_with_two_answers(first, stub)
        background = _interrupted_ask(client, stub)

        first.kill()  # SIGKILL, master and worker: nothing gets to clean up
        background.join(timeout=10)
        second.start()

        _assert_survived(client.with_base_url(second.url), session_id, stub)
    finally:
        first.kill()
        second.stop()


def test_a_worker_killed_mid_ask_has_its_turn_failed_by_the_master_at_once(
    env, stub, tmp_path
):
    server = Gunicorn(env, workers=1, log_dir=tmp_path)
    try:
        server.start()
        client, session_id = _session_with_two_answers(server, stub)
        (worker,) = server.worker_pids()
        background = _interrupted_ask(client, stub)

        os.kill(worker, signal.SIGKILL)
        background.join(timeout=10)
        _wait_for(lambda: server.worker_pids() not in ([], [worker]))

        _assert_survived(client, session_id, stub)
    finally:
        server.stop()
