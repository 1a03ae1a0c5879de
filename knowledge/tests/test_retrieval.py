"""Retrieval puts the right examples, instructions and tables into the prompt."""

from __future__ import annotations

import json
import sqlite3

import pytest
from sqlalchemy import create_engine

from agent.catalog import SchemaCatalog
from agent.llm.prompt import question_context_messages, system_prompt
from agent.tokens import count_tokens, schema_token_budget
from knowledge.models import Example, Instruction, SchemaNote
from knowledge.retrieval import examples_excluded, tables_ranked

pytestmark = pytest.mark.django_db

REVENUE_SQL = "SELECT SUM(total) AS revenue FROM orders"


def _prompt_text(request: dict) -> str:
    return json.dumps(request["messages"])


def _connect(client, connection) -> None:
    assert client.post(f"/databases/connect_db/{connection.id}").status_code == 200


@pytest.mark.parametrize("db_type", ["postgresql", "mysql", "sqlite"])
def test_the_closest_example_and_the_rules_reach_the_prompt(
    alice_client, alice, make_connection, llm_stub, db_type
):
    connection = make_connection(alice, db_type)
    Example.objects.create(
        connection=connection, question="What is our total revenue?", sql=REVENUE_SQL
    )
    Example.objects.create(
        connection=connection,
        question="Which notes mention a drop?",
        sql="SELECT body FROM notes",
    )
    Instruction.objects.create(
        connection=connection, text="Revenue counts every order's total."
    )
    _connect(alice_client, connection)

    response = alice_client.post(
        "/ask", {"question": "How much revenue did we make?"}, format="json"
    )

    assert response.status_code == 200
    prompt = _prompt_text(llm_stub.requests[0])
    assert REVENUE_SQL in prompt
    assert "Revenue counts every order's total." in prompt
    assert "Which notes mention a drop?" not in prompt


@pytest.mark.parametrize("db_type", ["postgresql", "mysql", "sqlite"])
def test_on_a_schema_over_budget_the_described_table_is_sent_up_front(
    alice_client, alice, make_connection, llm_stub, settings, db_type
):
    settings.SCHEMA_PROMPT_TOKEN_BUDGET = 260
    connection = make_connection(alice, db_type)
    SchemaNote.objects.create(
        connection=connection,
        table_name="orders",
        column_name="total",
        description="the revenue of the order, in euros",
    )
    _connect(alice_client, connection)

    alice_client.post("/ask", {"question": "What was the revenue?"}, format="json")

    first = llm_stub.requests[0]
    system = first["messages"][0]["content"]
    assert "too many to describe" in system
    prompt = _prompt_text(first)
    # orders is described (its columns) although the question never names it.
    assert "customer_id" in prompt
    assert "the revenue of the order, in euros" in prompt


def test_no_knowledge_means_no_extra_message(
    alice_client, alice, make_connection, llm_stub
):
    connection = make_connection(alice, "sqlite")
    _connect(alice_client, connection)
    alice_client.post("/ask", {"question": "How many customers?"}, format="json")
    messages = llm_stub.requests[0]["messages"]
    assert [m["role"] for m in messages] == ["system", "user"]


def test_an_excluded_question_is_not_retrieved(alice, make_connection):
    from knowledge.retrieval import examples_ranked

    connection = make_connection(alice, "sqlite")
    Example.objects.create(
        connection=connection, question="What is our revenue?", sql=REVENUE_SQL
    )
    with examples_excluded(["what is  our REVENUE?"]):
        hidden = examples_ranked(connection_id=connection.id, question="revenue", k=3)
    shown = examples_ranked(connection_id=connection.id, question="revenue", k=3)
    assert hidden == []
    assert [e.sql for e in shown] == [REVENUE_SQL]


def _wide_database(path, tables: int) -> None:
    # One transaction: SQLite commits each CREATE TABLE on its own otherwise.
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("BEGIN")
    for i in range(tables):
        conn.execute(
            f"CREATE TABLE t{i:05d}_ledger (id INTEGER PRIMARY KEY, amount NUMERIC)"
        )
    conn.execute(
        "CREATE TABLE invoice_payments (id INTEGER PRIMARY KEY, paid_on DATE, "
        "amount NUMERIC)"
    )
    conn.execute("COMMIT")
    conn.close()


@pytest.mark.parametrize("tables", [2000, pytest.param(10000, marks=pytest.mark.slow)])
def test_a_huge_schema_stays_under_the_prompt_budget(
    tmp_path, alice, make_connection, settings, tables
):
    path = tmp_path / f"wide{tables}.sqlite3"
    _wide_database(path, tables)
    engine = create_engine(f"sqlite:///{path}")
    catalog = SchemaCatalog(engine, "sqlite")
    connection = make_connection(alice, "sqlite")
    budget = schema_token_budget()

    system = system_prompt(db_type="sqlite", catalog=catalog)
    extra = question_context_messages(
        connection_id=connection.id,
        question="Which invoice payments were made in May?",
        catalog=catalog,
    )

    assert count_tokens(system) < budget
    assert f"The database has {tables + 1} tables" in system
    assert len(extra) == 1
    assert "paid_on" in extra[0].content
    assert count_tokens(system) + count_tokens(extra[0].content) < budget * 1.2
    engine.dispose()


def test_tables_rank_by_descriptions_and_examples(alice, make_connection):
    connection = make_connection(alice, "sqlite")
    SchemaNote.objects.create(
        connection=connection, table_name="t_x", description="invoices sent to clients"
    )
    Example.objects.create(
        connection=connection,
        question="Monthly churn",
        sql="SELECT * FROM t_y",
    )
    names = ["t_x", "t_y", "t_z"]
    assert tables_ranked(
        connection_id=connection.id, question="invoices", table_names=names, k=2
    ) == ["t_x"]
    assert tables_ranked(
        connection_id=connection.id, question="churn by month", table_names=names, k=2
    ) == ["t_y"]


def test_the_index_says_whether_a_connection_has_any_knowledge(alice, make_connection):
    from knowledge.index import index_cache

    empty = make_connection(alice, "sqlite")
    described = make_connection(alice, "sqlite")
    SchemaNote.objects.create(
        connection=described, table_name="orders", description="one row per order"
    )

    assert index_cache.get(empty.id).empty is True
    assert index_cache.get(described.id).empty is False
