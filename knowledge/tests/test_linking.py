"""Schema linking measured on a golden set: per question, the gold tables, the
tables the first request described and the ones it missed (manage.py evaluate
--retrieval, and the evaluation run's page)."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command

from agent.tokens import count_tokens
from knowledge.linking import WHOLE_SCHEMA, gold_tables
from knowledge.models import (
    EvaluationResult,
    EvaluationRun,
    GoldenQuestion,
    GoldenSet,
    Outcome,
    RunStatus,
)

pytestmark = pytest.mark.django_db


def test_gold_tables_are_the_tables_read_without_the_ctes():
    sql = (
        "WITH recent AS (SELECT * FROM orders WHERE total > 1) "
        "SELECT c.name FROM customers c JOIN recent r ON r.customer_id = c.id"
    )

    assert gold_tables(sql, db_type="postgresql") == ["customers", "orders"]
    assert gold_tables("SELEC nothing FROM", db_type="sqlite") == []


def _just_too_small(connection) -> int:
    """Return a schema budget one token short of the whole schema."""
    from agent.catalog import SchemaCatalog
    from connections.engines import engine_create

    engine = engine_create(connection, pooled=False)
    try:
        catalog = SchemaCatalog(engine, connection.db_type)
        return count_tokens(catalog.describe(catalog.table_names())) - 1
    finally:
        engine.dispose()


@pytest.fixture
def golden_set(alice, make_connection):
    connection = make_connection(alice, "sqlite")
    golden = GoldenSet.objects.create(connection=connection, name="linking")
    GoldenQuestion.objects.create(
        golden_set=golden,
        question="Which orders are there?",
        sql="SELECT o.id, c.name FROM orders o JOIN customers c "
        "ON c.id = o.customer_id",
    )
    GoldenQuestion.objects.create(
        golden_set=golden,
        question="What was written down?",
        sql="SELECT body FROM notes",
    )
    return connection


def test_evaluate_retrieval_reports_gold_described_and_missed_tables(
    golden_set, settings, capsys
):
    # Too small for the whole schema: tables are described per question.
    settings.SCHEMA_PROMPT_TOKEN_BUDGET = _just_too_small(golden_set)
    settings.KNOWLEDGE_TOP_K_TABLES = 1

    call_command(
        "evaluate", str(golden_set.id), "--set", "linking", "--retrieval", "--json"
    )

    report = json.loads(capsys.readouterr().out)
    first, second = report["items"]
    assert first["gold_tables"] == ["customers", "orders"]
    assert first["described_tables"] == [
        {"table": "orders", "why": "named in the question"},
        {"table": "customers", "why": "orders references it"},
    ]
    assert first["missed_tables"] == []
    # Nothing in "written down" names notes: the admin sees what to describe.
    assert second["gold_tables"] == ["notes"]
    assert second["missed_tables"] == ["notes"]
    assert report["recall"] == 0.5


def test_evaluate_retrieval_in_text_names_the_missed_tables(
    golden_set, settings, capsys
):
    settings.SCHEMA_PROMPT_TOKEN_BUDGET = _just_too_small(golden_set)

    call_command("evaluate", str(golden_set.id), "--set", "linking", "--retrieval")

    out = capsys.readouterr().out
    assert "missed: notes" in out
    assert "Schema linking: 1/2 questions with every gold table described" in out


def test_a_schema_small_enough_is_described_whole_and_misses_nothing(
    golden_set, capsys
):
    call_command(
        "evaluate", str(golden_set.id), "--set", "linking", "--retrieval", "--json"
    )

    report = json.loads(capsys.readouterr().out)
    assert [i["described_tables"] for i in report["items"]] == [[WHOLE_SCHEMA]] * 2
    assert report["recall"] == 1.0


def test_the_run_page_shows_gold_described_and_missed_tables(
    alice_page, alice, make_connection
):
    connection = make_connection(alice, "sqlite")
    run = EvaluationRun.objects.create(
        connection=connection, status=RunStatus.DONE, total=1, done=1
    )
    EvaluationResult.objects.create(
        run=run,
        position=1,
        question="What was written down?",
        gold_sql="SELECT body FROM notes",
        outcome=Outcome.WRONG_ROWS,
        gold_tables=["notes"],
        described_tables=[{"table": "orders", "why": "retrieved"}],
        missed_tables=["notes"],
    )

    page = alice_page.get(f"/knowledge/{connection.id}/runs/{run.id}/")

    text = page.content.decode()
    assert "Gold tables: notes." in text
    assert "orders (retrieved)" in text
    assert "Missed: notes" in text
