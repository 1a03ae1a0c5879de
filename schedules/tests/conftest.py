"""The schedules tests' common setup: a shop connection of alice's, a stub model
that answers with its customers, schedules made on it and slots run at once."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import time, timedelta
from typing import Any

import pytest
from django.core import mail
from django.utils import timezone

from schedules import runs, services
from schedules.models import Schedule, ScheduleRun
from testsupport.llm_stub import StubLLMServer, StubReply

SQL = "SELECT name, country FROM customers ORDER BY id LIMIT 3"
QUESTION = "Who are the first customers?"


def _answers(body: dict[str, Any]) -> StubReply:
    last = body["messages"][-1]
    if last.get("role") == "tool":
        return StubReply(content="Here are the first customers.")
    return StubReply(tool_calls=[("run_query", {"sql": SQL})])


@pytest.fixture
def llm(settings: Any) -> Iterator[StubLLMServer]:
    with StubLLMServer(responder=_answers) as server:
        settings.OPENAI_BASE_URL, settings.OPENAI_API_KEY = server.base_url, "stub"
        settings.LLM_MAX_RETRIES = 0
        yield server


@pytest.fixture
def shop_connection(alice: Any, make_connection: Callable[..., Any]) -> Any:
    return make_connection(alice, "sqlite")


@pytest.fixture
def outbox(settings: Any) -> list[Any]:
    """Emails kept in memory (django.core.mail.outbox) instead of sent."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    mail.outbox = []
    return mail.outbox


@pytest.fixture
def make_schedule(alice: Any, shop_connection: Any) -> Callable[..., Schedule]:
    """Create alice's schedule on the shop: the customers question, every day
    at 08:00 UTC, emailed; any field may be given instead."""

    def make(**fields: Any) -> Schedule:
        data: dict[str, Any] = {
            "question": QUESTION,
            "every": "day",
            "at": time(8, 0),
            **fields,
        }
        return services.schedule_create(
            owner=alice, connection_id=shop_connection.id, **data
        )

    return make


@pytest.fixture
def run_slot() -> Callable[..., ScheduleRun]:
    """Run a manual slot of a schedule `minutes` from now, here, to its end."""

    def run(schedule: Schedule, *, minutes: int = 0) -> ScheduleRun:
        created = ScheduleRun.objects.create(
            schedule=schedule,
            slot=timezone.now() + timedelta(minutes=minutes),
            trigger="manual",
        )
        finished = runs.schedule_run_execute(run_id=created.pk)
        assert finished is not None
        return finished

    return run
