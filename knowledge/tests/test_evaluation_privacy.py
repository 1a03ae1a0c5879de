"""An evaluation stores rows and errors as the connection lets its users see them."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command

from knowledge.models import EvaluationRun, GoldenQuestion, GoldenSet
from testsupport.fixtures import CUSTOMERS
from testsupport.llm_stub import StubLLMServer, StubReply

pytestmark = pytest.mark.django_db

EMAILS = [email for *_, email in CUSTOMERS]


@pytest.fixture
def model_repeating_the_gold_sql(settings):
    def respond(body):
        last = body["messages"][-1]
        if last.get("role") == "tool":
            return StubReply(content="Done.")
        return StubReply(tool_calls=[("run_query", {"sql": respond.sql})])

    with StubLLMServer(responder=respond) as server:
        settings.OPENAI_BASE_URL = server.base_url
        settings.OPENAI_API_KEY = "stub"
        settings.LLM_MAX_RETRIES = 0
        settings.LLM_TIMEOUT_S = 5
        yield respond


def _evaluate(connection, capsys) -> EvaluationRun:
    call_command("evaluate", str(connection.id), "--set", "hidden", "--json")
    return EvaluationRun.objects.get(pk=json.loads(capsys.readouterr().out)["run_id"])


@pytest.mark.parametrize("db_type", ["sqlite", "postgresql"])
def test_masked_hidden_values_are_stored_as_tokens_and_still_compared(
    alice, make_connection, model_repeating_the_gold_sql, capsys, db_type
):
    sql = "SELECT id, email FROM customers ORDER BY id"
    model_repeating_the_gold_sql.sql = sql
    connection = make_connection(
        alice, db_type, masked_columns=["customers.email"], masked_hidden=True
    )
    golden = GoldenSet.objects.create(connection=connection, name="hidden")
    GoldenQuestion.objects.create(golden_set=golden, question="Emails?", sql=sql)

    result = _evaluate(connection, capsys).results.get()

    assert result.outcome == "correct"
    stored = json.dumps([result.gold_rows, result.returned_rows], ensure_ascii=False)
    assert [email for email in EMAILS if email in stored] == []
    assert "⟪mask:" in stored


def test_masked_hidden_users_get_only_the_code_of_an_error_quoting_a_value(
    alice, make_connection, model_repeating_the_gold_sql, capsys
):
    sql = "SELECT CAST(email AS INTEGER) FROM customers"
    model_repeating_the_gold_sql.sql = sql
    connection = make_connection(
        alice, "postgresql", masked_columns=["customers.email"], masked_hidden=True
    )
    golden = GoldenSet.objects.create(connection=connection, name="hidden")
    GoldenQuestion.objects.create(golden_set=golden, question="Emails?", sql=sql)

    result = _evaluate(connection, capsys).results.get()

    assert result.error
    assert "@example.com" not in result.error
    assert "22P02" in result.error
