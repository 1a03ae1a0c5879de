"""Several hosts, as the README's Production steps start them: two gunicorn
instances, one Celery worker and one beat sharing the PostgreSQL app database
and Redis (real processes on loopback).

Shows: an ask streamed from one instance is stopped by a request to the
other; a worker SIGKILLed in the middle of an evaluation run leaves it to a
second worker, which finishes it with every question counted once; a schedule
due in the next minute runs once and delivers once; /health on either instance
sees the broker and the worker.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from agent.cancellation import CANCEL_POLL_S
from testsupport.fixtures import PASSWORD, connection_fields
from testsupport.llm_stub import StubLLMServer, StubReply, last_user_question
from testsupport.receivers import WebhookReceiver
from testsupport.serving import (
    ROOT,
    Client,
    Gunicorn,
    app_database_migrate,
    database_url_derived,
    pg_database_ensure,
    serving_env,
)

pytestmark = pytest.mark.slow

# Parallel runs set another in SQLAGENT_TEST_BROKER_URL (emptied by the test).
BROKER_URL = os.environ.get("SQLAGENT_TEST_BROKER_URL", "redis://127.0.0.1:6379/12")
CELERY = str(ROOT / ".venv" / "bin" / "celery")
QUESTIONS = [f"How many orders, take {n}?" for n in range(1, 7)]
SLOW = "A slow question?"


def _sse(chunks: Iterator[bytes]) -> Iterator[tuple[str, Any]]:
    """Yield (event, data) from a text/event-stream body."""
    buffer = b""
    for chunk in chunks:
        buffer += chunk
        while b"\n\n" in buffer:
            frame, buffer = buffer.split(b"\n\n", 1)
            lines = frame.decode().splitlines()
            name = next((x[7:] for x in lines if x.startswith("event: ")), "")
            data = next((x[6:] for x in lines if x.startswith("data: ")), "null")
            if name:
                yield name, json.loads(data)


class _Process:
    """A Celery command of the README, in its own process group."""

    def __init__(self, env: dict[str, str], args: list[str], log: Path):
        self.log = log
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                [CELERY, "-A", "sqlagent_project", *args],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def kill(self) -> None:
        """SIGKILL the whole group (the worker and its pool), as a crash."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=20)
        self.kill()


def _worker(env: dict[str, str], log: Path) -> _Process:
    return _Process(env, ["worker", "--loglevel=INFO", "--concurrency=2"], log)


def _beat(env: dict[str, str], log: Path) -> _Process:
    return _Process(
        env,
        [
            "beat",
            "--loglevel=INFO",
            "--scheduler",
            "django_celery_beat.schedulers:DatabaseScheduler",
        ],
        log,
    )


class _Model:
    """The stub LLM's script: always the right SQL; the first time question 3
    is asked, the reply waits until the test has killed the worker asking."""

    def __init__(self) -> None:
        self.asked: list[str] = []
        self.third_asked = threading.Event()
        self.release = threading.Event()
        self.slow_asked = threading.Event()
        self.slow_release = threading.Event()

    def __call__(self, body: dict[str, Any]) -> StubReply:
        last = body["messages"][-1]
        if last.get("role") == "tool":
            return StubReply(content="Done: " + str(last.get("content"))[:80])
        question = last_user_question(body)
        self.asked.append(question)
        if question == SLOW:
            self.slow_asked.set()
            self.slow_release.wait(60)
        if question == QUESTIONS[2] and not self.third_asked.is_set():
            self.third_asked.set()
            self.release.wait(60)
        return StubReply(
            tool_calls=[("run_query", {"sql": "SELECT COUNT(*) FROM orders"})]
        )


@pytest.fixture
def processes(tmp_path) -> Iterator[list[Any]]:
    started: list[Any] = []
    yield started
    for process in reversed(started):
        process.stop()


def _wait(what: str, check: Any, timeout_s: float) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def test_two_instances_a_worker_killed_mid_run_and_one_beat(
    shop_databases: dict[str, Any], processes: list[Any], tmp_path: Path
):
    redis.Redis.from_url(BROKER_URL).flushdb()
    model = _Model()
    receiver = WebhookReceiver()
    with StubLLMServer(responder=model) as stub:
        url = database_url_derived("worker_steps")
        pg_database_ensure(url, fresh=True)
        env = serving_env(
            database_url=url,
            sqlite_dir=shop_databases["sqlite_dir"],
            llm_base_url=stub.base_url,
            ENV_FILE="/nonexistent",
            CELERY_BROKER_URL=BROKER_URL,
            # A killed worker's task comes back after 5 s, not an hour.
            CELERY_VISIBILITY_TIMEOUT_S="5",
            LLM_MAX_RETRIES="0",
            SITE_URL="https://sqlagent.example.com",
        )
        app_database_migrate(env)
        one = Gunicorn(env, workers=1, threads=8, log_dir=tmp_path).start()
        processes.append(one)
        two = Gunicorn(env, workers=1, threads=8, log_dir=tmp_path).start()
        processes.append(two)
        first_worker = _worker(env, tmp_path / "worker-1.log")
        processes.append(first_worker)
        processes.append(_beat(env, tmp_path / "beat.log"))

        user = Client(one.url)
        user.register_and_login(f"ops-{uuid.uuid4().hex[:8]}@example.com", PASSWORD)
        fields = connection_fields("sqlite")
        user.connect(fields)
        db_id = user.get("/databases").json()[0]["id"]
        for question in QUESTIONS:
            added = user.post(
                f"/databases/{db_id}/knowledge/examples",
                {"question": question, "sql": "SELECT COUNT(*) FROM orders"},
            )
            assert added.status_code == 201, added.text

        # A schedule due at the start of a minute at least 20 s away.
        now = datetime.now(UTC)
        slot = (now + timedelta(seconds=80)).replace(second=0, microsecond=0)
        other = user.with_base_url(two.url)
        created = other.post(
            "/schedules",
            {
                "connection_id": db_id,
                "question": "How many orders?",
                "every": "day",
                "at": slot.strftime("%H:%M"),
                "timezone": "UTC",
                "email": False,
                "webhook_url": receiver.url,
            },
        )
        assert created.status_code == 201, created.text
        schedule_id = created.json()["id"]

        started = user.post(f"/databases/{db_id}/evaluations", {})
        assert started.status_code == 202, started.text
        run_id = started.json()["run_id"]

        # The worker is asking question 3: kill it, as a host dies.
        assert model.third_asked.wait(90), (tmp_path / "worker-1.log").read_text()
        first_worker.kill()
        model.release.set()
        processes.append(_worker(env, tmp_path / "worker-2.log"))

        def finished() -> dict[str, Any] | None:
            body = other.get(f"/databases/{db_id}/evaluations/{run_id}").json()
            return body if body["status"] != "running" else None

        run = _wait("the evaluation run to finish", finished, 120)
        assert run["status"] == "done", run
        assert (run["total"], run["done"], run["correct"]) == (6, 6, 6)
        detail = user.get(f"/databases/{db_id}/evaluations/{run_id}").json()
        assert [r["position"] for r in detail["results"]] == [1, 2, 3, 4, 5, 6]
        # Questions 1 and 2 were scored before the kill and never asked again.
        assert model.asked.count(QUESTIONS[0]) == 1
        assert model.asked.count(QUESTIONS[2]) == 2

        health = [Client(u).get("/health").json() for u in (one.url, two.url)]
        for body in health:
            assert body["queue"]["broker"] == "ok"
            assert body["queue"]["worker"] == "ok"

        # An ask streamed from instance one is stopped by a request to two.
        with httpx.stream(
            "POST",
            f"{one.url}/ask",
            json={"question": SLOW},
            headers={
                "Authorization": f"Bearer {user.token}",
                "Accept": "text/event-stream",
            },
            timeout=60,
        ) as streamed:
            events = _sse(streamed.iter_bytes())
            name, data = next(events)
            assert name == "turn"
            assert model.slow_asked.wait(30)
            stop = other.post(f"/ask/{data['turn_id']}/cancel")
            assert stop.status_code == 202, stop.text
            # The run reads the shared flag at its next step when the last read
            # is older than CANCEL_POLL_S: make sure it is before replying.
            time.sleep(2 * CANCEL_POLL_S)
            model.slow_release.set()
            ends = [event for event in events if event[0] in {"done", "error"}]
        assert ends[-1][0] == "error"
        assert ends[-1][1]["code"] == "cancelled"

        # The schedule's slot: dispatched by the one beat, run and delivered once.
        wait_s = (slot - datetime.now(UTC)).total_seconds() + 90
        _wait("the scheduled delivery", lambda: receiver.posts, max(wait_s, 10))
        time.sleep(35)  # another beat tick: nothing more for this slot
        runs = user.get(f"/schedules/{schedule_id}/runs").json()
        assert len(runs) == 1, runs
        assert runs[0]["status"] == "ok"
        assert runs[0]["webhook_status"] == "sent"
        assert runs[0]["slot"].startswith(slot.strftime("%Y-%m-%dT%H:%M"))
        assert len(receiver.posts) == 1
        assert "Done:" in receiver.posts[0]["json"]["text"]
    receiver.close()
