"""Out of a bounded resource, a client gets 503 + Retry-After, never a 500."""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.db import connection, connections
from django.db.utils import OperationalError
from django.test import Client
from psycopg_pool import PoolTimeout
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from agent import llm
from agent.engines import engine_cache
from agent.models import Turn, TurnStatus
from sqlagent_project import capacity

QUESTION = {"question": "How many customers are there?"}


def test_a_full_ask_pool_answers_503_ask_pool_full_and_stores_the_turn_as_failed(
    db, settings, alice, alice_client, connected_session, llm_stub
):
    settings.ASK_MAX_CONCURRENT = 1
    settings.ASK_QUEUE_TIMEOUT_S = 0.1
    connected_session(alice, "sqlite")

    # The one slot of this process is taken by an ask still waiting on its model.
    with capacity.ask_slot_take():
        response = alice_client.post("/ask", QUESTION, format="json")

    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response.json()["code"] == "ask_pool_full"
    _assert_the_turn_failed_with("ask_pool_full")


def test_an_ask_gets_its_slot_back_once_the_previous_one_is_done(
    db, settings, alice, alice_client, connected_session, llm_stub
):
    settings.ASK_MAX_CONCURRENT = 1
    settings.ASK_QUEUE_TIMEOUT_S = 0.1
    connected_session(alice, "sqlite")

    for _ in range(2):
        response = alice_client.post("/ask", QUESTION, format="json")
        assert response.status_code == 200, response.json()


def test_a_streamed_ask_finding_the_ask_pool_full_gets_the_same_json_503(
    db, settings, alice, alice_client, connected_session, llm_stub
):
    settings.ASK_MAX_CONCURRENT = 1
    settings.ASK_QUEUE_TIMEOUT_S = 0.1
    connected_session(alice, "sqlite")

    with capacity.ask_slot_take():
        response = _ask_streamed(alice_client)

    # Refused before the stream starts: no 200 with an `error` event.
    assert not response.streaming
    assert response.status_code == 503
    assert response["Content-Type"] == "application/json"
    assert response["Retry-After"] == "5"
    assert response.json() == {
        "detail": "Too many questions are being answered right now. Try again.",
        "code": "ask_pool_full",
    }
    _assert_the_turn_failed_with("ask_pool_full")
    assert llm_stub.requests == []


def _assert_the_turn_failed_with(code: str) -> None:
    """The refused ask's turn is stored, as failed with the answer's code."""
    turn = Turn.objects.get()
    assert turn.status == TurnStatus.ERROR
    assert turn.error_code == code


def _ask_streamed(client: APIClient) -> Any:
    return client.post("/ask", QUESTION, format="json", HTTP_ACCEPT="text/event-stream")


def _read_events(response: Any, *, until: str | None = None) -> list[str]:
    """Read the stream's event names, all of them or up to `until`."""
    assert response.status_code == 200, response.json()
    names: list[str] = []
    for chunk in response.streaming_content:
        names += [
            line.removeprefix("event: ")
            for line in chunk.decode().splitlines()
            if line.startswith("event: ")
        ]
        if until in names:
            break
    return names


def _ask_threads_end(timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while any(t.name.startswith("ask-") for t in threading.enumerate()):
        assert time.monotonic() < deadline, "an ask's worker thread is still running"
        time.sleep(0.02)


@pytest.mark.django_db(transaction=True)
def test_streamed_asks_ending_every_way_give_back_every_ask_slot(
    settings, alice, alice_client, connected_session, llm_stub, monkeypatch
):
    # One slot: an ask that kept it would turn every later ask into a 503.
    settings.ASK_MAX_CONCURRENT = 1
    settings.ASK_QUEUE_TIMEOUT_S = 0.2
    connected_session(alice, "sqlite")
    real_agent_answer = llm.agent_answer
    real_finish = Turn.finish

    def read_to_the_end() -> None:
        assert _read_events(_ask_streamed(alice_client))[-1] == "done"

    def model_fails() -> None:
        llm_stub.fail_next(2, status=500)  # the first try and its one retry
        assert _read_events(_ask_streamed(alice_client))[-1] == "error"

    def closed_unread() -> None:
        _ask_streamed(alice_client).close()

    def closed_after_the_turn_event() -> None:
        response = _ask_streamed(alice_client)
        assert _read_events(response, until="turn") == ["turn"]
        response.close()

    def closed_mid_run() -> None:
        response = _ask_streamed(alice_client)
        assert _read_events(response, until="step")[-1] == "step"
        response.close()  # GeneratorExit in the reader; the worker stops

    def agent_breaks() -> None:
        def boom(**kwargs: Any) -> Any:
            raise RuntimeError("a bug in the agent")

        monkeypatch.setattr(llm, "agent_answer", boom)
        try:
            assert _read_events(_ask_streamed(alice_client))[-1] == "error"
        finally:
            monkeypatch.setattr(llm, "agent_answer", real_agent_answer)

    def finishing_the_turn_breaks() -> None:
        # Escapes the run itself: the worker thread's last line of defence.
        def finish(self: Turn, **kwargs: Any) -> None:
            raise OperationalError("the app database went away")

        monkeypatch.setattr(Turn, "finish", finish)
        try:
            assert _read_events(_ask_streamed(alice_client))[-1] == "error"
        finally:
            monkeypatch.setattr(Turn, "finish", real_finish)

    endings: list[Callable[[], None]] = [
        read_to_the_end,
        model_fails,
        closed_unread,
        closed_after_the_turn_event,
        closed_mid_run,
        agent_breaks,
        finishing_the_turn_breaks,
    ]
    for _ in range(3):
        for ending in endings:
            ending()
            _ask_threads_end()

    assert _read_events(_ask_streamed(alice_client))[-1] == "done"
    plain = alice_client.post("/ask", QUESTION, format="json")
    assert plain.status_code == 200, plain.json()
    statuses = list(Turn.objects.values_list("status", flat=True))
    assert len(statuses) == 3 * len(endings) + 2
    # Only the turns whose finish was made to fail are left for the orphan sweep.
    assert statuses.count(TurnStatus.RUNNING) == 3
    # Closed before the agent started (6), or mid-run when it had not ended (≤ 3).
    assert statuses.count(TurnStatus.CANCELLED) >= 6


@pytest.mark.django_db(transaction=True)
def test_a_stream_thrown_away_unread_and_unclosed_still_gives_its_slot_back(
    settings, alice, alice_client, connected_session, llm_stub
):
    settings.ASK_MAX_CONCURRENT = 1
    settings.ASK_QUEUE_TIMEOUT_S = 0.2
    connected_session(alice, "sqlite")

    # As when a middleware fails after the view: nobody reads or closes it.
    _ask_streamed(alice_client)
    gc.collect()

    assert _read_events(_ask_streamed(alice_client))[-1] == "done"
    # The second ask's two model calls; the first ask never ran.
    assert len(llm_stub.requests) == 2


@pytest.mark.parametrize("streamed", [False, True], ids=["json", "stream"])
@pytest.mark.django_db(transaction=True)
def test_an_ask_finding_every_target_connection_busy_is_told_to_retry(
    settings, alice, alice_client, connected_session, llm_stub, streamed
):
    settings.TARGET_DB_MAX_CONNECTIONS = 1
    settings.TARGET_CONNECT_TIMEOUT_S = 0.5
    session = connected_session(alice, "postgresql")
    session_engine = engine_cache.get(session)

    # Someone else holds the database's one pooled connection.
    with session_engine.engine.connect():
        if streamed:
            response = _ask_streamed(alice_client)
            raw = b"".join(response.streaming_content).decode()
        else:
            response = alice_client.post("/ask", QUESTION, format="json")

    busy = "All connections to the database are busy; try again shortly."
    if streamed:
        # The stream had started: the status is 200, the `error` event says it.
        assert response.status_code == 200
        assert raw.endswith(
            "event: error\ndata: "
            f'{{"detail": "{busy}", "code": "database_busy", "retry_after": 5}}\n\n'
        )
    else:
        assert response.status_code == 503
        assert response["Retry-After"] == "5"
        assert response.json() == {"detail": busy, "code": "database_busy"}
    _assert_the_turn_failed_with("database_busy")


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
    response = alice_client.post("/ask", QUESTION, format="json")

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


def test_running_out_of_app_database_connections_mid_ask_is_503_not_500(
    db, settings, alice, alice_client, connected_session, llm_stub, monkeypatch
):
    """E.g. the knowledge read before the question finds the pool empty."""
    from django.db.utils import OperationalError

    from agent import llm

    def pool_empty(**kwargs: Any) -> Any:
        try:
            raise PoolTimeout("couldn't get a connection after 5.00 sec")
        except PoolTimeout as cause:
            raise OperationalError("couldn't get a connection") from cause

    connected_session(alice, "sqlite")
    monkeypatch.setattr(llm, "agent_answer", pool_empty)

    response = alice_client.post("/ask", QUESTION, format="json")

    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response.json()["code"] == "app_database_busy"
    _assert_the_turn_failed_with("app_database_busy")


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
        except Exception as exc:
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
    assert capacity._cpu_slots.get()._value == 1  # every slot handed back


def test_a_cpu_slot_is_given_back_however_an_ask_ends(settings):
    settings.ASK_CPU_SLOTS = 1
    semaphore = capacity._cpu_slots.get()

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


def test_an_ask_waiting_for_a_cpu_slot_holds_no_app_database_connection(
    transactional_db, settings
):
    """Slot holders may wait on the app-database pool: a thread queued for a slot
    while holding a connection could deadlock them all."""
    import time

    from django.contrib.auth import get_user_model

    settings.ASK_CPU_SLOTS = 1
    queued = threading.Event()
    finished = threading.Event()

    def another_ask() -> None:
        try:
            get_user_model().objects.exists()  # a connection from the pool
            queued.set()
            with capacity.ask_cpu_turns():
                pass
        finally:
            connections.close_all()
            finished.set()

    with capacity.ask_cpu_turns():
        worker = threading.Thread(target=another_ask)
        worker.start()
        assert queued.wait(5)
        time.sleep(0.3)  # now waiting for the one slot
        assert not finished.is_set()
        stats = connection.pool.get_stats()
        assert stats["pool_size"] == stats["pool_available"]
    worker.join(5)
    assert finished.is_set()


def test_waiting_for_a_catalog_lock_gives_the_cpu_slot_up(settings):
    """One ask holds a lock and reads the database under it (its CPU slot given
    up); another, holding the slot, waits for the lock. Waiting gives the slot
    up, so the first gets it back and both finish (a plain lock deadlocked
    two asks on one session in gunicorn)."""
    settings.ASK_CPU_SLOTS = 1
    lock = capacity.SlotReleasingLock()
    first_reading, first_may_finish = threading.Event(), threading.Event()
    finished: list[str] = []

    def first() -> None:
        with capacity.ask_cpu_turns(), lock:
            with capacity.cpu_released():  # a database read under the lock
                first_reading.set()
                first_may_finish.wait(30)
            finished.append("first")

    def second() -> None:
        first_reading.wait(30)
        with capacity.ask_cpu_turns():
            first_may_finish.set()
            with lock:
                finished.append("second")

    threads = [threading.Thread(target=t, daemon=True) for t in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert finished == ["first", "second"]
    assert capacity._cpu_slots.get()._value == 1
