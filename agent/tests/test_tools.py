"""The agent's tools called alone, over a ToolContext (no agent compiled)."""

from __future__ import annotations

from typing import Any

import pytest

from agent.catalog import SchemaCatalog
from agent.llm.tools import (
    ToolContext,
    describe_tables,
    list_tables,
    result_for_llm,
    run_query,
)
from connections.engines import engine_create
from testsupport.fixtures import ENGINES

pytestmark = pytest.mark.django_db


@pytest.fixture
def context(alice, make_connection, request) -> Any:
    db_type = request.param
    engine = engine_create(make_connection(alice, db_type))
    events: list[tuple[str, dict[str, Any]]] = []
    yield (
        ToolContext(
            engine=engine,
            db_type=db_type,
            catalog=SchemaCatalog(engine, db_type),
            emit=lambda name, data: events.append((name, data)),
        ),
        events,
    )
    engine.dispose()


@pytest.mark.parametrize("context", ENGINES, indirect=True)
def test_list_tables_names_the_shop_tables(context):
    tool_context, events = context

    listed = list_tables(tool_context)

    assert {"customers", "orders", "notes"} <= set(listed.split(", "))
    assert events == [("step", {"tool": "list_tables"})]


@pytest.mark.parametrize("context", ENGINES, indirect=True)
def test_describe_tables_accepts_a_list_or_a_comma_separated_string(context):
    tool_context, _ = context

    described = describe_tables(tool_context, "customers, orders")

    assert "Table customers:" in described
    assert "Table orders:" in described
    assert "references customers.id" in described


@pytest.mark.parametrize("context", ENGINES, indirect=True)
def test_run_query_records_every_query_without_being_told(context):
    tool_context, events = context

    answer = run_query(tool_context, "SELECT COUNT(*) AS n FROM customers")
    refused = run_query(tool_context, "DELETE FROM customers")
    failed = run_query(tool_context, "SELECT no_such_column FROM customers")

    assert answer.startswith("1 row(s)")
    assert "[6]" in answer
    assert refused.startswith("Refused:")
    assert failed.startswith("Error:")
    sqls = [q.sql for q in tool_context.queries]
    assert sqls == [
        "SELECT COUNT(*) AS n FROM customers",
        "DELETE FROM customers",
        "SELECT no_such_column FROM customers",
    ]
    assert tool_context.queries[0].row_count == 1
    assert tool_context.queries[1].error.startswith("Refused:")
    assert tool_context.queries[2].error
    assert tool_context.last_result.rows == [[6]]
    assert [name for name, _ in events] == [
        "step",
        "query",
        "step",
        "query",
        "step",
        "query",
    ]


@pytest.mark.parametrize("context", ["sqlite"], indirect=True)
def test_the_llm_sees_long_cells_cut(context, settings):
    tool_context, _ = context
    settings.LLM_MAX_CELL_CHARS = 10

    result = tool_context.query("SELECT 'abcdefghijklmnopqrstuvwxyz' AS t")

    shown = result_for_llm(result)
    assert "abcdefghij…[cut: 26 characters]" in shown
    assert result.rows == [["abcdefghijklmnopqrstuvwxyz"]]


@pytest.mark.parametrize("context", ENGINES, indirect=True)
def test_list_tables_with_a_search_word_lists_only_matching_names(context):
    tool_context, events = context

    listed = list_tables(tool_context, "order")

    assert listed == "orders"
    assert events == [("step", {"tool": "list_tables", "search": "order"})]
    assert "No table name contains" in list_tables(tool_context, "zebra")


@pytest.mark.slow  # builds and reflects 3,000 tables
def test_on_thousands_of_tables_the_list_is_cut_and_search_reaches_the_rest(
    tmp_path, settings
):
    from sqlalchemy import create_engine

    from agent.tokens import count_tokens

    settings.SCHEMA_PROMPT_TOKEN_BUDGET = 4000
    path = tmp_path / "wide.sqlite3"
    import sqlite3

    with sqlite3.connect(path) as db:
        db.executescript(
            "".join(f"CREATE TABLE t{n:05d}_ledger (id INTEGER);" for n in range(3000))
            + "CREATE TABLE zz_invoice_payments (id INTEGER);"
        )
    engine = create_engine(f"sqlite:///{path}")
    context = ToolContext(
        engine=engine, db_type="sqlite", catalog=SchemaCatalog(engine, "sqlite")
    )

    listed = list_tables(context)

    assert count_tokens(listed) < 2000 + 50
    assert "zz_invoice_payments" not in listed
    assert "more not shown" in listed
    assert list_tables(context, "invoice payment") == "zz_invoice_payments"
    engine.dispose()
