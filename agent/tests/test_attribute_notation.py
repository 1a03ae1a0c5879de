"""PostgreSQL attribute notation: `c.f` on a table without column f runs f(c).

A user-defined function taking the table's row type is created in the target
database; the statement check alone sees a column and lets it run, so every
path (the model's run_query, /ask/sql, MCP run_sql, example checks and
evaluation runs) checks
qualified column references against the catalog and refuses the rest.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from agent.sql_guard import query_run
from connections.engines import engine_create
from testsupport.fixtures import TARGET_DB

pytestmark = pytest.mark.django_db


@pytest.fixture
def probe_function(shop: Any) -> Iterator[str]:
    import psycopg

    with psycopg.connect(
        host="127.0.0.1", user="postgres", dbname=TARGET_DB, autocommit=True
    ) as conn:
        conn.execute(
            "CREATE OR REPLACE FUNCTION rt_attr_probe(customers) RETURNS text "
            "LANGUAGE sql AS $$ SELECT 'called:' || $1.name $$"
        )
        try:
            yield "rt_attr_probe"
        finally:
            conn.execute("DROP FUNCTION IF EXISTS rt_attr_probe(customers)")


def _connect(client: Any, make_connection: Any, owner: Any) -> None:
    connection = make_connection(owner, "postgresql")
    response = client.post(f"/databases/connect_db/{connection.id}")
    assert response.status_code == 200


def test_postgresql_runs_the_function_behind_a_column_reference(
    probe_function: str, alice: Any, make_connection: Any
):
    """The control: the statement check alone passes it and the server calls it."""
    engine = engine_create(make_connection(alice, "postgresql"))
    try:
        result = query_run(
            engine,
            db_type="postgresql",
            sql="SELECT c.rt_attr_probe FROM customers c ORDER BY c.id LIMIT 1",
            max_rows=10,
            timeout_s=5,
        )
    finally:
        engine.dispose()

    assert result.rows == [["called:Ada Lovelace"]]


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT c.rt_attr_probe FROM customers c",
        "SELECT customers.rt_attr_probe FROM customers",
        "SELECT (c).rt_attr_probe FROM customers c",
        "SELECT s.rt_attr_probe FROM (SELECT * FROM customers) s",
        "SELECT 1 FROM customers c WHERE c.rt_attr_probe IS NOT NULL",
        "SELECT o.id FROM orders o WHERE EXISTS "
        "(SELECT 1 FROM customers c WHERE c.rt_attr_probe = 'x')",
    ],
)
def test_a_reference_to_no_real_column_is_refused_on_ask_sql(
    probe_function: str, alice_client: Any, alice: Any, make_connection: Any, sql: str
):
    _connect(alice_client, make_connection, alice)

    response = alice_client.post("/ask/sql", {"sql": sql}, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "sql_refused"
    assert "rt_attr_probe" in response.json()["detail"]


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT c.name FROM customers c ORDER BY c.id",
        "SELECT s.name FROM (SELECT * FROM customers) s ORDER BY s.id",
        "WITH x AS (SELECT id, name AS n FROM customers) "
        "SELECT x.n FROM x ORDER BY x.id",
        "SELECT C.NAME FROM customers c ORDER BY c.id",
        "SELECT g.g FROM generate_series(1, 3) g",
        "SELECT u.u FROM unnest(ARRAY[1, 2]) u",
        "SELECT e.value FROM jsonb_array_elements('[1, 2]'::jsonb) e",
        "SELECT k.key, k.value FROM json_each('{\"a\": 1}') k",
        "SELECT c.relname FROM pg_class c WHERE c.relname = 'customers'",
    ],
)
def test_real_column_references_still_run(
    probe_function: str, alice_client: Any, alice: Any, make_connection: Any, sql: str
):
    _connect(alice_client, make_connection, alice)

    response = alice_client.post("/ask/sql", {"sql": sql}, format="json")

    assert response.status_code == 200, response.json()
    assert response.json()["result"]["row_count"] >= 1


def test_an_example_check_and_gold_sql_refuse_a_reference_to_no_real_column(
    probe_function: str, alice_client: Any, alice: Any, make_connection: Any
):
    from agent.sql_guard import StatementRefused
    from knowledge.models import Example
    from knowledge.services import sql_run_readonly

    connection = make_connection(alice, "postgresql")
    # Saved as an admin could have before this check existed: the Check re-runs it.
    example = Example.objects.create(
        connection=connection,
        question="Probe",
        sql="SELECT c.rt_attr_probe FROM customers c",
    )

    checked = alice_client.post(
        f"/databases/{connection.id}/knowledge/examples/{example.id}/check"
    ).json()

    assert checked["last_check_ok"] is False
    assert "rt_attr_probe" in checked["last_check_error"]
    assert "called:" not in str(checked)
    # Evaluation runs gold (and model) SQL through the same function.
    with pytest.raises(StatementRefused):
        sql_run_readonly(
            connection=connection, sql="SELECT c.rt_attr_probe FROM customers c"
        )
