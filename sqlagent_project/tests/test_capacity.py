"""Out of a bounded resource, a client gets 503 + Retry-After, never a 500."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db import connection, connections
from django.test import Client
from psycopg_pool import PoolTimeout
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from agent.models import Turn, TurnStatus
from sqlagent_project import capacity


def test_a_full_ask_pool_answers_503_ask_pool_full_and_stores_the_turn_as_failed(
    db, settings, alice, alice_client, connected_session, llm_stub
):
    settings.ASK_MAX_CONCURRENT = 1
    settings.ASK_QUEUE_TIMEOUT_S = 0.1
    connected_session(alice, "sqlite")

    # The one slot of this process is taken by an ask still waiting on its model.
    with capacity.ask_slot():
        response = alice_client.post(
            "/ask", {"question": "How many customers are there?"}, format="json"
        )

    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response.json()["code"] == "ask_pool_full"
    turn = Turn.objects.get()
    assert turn.status == TurnStatus.ERROR
    assert turn.error_code == "ask_pool_full"


def test_an_ask_gets_its_slot_back_once_the_previous_one_is_done(
    db, settings, alice, alice_client, connected_session, llm_stub
):
    settings.ASK_MAX_CONCURRENT = 1
    settings.ASK_QUEUE_TIMEOUT_S = 0.1
    connected_session(alice, "sqlite")

    for _ in range(2):
        response = alice_client.post(
            "/ask", {"question": "How many customers are there?"}, format="json"
        )
        assert response.status_code == 200, response.json()


def test_an_ask_waiting_on_the_model_holds_no_app_database_connection(
    transactional_db, settings, alice, alice_client, connected_session, llm_stub
):
    connected_session(alice, "postgresql")
    seen: dict[str, Any] = {}
    original = llm_stub.responder

    def responder(request: dict[str, Any]) -> Any:
        # The model is being called: the asking thread's connection is back.
        seen.setdefault("pool_stats", connection.pool.get_stats())
        return original(request)

    llm_stub.responder = responder
    connection.close()
    response = alice_client.post(
        "/ask", {"question": "How many customers are there?"}, format="json"
    )

    assert response.status_code == 200, response.json()
    stats = seen["pool_stats"]
    # Every connection the pool opened is idle in the pool while the model thinks.
    assert stats["pool_size"] == stats["pool_available"]


@contextmanager
def app_database_pool_exhausted() -> Iterator[None]:
    """Check out every connection of the app-database pool, as a crowd would."""
    pool = connection.pool
    assert pool is not None, "the app database runs on a psycopg pool"
    connection.close()  # hand this thread's connection back too
    timeout = pool.timeout
    held = []
    try:
        while True:
            try:
                held.append(pool.getconn(timeout=0.3))
            except PoolTimeout:
                break
        pool.timeout = 0.3
        yield
    finally:
        pool.timeout = timeout
        for conn in held:
            pool.putconn(conn)


def _in_a_thread(call: Any) -> Any:
    """Run `call` in a new thread: a thread of its own gets its own connection."""
    result: dict[str, Any] = {}

    def run() -> None:
        try:
            result["value"] = call()
        finally:
            connections.close_all()

    worker = threading.Thread(target=run)
    worker.start()
    worker.join(30)
    return result["value"]


def test_an_api_request_finding_no_free_app_database_connection_gets_503(
    transactional_db, alice
):
    client = APIClient()
    client.credentials(
        HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(alice).access_token}"
    )

    with app_database_pool_exhausted():
        response = _in_a_thread(lambda: client.get("/databases/session-status"))

    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response.json()["code"] == "app_database_busy"


def test_a_page_request_finding_no_free_app_database_connection_gets_503(
    transactional_db, alice
):
    browser = Client(raise_request_exception=False)
    browser.force_login(alice)

    with app_database_pool_exhausted():
        response = _in_a_thread(lambda: browser.get("/"))

    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response.json()["code"] == "app_database_busy"


def test_requests_are_served_again_once_connections_are_free(transactional_db, alice):
    client = APIClient()
    client.force_authenticate(alice)
    with app_database_pool_exhausted():
        pass

    response = _in_a_thread(lambda: client.get("/databases/session-status"))

    assert response.status_code == 200
