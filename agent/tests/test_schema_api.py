"""GET /databases/{id}/schema: the schema at hand, owner only, on all three engines."""

from __future__ import annotations

import pytest

from testsupport.fixtures import ENGINES

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("db_type", ENGINES)
def test_the_schema_lists_tables_and_views_by_name(
    alice_client, alice, make_connection, db_type
):
    connection = make_connection(alice, db_type)

    response = alice_client.get(f"/databases/{connection.id}/schema")

    assert response.status_code == 200
    names = {t["name"]: t["kind"] for t in response.json()["tables"]}
    assert names["customers"] == "table"
    assert names["orders"] == "table"
    assert response.json()["count"] == len(response.json()["tables"])


@pytest.mark.parametrize("db_type", ENGINES)
def test_a_table_is_described_with_types_and_keys(
    alice_client, alice, make_connection, db_type
):
    connection = make_connection(alice, db_type)

    response = alice_client.get(f"/databases/{connection.id}/schema/orders")

    assert response.status_code == 200
    columns = {c["name"]: c for c in response.json()["columns"]}
    assert columns["id"]["primary_key"] is True
    assert columns["customer_id"]["references"] == "customers.id"
    assert "DECIMAL" in columns["total"]["type"].upper() or "NUMERIC" in (
        columns["total"]["type"].upper()
    )
    assert columns["created"]["nullable"] is False


def test_search_filters_names(alice_client, alice, make_connection):
    connection = make_connection(alice, "sqlite")

    response = alice_client.get(f"/databases/{connection.id}/schema?q=CUST")

    assert [t["name"] for t in response.json()["tables"]] == ["customers"]


def test_suggested_questions_come_from_the_schema(alice_client, alice, make_connection):
    connection = make_connection(alice, "sqlite")

    response = alice_client.get(f"/databases/{connection.id}/schema?suggest=1")

    suggestions = response.json()["suggested_questions"]
    assert suggestions[0] == "How many rows does each table have?"
    assert any("latest orders by created" in s for s in suggestions)


def test_an_unknown_table_is_404(alice_client, alice, make_connection):
    connection = make_connection(alice, "sqlite")

    response = alice_client.get(f"/databases/{connection.id}/schema/nope")

    assert response.status_code == 404


def test_bob_gets_404_for_alices_schema(bob_client, alice, make_connection):
    connection = make_connection(alice, "sqlite")

    assert bob_client.get(f"/databases/{connection.id}/schema").status_code == 404
    assert (
        bob_client.get(f"/databases/{connection.id}/schema/customers").status_code
        == 404
    )


def test_the_schema_anonymous_is_401(anon_client, alice, make_connection):
    connection = make_connection(alice, "sqlite")

    assert anon_client.get(f"/databases/{connection.id}/schema").status_code == 401


def test_an_unreachable_database_is_502_without_secrets(
    alice_client, alice, make_connection
):
    connection = make_connection(alice, "postgresql", password="wrong-secret-pw")

    response = alice_client.get(f"/databases/{connection.id}/schema")

    assert response.status_code == 502
    assert "wrong-secret-pw" not in response.content.decode()
