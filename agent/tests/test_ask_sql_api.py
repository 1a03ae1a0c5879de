"""POST /ask/sql: SQL the user wrote, run through the agent's guarded path, stored
as a turn of the thread (no LLM call)."""

from __future__ import annotations

import pytest

from agent.models import Turn, TurnSource, TurnStatus
from testsupport.fixtures import ENGINES, shop_snapshot

pytestmark = pytest.mark.django_db


def _connect(client, make_connection, owner, db_type):
    connection = make_connection(owner, db_type)
    response = client.post(f"/databases/connect_db/{connection.id}")
    assert response.status_code == 200
    return response.json()["session_id"]


@pytest.mark.parametrize("db_type", ENGINES)
def test_edited_sql_runs_and_is_stored_as_a_user_sql_turn(
    alice_client, alice, make_connection, db_type
):
    session_id = _connect(alice_client, make_connection, alice, db_type)

    response = alice_client.post(
        "/ask/sql",
        {"sql": "SELECT country, COUNT(*) AS n FROM customers GROUP BY country"},
        format="json",
    )

    assert response.status_code == 200
    body = response.json()
    assert body["thread_id"] == session_id
    assert body["result"]["columns"] == ["country", "n"]
    assert sorted(body["result"]["rows"])[1] == ["Germany", 3]
    assert body["chart"]["mark"]["type"] == "bar"
    assert body["llm"]["calls"] == 0
    turn = Turn.objects.get()
    assert turn.source == TurnSource.SQL
    assert turn.status == TurnStatus.OK
    assert turn.queries[0]["row_count"] == 4


@pytest.mark.parametrize("db_type", ENGINES)
def test_a_write_is_refused_with_its_reason_and_stored_as_a_failed_turn(
    alice_client, alice, make_connection, shop, db_type
):
    _connect(alice_client, make_connection, alice, db_type)
    before = shop_snapshot(db_type, shop["sqlite_dir"])

    response = alice_client.post(
        "/ask/sql", {"sql": "DELETE FROM customers"}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["code"] == "sql_refused"
    assert "SELECT" in response.json()["detail"]
    turn = Turn.objects.get()
    assert turn.status == TurnStatus.ERROR
    assert turn.queries[0]["sql"] == "DELETE FROM customers"
    assert shop_snapshot(db_type, shop["sqlite_dir"]) == before


def test_a_failing_query_is_400_with_the_database_reason(
    alice_client, alice, make_connection
):
    _connect(alice_client, make_connection, alice, "sqlite")

    response = alice_client.post(
        "/ask/sql", {"sql": "SELECT nope FROM customers"}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["code"] == "query_failed"
    assert "nope" in response.json()["detail"]
    assert Turn.objects.get().error_code == "query_failed"


def test_user_sql_is_replayed_to_the_model_as_sql_the_user_ran(alice, make_connection):
    from agent.services import thread_ask
    from agent.user_sql import thread_run_sql
    from connections.services import session_connect, session_get_or_create_active
    from testsupport.fake_llm import scripted

    session = session_get_or_create_active(user=alice)
    session_connect(session=session, connection=make_connection(alice, "sqlite"))
    thread_run_sql(user=alice, sql="SELECT COUNT(*) FROM orders")
    model = scripted("There are six.")

    thread_ask(user=alice, question="what did that count?", chat_model=model)

    sent = [m.content for m in model.received[0]]
    assert any("I ran this SQL myself" in c and "FROM orders" in c for c in sent)


@pytest.mark.parametrize("body", [{}, {"sql": ""}, {"sql": "   "}])
def test_empty_sql_is_400(alice_client, alice, make_connection, body):
    _connect(alice_client, make_connection, alice, "sqlite")

    response = alice_client.post("/ask/sql", body, format="json")

    assert response.status_code == 400
    assert "sql" in response.json()
    assert not Turn.objects.exists()


def test_ask_sql_without_a_connected_database_is_409(alice_client):
    response = alice_client.post("/ask/sql", {"sql": "SELECT 1"}, format="json")

    assert response.status_code == 409


def test_ask_sql_anonymous_is_401(anon_client):
    response = anon_client.post("/ask/sql", {"sql": "SELECT 1"}, format="json")

    assert response.status_code == 401


def test_sql_runs_on_the_callers_own_session_only(
    alice_client, bob_client, alice, make_connection
):
    _connect(alice_client, make_connection, alice, "sqlite")

    response = bob_client.post("/ask/sql", {"sql": "SELECT 1"}, format="json")

    assert response.status_code == 409
    assert not Turn.objects.filter(thread__user__email__startswith="bob").exists()


def test_a_postgresql_error_quotes_no_statement_the_user_never_wrote(
    alice_client, alice, make_connection
):
    _connect(alice_client, make_connection, alice, "postgresql")

    response = alice_client.post(
        "/ask/sql", {"sql": "SELECT nope FROM customers"}, format="json"
    )

    detail = response.json()["detail"]
    assert detail.startswith('column "nope" does not exist')
    assert "CURSOR" not in detail
    assert "LINE 1" not in detail


@pytest.mark.parametrize(
    "restriction", [{"privacy": "schema"}, {"masked_columns": ["customers.email"]}]
)
def test_user_sql_replayed_where_values_are_restricted_keeps_its_result_back(
    alice, make_connection, restriction
):
    from agent.services import thread_ask
    from agent.user_sql import thread_run_sql
    from connections.services import session_connect, session_get_or_create_active
    from testsupport.fake_llm import scripted

    session = session_get_or_create_active(user=alice)
    connection = make_connection(alice, "sqlite", **restriction)
    session_connect(session=session, connection=connection)
    # The row count of a filter on a value answers a question about it.
    thread_run_sql(
        user=alice,
        sql="SELECT id FROM customers WHERE email LIKE 'a%' AND country = 'Germany'",
    )
    model = scripted("Some.")

    thread_ask(user=alice, question="how many was that?", chat_model=model)

    sent = "\n".join(str(m.content) for m in model.received[0])
    assert "I ran this SQL myself" in sent
    assert "row(s)" not in sent
    assert "shown to the user, not to you" in sent
