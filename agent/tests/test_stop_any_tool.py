"""Stop is a property of the query, not of a tool's name: a query the ask runs
through any tool ends on the database as soon as the ask is stopped."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from langchain.tools import ToolRuntime, tool
from langchain_core.messages import AIMessage

from agent import sql_guard
from agent.cancellation import ask_cancel_request
from agent.exceptions import AskCancelled
from agent.llm import runner
from agent.llm.tools import ToolContext, langchain_tools
from agent.models import Turn, TurnStatus
from agent.services import thread_ask
from testsupport.fake_llm import scripted

# The app database is read from the ask's thread and this one.
pytestmark = pytest.mark.django_db(transaction=True)

# Long on the server (minutes), cheap to start, allowed by the guard.
SLOW_SQL = {
    "postgresql": "SELECT count(*) AS n FROM generate_series(1, 300000000) AS g",
    "sqlite": (
        "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c "
        "WHERE i < 300000000) SELECT count(*) AS n FROM c"
    ),
}

started_at: list[float] = []
finished: list[str] = []


@tool("count_everything")
def _count_everything(runtime: ToolRuntime[ToolContext]) -> str:
    """Count a very large series (a test tool that runs SQL itself)."""
    context = runtime.context
    started = time.monotonic()
    started_at.append(started)
    try:
        # Straight to the guard: no step event, no run_query, no ToolContext.query.
        sql_guard.query_run(
            context.engine,
            db_type=context.db_type,
            sql=SLOW_SQL[context.db_type],
            max_rows=10,
            timeout_s=60,
        )
    except sql_guard.QueryFailed as exc:
        finished.append(f"{time.monotonic() - started:.1f}s {exc.message}")
        return f"Error: {exc.message}"
    finished.append("ran to its end")
    return "done"


@pytest.mark.parametrize("db_type", ["postgresql", "sqlite"])
def test_stop_cancels_a_query_started_by_any_tool(
    alice, connected_session, monkeypatch, db_type
):
    finished.clear()
    started_at.clear()
    connected_session(alice, db_type)
    monkeypatch.setattr(
        runner, "langchain_tools", lambda: [*langchain_tools(), _count_everything]
    )
    call = AIMessage(
        content="",
        tool_calls=[{"name": "count_everything", "args": {}, "id": "call_count"}],
    )
    model = scripted(call, "Never read.")
    outcome: dict[str, Any] = {}

    def ask() -> None:
        try:
            thread_ask(user=alice, question="Count everything", chat_model=model)
        except AskCancelled as exc:
            outcome["error"] = exc
        finally:
            from django.db import connection

            connection.close()

    asking = threading.Thread(target=ask, daemon=True)
    asking.start()
    deadline = time.monotonic() + 30
    while not started_at and time.monotonic() < deadline:
        time.sleep(0.05)
    assert started_at, "the tool never ran"
    time.sleep(1.0)  # the tool's query is running on the database now
    assert finished == []
    turn = Turn.objects.get(status=TurnStatus.RUNNING)

    stopped = time.monotonic()
    ask_cancel_request(turn_id=turn.pk)
    asking.join(timeout=30)

    # Well before the query's 60 s limit: the database was told to stop.
    assert not asking.is_alive()
    assert time.monotonic() - stopped < 5
    [how] = finished
    assert "stopped" in how
    assert isinstance(outcome.get("error"), AskCancelled)
    turn.refresh_from_db()
    assert turn.status == TurnStatus.CANCELLED
