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


def test_asks_take_turns_for_cpu_slots_but_wait_on_the_model_side_by_side(
    transactional_db, settings, alice, bob, connected_session, llm_stub
):
    """With one CPU slot, two asks still reach the model together: waiting on
    it holds no slot (else the second would arrive only after the first ends)."""
    from agent.services import thread_ask

    settings.ASK_CPU_SLOTS = 1
    connected_session(alice, "sqlite")
    connected_session(bob, "sqlite")
    both_waiting = threading.Barrier(2, timeout=10)
    original = llm_stub.responder

    met: list[bool] = []
    seen: set[str] = set()
    settings.LLM_MAX_RETRIES = 0  # a retry must not stand in for the other ask
    settings.LLM_TIMEOUT_S = 20

    def responder(request: dict[str, Any]) -> Any:
        question = str(request["messages"][-1]["content"])
        first_call = question.startswith("How many customers, ")
        if first_call and question not in seen:  # each waits for the other's
            seen.add(question)
            try:
                both_waiting.wait()
                met.append(True)
            except threading.BrokenBarrierError:
                met.append(False)
        return original(request)

    llm_stub.responder = responder
    results: dict[str, Any] = {}

    def ask(user: Any) -> None:
        try:
            results[user.email] = thread_ask(
                user=user, question=f"How many customers, {user.email}?"
            )
        except Exception as exc:  # noqa: BLE001 - reported below
            results[user.email] = exc
        finally:
            connections.close_all()

    workers = [threading.Thread(target=ask, args=(u,)) for u in (alice, bob)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)

    assert met == [True, True], "the second ask reached the model only after the first"
    assert {type(r).__name__ for r in results.values()} == {"Turn"}, results
    assert all(r.status == TurnStatus.OK for r in results.values())
    assert capacity._cpu_semaphore()._value == 1  # every slot handed back


def test_a_cpu_slot_is_given_back_however_an_ask_ends(settings):
    settings.ASK_CPU_SLOTS = 1
    semaphore = capacity._cpu_semaphore()

    try:
        with capacity.ask_cpu_turns():
            assert semaphore._value == 0
            with capacity.cpu_released():
                assert semaphore._value == 1
            raise RuntimeError("the agent failed")
    except RuntimeError:
        pass

    assert semaphore._value == 1
    with capacity.cpu_released():  # outside an ask: nothing to give
        assert semaphore._value == 1
