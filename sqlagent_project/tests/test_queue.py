"""Background work on the real broker (Redis on 127.0.0.1) with a real Celery
worker; /health tells the broker's state and whether a worker answered lately."""

from __future__ import annotations

import time
from typing import Any

import pytest
from django_celery_results.models import TaskResult

from knowledge.models import EvaluationRun, GoldenQuestion, GoldenSet
from sqlagent_project import queue
from testsupport.llm_stub import StubLLMServer, StubReply
from testsupport.queue import broker_switched, celery_worker_running
from testsupport.serving import free_port

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def broker_down(settings):
    # Nothing listens on that port.
    with broker_switched(settings, f"redis://127.0.0.1:{free_port()}/0") as url:
        yield url


def _right(body: dict[str, Any]) -> StubReply:
    last = body["messages"][-1]
    if last.get("role") == "tool":
        return StubReply(content="Done: " + str(last.get("content"))[:100])
    return StubReply(tool_calls=[("run_query", {"sql": "SELECT COUNT(*) FROM orders"})])


def _wait_finished(client: Any, connection_id: int, run_id: int) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        body = client.get(f"/databases/{connection_id}/evaluations/{run_id}").json()
        if body["status"] != "running":
            return body
        time.sleep(0.2)
    raise AssertionError(f"run {run_id} still running: {body}")


def test_an_evaluation_run_crosses_the_broker_to_a_worker(
    redis_broker, alice, alice_client, make_connection, settings
):
    connection = make_connection(alice, "sqlite")
    golden = GoldenSet.objects.create(connection=connection, name="g")
    for n in range(3):
        GoldenQuestion.objects.create(
            golden_set=golden,
            question=f"Orders {n}?",
            sql="SELECT COUNT(*) FROM orders",
        )
    with StubLLMServer(responder=_right) as server:
        settings.OPENAI_BASE_URL, settings.OPENAI_API_KEY = server.base_url, "stub"
        response = alice_client.post(
            f"/databases/{connection.id}/evaluations", {"set": "g"}, format="json"
        )
        assert response.status_code == 202
        run_id = response.json()["run_id"]
        # Queued on the broker, not run by the web process.
        time.sleep(0.5)
        assert EvaluationRun.objects.get(pk=run_id).done == 0
        with celery_worker_running():
            body = _wait_finished(alice_client, connection.id, run_id)

    assert body["status"] == "done"
    assert (body["done"], body["correct"], body["accuracy"]) == (3, 3, 1.0)
    task = TaskResult.objects.get(task_name="knowledge.evaluation_run")
    assert task.status == "SUCCESS"
    assert task.task_kwargs
    assert str(run_id) in task.task_kwargs


def test_without_a_broker_the_run_is_done_in_the_web_process_and_recorded(
    alice, alice_client, make_connection, settings
):
    assert not settings.CELERY_BROKER_URL
    connection = make_connection(alice, "sqlite")
    golden = GoldenSet.objects.create(connection=connection, name="g")
    GoldenQuestion.objects.create(
        golden_set=golden, question="Orders?", sql="SELECT COUNT(*) FROM orders"
    )
    with StubLLMServer(responder=_right) as server:
        settings.OPENAI_BASE_URL, settings.OPENAI_API_KEY = server.base_url, "stub"
        run_id = alice_client.post(
            f"/databases/{connection.id}/evaluations", {"set": "g"}, format="json"
        ).json()["run_id"]
        body = _wait_finished(alice_client, connection.id, run_id)

    assert (body["status"], body["correct"]) == ("done", 1)
    deadline = time.monotonic() + 10
    while not TaskResult.objects.filter(status="SUCCESS").exists():
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert TaskResult.objects.get().task_name == "knowledge.evaluation_run"


def test_health_has_no_queue_part_without_a_broker(anon_client, settings):
    settings.CELERY_BROKER_URL = ""
    body = anon_client.get("/health").json()
    assert "queue" not in body
    assert body["status"] == "ok"


def test_health_reports_the_broker_and_a_worker_that_answered(
    redis_broker, anon_client
):
    from django.core.cache import cache

    cache.delete(queue.WORKER_SEEN_KEY)
    before = anon_client.get("/health").json()
    assert before["queue"] == {
        "broker": "ok",
        "worker": "none_recently",
        "worker_seen_at": None,
    }
    with celery_worker_running():
        deadline = time.monotonic() + 20
        while queue.worker_seen_at() is None:
            assert time.monotonic() < deadline, "the worker never said it was alive"
            time.sleep(0.1)
        during = anon_client.get("/health")
    assert during.status_code == 200
    assert during.json()["queue"]["broker"] == "ok"
    assert during.json()["queue"]["worker"] == "ok"


def test_health_says_when_the_broker_does_not_answer(broker_down, anon_client):
    response = anon_client.get("/health")
    # The web still serves: the app database decides the status code.
    assert response.status_code == 200
    assert response.json()["queue"]["broker"] == "unavailable"


def test_a_prefill_goes_on_the_queue_and_a_worker_adds_the_comments(
    redis_broker, alice, alice_client, make_connection, shop
):
    import psycopg

    from knowledge.models import SchemaNote
    from testsupport.fixtures import TARGET_DB

    connection = make_connection(alice, "postgresql")
    with psycopg.connect(
        host="127.0.0.1", user="postgres", dbname=TARGET_DB, autocommit=True
    ) as conn:
        conn.execute("COMMENT ON TABLE customers IS 'People who ordered'")
    try:
        response = alice_client.post(
            f"/databases/{connection.id}/knowledge/notes/prefill"
        )
        assert response.status_code == 202
        assert response.json() == {"added": None, "queued": True}
        assert not SchemaNote.objects.exists()
        with celery_worker_running():
            deadline = time.monotonic() + 30
            while not SchemaNote.objects.filter(connection=connection).exists():
                assert time.monotonic() < deadline, "the prefill never ran"
                time.sleep(0.1)
    finally:
        with psycopg.connect(
            host="127.0.0.1", user="postgres", dbname=TARGET_DB, autocommit=True
        ) as conn:
            conn.execute("COMMENT ON TABLE customers IS NULL")
    note = SchemaNote.objects.get(connection=connection)
    assert (note.table_name, note.description) == ("customers", "People who ordered")


def test_a_broker_that_is_down_is_a_503_and_nothing_is_left_running(
    broker_down, alice, alice_client, make_connection
):
    from django.utils import timezone

    from schedules import services
    from schedules.models import ScheduleRun

    connection = make_connection(alice, "sqlite")
    golden = GoldenSet.objects.create(connection=connection, name="g")
    GoldenQuestion.objects.create(
        golden_set=golden, question="Orders?", sql="SELECT COUNT(*) FROM orders"
    )
    response = alice_client.post(
        f"/databases/{connection.id}/evaluations", {"set": "g"}, format="json"
    )
    assert response.status_code == 503
    assert response.json()["code"] == "queue_unavailable"
    assert response["Retry-After"] == "30"
    run = EvaluationRun.objects.get()
    assert run.status == "failed"
    assert "cannot be queued" in run.error

    schedule = services.schedule_create(
        owner=alice,
        connection_id=connection.id,
        question="Orders?",
        every="day",
        at=timezone.datetime(2000, 1, 1, 8, 0).time(),
    )
    now = alice_client.post(f"/schedules/{schedule.id}/run")
    assert now.status_code == 503
    assert ScheduleRun.objects.get().status == "failed"
