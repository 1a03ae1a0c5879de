"""Canaries for the value features: under the `schema` tier and on masked
columns, no stored value reaches the model through the value index, the
question's matches, find_values or the empty-result diagnosis (every request
the stub server received is searched), on all three engines and over HTTP."""

from __future__ import annotations

import json
from typing import Any

import pytest

from knowledge.models import IndexedColumn
from knowledge.values import value_index_build
from testsupport.fixtures import CUSTOMERS, ENGINES
from testsupport.llm_stub import StubReply, scripted_responder

pytestmark = pytest.mark.django_db

NAMES = [row[1] for row in CUSTOMERS]
COUNTRIES = ["Germany", "France", "Spain", "USA"]


def _sent_to_llm(llm_stub: Any) -> str:
    return "\n".join(json.dumps(body, ensure_ascii=False) for body in llm_stub.requests)


def _script(llm_stub: Any) -> None:
    llm_stub.responder = scripted_responder(
        [
            StubReply(
                tool_calls=[
                    (
                        "run_query",
                        {
                            "sql": "SELECT name FROM customers "
                            "WHERE country = 'germani' OR name = 'ada lovelace'"
                        },
                    )
                ]
            ),
            StubReply(
                tool_calls=[
                    (
                        "find_values",
                        {"table": "customers", "column": "country", "search": "germ"},
                    )
                ]
            ),
            StubReply(
                tool_calls=[
                    (
                        "find_values",
                        {"table": "customers", "column": "name", "search": "ada"},
                    )
                ]
            ),
            StubReply(content="See the table."),
        ]
    )


def _ask(client: Any, connection: Any) -> Any:
    assert client.post(f"/databases/connect_db/{connection.id}").status_code == 200
    return client.post(
        "/ask",
        {"question": "which customers live in germani, like ada lovelace?"},
        format="json",
    )


@pytest.mark.parametrize("db_type", ENGINES)
def test_a_schema_tier_connection_sends_no_value_through_the_value_features(
    alice_client, alice, make_connection, llm_stub, db_type
):
    connection = make_connection(alice, db_type, privacy="schema")
    value_index_build(connection=connection)
    _script(llm_stub)

    response = _ask(alice_client, connection)

    assert response.status_code == 200
    assert not IndexedColumn.objects.filter(connection=connection).exists()
    sent = _sent_to_llm(llm_stub)
    assert [v for v in [*NAMES, *COUNTRIES] if v in sent] == []
    assert "Privacy tier 'schema'" in sent


@pytest.mark.parametrize("db_type", ENGINES)
def test_masked_columns_send_no_value_through_the_value_features(
    alice_client, alice, make_connection, llm_stub, db_type
):
    connection = make_connection(
        alice, db_type, masked_columns=["customers.name", "country"]
    )
    value_index_build(connection=connection)
    _script(llm_stub)

    response = _ask(alice_client, connection)

    assert response.status_code == 200
    indexed = {
        c.column_name for c in IndexedColumn.objects.filter(connection=connection)
    }
    assert "name" not in indexed
    assert "country" not in indexed
    assert "email" in indexed
    sent = _sent_to_llm(llm_stub)
    assert [v for v in [*NAMES, *COUNTRIES] if v in sent] == []
    assert "is masked: its values are not shown" in sent
    # The user still gets the rows.
    assert response.json()["turn_id"]


@pytest.mark.parametrize("db_type", ["sqlite"])
def test_the_same_questions_values_do_reach_the_model_when_nothing_is_restricted(
    alice_client, alice, make_connection, llm_stub, db_type
):
    """The canaries above are not vacuous: unrestricted, the values do go."""
    connection = make_connection(alice, db_type)
    value_index_build(connection=connection)
    _script(llm_stub)

    _ask(alice_client, connection)

    sent = _sent_to_llm(llm_stub)
    assert "Germany" in sent
    assert "Ada Lovelace" in sent
