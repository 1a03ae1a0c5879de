"""Golden sets for the evaluation tests: counting questions and a model that
answers each of them right."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from connections.models import DatabaseConnection
from knowledge.models import GoldenQuestion, GoldenSet
from testsupport.llm_stub import StubReply, last_user_question

COUNT_SQL = "SELECT COUNT(*) FROM customers"


def counting_question(number: int) -> str:
    """The golden set's question `number` (from 1), as the model is asked it."""
    return f"Question {number}: how many customers?"


def answers_right(body: dict[str, Any]) -> StubReply:
    """The stub model's reply: run the gold query, then answer from its rows."""
    last = body["messages"][-1]
    if last.get("role") == "tool":
        return StubReply(content="Done: " + str(last.get("content"))[:100])
    return StubReply(tool_calls=[("run_query", {"sql": COUNT_SQL})])


def answers_right_noting(asked: list[str]) -> Callable[[dict[str, Any]], StubReply]:
    """`answers_right`, noting in `asked` each question the model is asked."""

    def answer(body: dict[str, Any]) -> StubReply:
        if body["messages"][-1].get("role") != "tool":
            asked.append(last_user_question(body))
        return answers_right(body)

    return answer


def counting_golden_set_create(
    connection: DatabaseConnection, name: str, count: int
) -> GoldenSet:
    """A golden set `name` of `count` counting questions on `connection`."""
    golden = GoldenSet.objects.create(connection=connection, name=name)
    GoldenQuestion.objects.bulk_create(
        GoldenQuestion(golden_set=golden, question=counting_question(n), sql=COUNT_SQL)
        for n in range(1, count + 1)
    )
    return golden
