"""Canaries: values stored in the target database never reach the LLM (every
request the stub server received is searched) when the connection says so,
while the user still gets the rows, on all three engines and over HTTP."""

from __future__ import annotations

import json
from typing import Any

import pytest

from agent.models import Turn
from testsupport.fixtures import CUSTOMERS, ENGINES
from testsupport.llm_stub import StubReply, scripted_responder
from testsupport.mcp import mcp_tool_call

pytestmark = pytest.mark.django_db

EMAILS = [row[3] for row in CUSTOMERS]
NAMES = [row[1] for row in CUSTOMERS]
# Every value of the customers table that is not also a plain number.
CUSTOMER_VALUES = [*NAMES, *EMAILS, "Germany", "France", "Spain"]


def _sent_to_llm(llm_stub: Any) -> str:
    """Return everything the model was sent, as one searchable text."""
    return "\n".join(json.dumps(body, ensure_ascii=False) for body in llm_stub.requests)


def _connect(client: Any, connection: Any) -> None:
    response = client.post(f"/databases/connect_db/{connection.id}")
    assert response.status_code == 200


def _leaks(text: str, values: list[str]) -> list[str]:
    return [value for value in values if value in text]


@pytest.mark.parametrize("db_type", ENGINES)
def test_schema_tier_sends_no_value_to_the_llm_while_the_user_gets_the_rows(
    alice_client, alice, make_connection, llm_stub, db_type
):
    llm_stub.responder = scripted_responder(
        [
            StubReply(tool_calls=[("list_tables", {})]),
            StubReply(tool_calls=[("describe_tables", {"table_names": ["customers"]})]),
            StubReply(
                tool_calls=[
                    ("run_query", {"sql": "SELECT * FROM customers ORDER BY id"})
                ]
            ),
            StubReply(content="There are 6 customers; see the table."),
            # The follow-up question, with the first turn replayed as history.
            # An error that quotes a value (PostgreSQL) must not carry it.
            StubReply(
                tool_calls=[
                    (
                        "run_query",
                        {"sql": "SELECT CAST(email AS DECIMAL) AS n FROM customers"},
                    )
                ]
            ),
            StubReply(
                tool_calls=[
                    (
                        "run_query",
                        {"sql": "SELECT name, email FROM customers WHERE id = 1"},
                    )
                ]
            ),
            StubReply(content="See the table for the first customer."),
        ]
    )
    connection = make_connection(alice, db_type, privacy="schema")
    _connect(alice_client, connection)

    first = alice_client.post(
        "/ask", {"question": "Show me every customer"}, format="json"
    )
    own_sql = alice_client.post(
        "/ask/sql", {"sql": "SELECT email FROM customers ORDER BY id"}, format="json"
    )
    follow_up = alice_client.post(
        "/ask", {"question": "And the first one?"}, format="json"
    )

    assert first.status_code == 200, first.json()
    assert own_sql.status_code == 200, own_sql.json()
    assert follow_up.status_code == 200, follow_up.json()
    assert first.json()["result"]["rows"][0][:2] == [1, "Ada Lovelace"]
    assert EMAILS[0] in first.json()["result"]["rows"][0]
    assert own_sql.json()["result"]["rows"][0] == [EMAILS[0]]
    assert follow_up.json()["result"]["rows"][0] == ["Ada Lovelace", EMAILS[0]]
    assert len(llm_stub.requests) == 7
    sent = _sent_to_llm(llm_stub)
    assert _leaks(sent, CUSTOMER_VALUES) == []
    # What the model did read: the schema, and per query the columns and count.
    assert "- email" in sent
    assert "6 row(s)" in sent
    assert "you never see values" in sent


@pytest.mark.parametrize("db_type", ENGINES)
def test_masked_columns_never_reach_the_llm_on_the_rows_tier(
    alice_client, alice, make_connection, llm_stub, db_type
):
    queries = [
        "SELECT * FROM customers ORDER BY id",
        "SELECT name, email AS contact FROM customers ORDER BY id",
        "SELECT UPPER(email) AS e FROM customers",
        "SELECT x FROM (SELECT email AS x FROM customers) AS s",
        "WITH c AS (SELECT email FROM customers) SELECT * FROM c",
    ]
    llm_stub.responder = scripted_responder(
        [
            StubReply(tool_calls=[("describe_tables", {"table_names": ["customers"]})]),
            *[StubReply(tool_calls=[("run_query", {"sql": sql})]) for sql in queries],
            StubReply(content="Done."),
        ]
    )
    connection = make_connection(alice, db_type, masked_columns=["*email*"])
    _connect(alice_client, connection)

    response = alice_client.post(
        "/ask", {"question": "List the customers' contacts"}, format="json"
    )

    assert response.status_code == 200, response.json()
    # Not hidden from the user: the last result holds the real emails.
    assert EMAILS[0] in response.json()["result"]["rows"][0]
    sent = _sent_to_llm(llm_stub)
    assert _leaks(sent, EMAILS) == []
    assert "@example.com" not in sent
    assert sent.count("⟪mask:") >= 6 * len(queries)
    # Unmasked columns still reach the model on this tier.
    assert "Ada Lovelace" in sent


@pytest.mark.parametrize("db_type", ENGINES)
def test_masked_hidden_keeps_masked_values_from_the_api_pages_and_csv(
    alice_client, alice_page, alice, make_connection, llm_stub, db_type
):
    llm_stub.responder = scripted_responder(
        [
            StubReply(
                tool_calls=[
                    (
                        "run_query",
                        {"sql": "SELECT name, email FROM customers ORDER BY id"},
                    )
                ]
            ),
            StubReply(content="Here they are."),
        ]
    )
    connection = make_connection(
        alice, db_type, masked_columns=["customers.email"], masked_hidden=True
    )
    _connect(alice_client, connection)

    asked = alice_client.post("/ask", {"question": "Names and emails?"}, format="json")
    own_sql = alice_client.post(
        "/ask/sql", {"sql": "SELECT lower(email) FROM customers"}, format="json"
    )

    assert asked.status_code == 200, asked.json()
    assert own_sql.status_code == 200, own_sql.json()
    rows = asked.json()["result"]["rows"]
    assert rows[0][0] == "Ada Lovelace"
    assert rows[0][1].startswith("⟪mask:")
    turns = list(Turn.objects.order_by("id"))
    stored = json.dumps([t.result for t in turns], ensure_ascii=False)
    thread = alice_client.get(f"/threads/{turns[0].thread_id}")
    history = alice_page.get(f"/history/{turns[0].thread_id}/")
    chat = alice_page.get("/")
    csvs = [alice_page.get(f"/turns/{t.id}/csv/") for t in turns]
    assert thread.status_code == history.status_code == chat.status_code == 200
    assert all(c.status_code == 200 for c in csvs)
    for text in (
        json.dumps(asked.json()),
        json.dumps(own_sql.json()),
        stored,
        json.dumps(thread.json()),
        history.content.decode(),
        chat.content.decode(),
        *(c.content.decode() for c in csvs),
    ):
        assert _leaks(text, EMAILS) == []
    assert "Ada Lovelace" in csvs[0].content.decode()
    assert _leaks(_sent_to_llm(llm_stub), EMAILS) == []


def test_a_tier_changed_to_schema_applies_to_the_next_ask_and_its_history(
    alice_client, alice, make_connection, llm_stub
):
    llm_stub.responder = scripted_responder(
        [
            StubReply(
                tool_calls=[("run_query", {"sql": "SELECT email FROM customers"})]
            ),
            StubReply(content=f"The first email is {EMAILS[0]}."),
            StubReply(
                tool_calls=[("run_query", {"sql": "SELECT name FROM customers"})]
            ),
            StubReply(content="See the table."),
        ]
    )
    connection = make_connection(alice, "sqlite")
    _connect(alice_client, connection)
    first = alice_client.post("/ask", {"question": "First email?"}, format="json")
    assert first.status_code == 200
    sent_before = len(llm_stub.requests)

    patched = alice_client.patch(
        f"/databases/{connection.id}", {"privacy": "schema"}, format="json"
    )
    second = alice_client.post("/ask", {"question": "And the names?"}, format="json")

    assert patched.status_code == 200
    assert second.status_code == 200, second.json()
    assert second.json()["result"]["rows"][0] == ["Ada Lovelace"]
    later = "\n".join(json.dumps(b) for b in llm_stub.requests[sent_before:])
    # The first answer quoted an email: it is not replayed under the new tier.
    assert "First email?" in later
    assert _leaks(later, CUSTOMER_VALUES) == []


def _mcp_ask(token: str, question: str) -> dict[str, Any]:
    result = mcp_tool_call(token, "ask", {"question": question})
    assert result["isError"] is False, result
    return result["structuredContent"]


@pytest.mark.parametrize("db_type", ENGINES)
def test_an_mcp_ask_and_its_follow_up_on_schema_send_no_value_to_the_llm(
    alice, connected_session, llm_stub, db_type
):
    from accounts.services import token_create

    llm_stub.responder = scripted_responder(
        [
            StubReply(tool_calls=[("describe_tables", {"table_names": ["customers"]})]),
            StubReply(
                tool_calls=[
                    ("run_query", {"sql": "SELECT * FROM customers ORDER BY id"})
                ]
            ),
            StubReply(content="Six customers; see the table."),
            StubReply(
                tool_calls=[("run_query", {"sql": "SELECT name FROM customers"})]
            ),
            StubReply(content="See the table."),
        ]
    )
    connected_session(alice, db_type, privacy="schema")
    token = token_create(owner=alice, name="claude", scope="ask").value

    first = _mcp_ask(token, "Show every customer")
    follow_up = _mcp_ask(token, "And only their names?")

    assert first["row_count"] == follow_up["row_count"] == 6
    assert len(llm_stub.requests) == 5
    assert _leaks(_sent_to_llm(llm_stub), CUSTOMER_VALUES) == []
    # The user's own record of the turn still holds the rows.
    assert Turn.objects.get(pk=first["turn_id"]).result["rows"][0][1] == "Ada Lovelace"


@pytest.mark.parametrize("db_type", ENGINES)
def test_an_evaluation_run_on_schema_tier_sends_no_value_to_the_llm(
    alice, make_connection, llm_stub, db_type, capsys
):
    from django.core.management import call_command

    from knowledge.models import GoldenQuestion, GoldenSet

    sql = "SELECT name, email FROM customers ORDER BY id"
    llm_stub.responder = scripted_responder(
        [
            StubReply(tool_calls=[("run_query", {"sql": sql})]),
            StubReply(content="The names and emails are in the table."),
        ]
    )
    connection = make_connection(alice, db_type, privacy="schema")
    golden = GoldenSet.objects.create(connection=connection, name="canary")
    GoldenQuestion.objects.create(
        golden_set=golden, question="Names and emails of customers?", sql=sql
    )

    call_command("evaluate", str(connection.id), "--set", "canary", "--json")

    summary = json.loads(capsys.readouterr().out)
    assert summary["correct"] == 1
    assert llm_stub.requests
    assert _leaks(_sent_to_llm(llm_stub), CUSTOMER_VALUES) == []
