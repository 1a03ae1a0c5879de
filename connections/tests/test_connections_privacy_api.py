"""The connection's privacy fields over the API: `privacy`, `masked_columns` and
`masked_hidden` on create, read and PATCH; bad tiers and patterns are 400s."""

from __future__ import annotations

from typing import Any

import pytest

from connections.models import DatabaseConnection
from testsupport.fixtures import connection_fields

pytestmark = pytest.mark.django_db


def _body(**overrides: Any) -> dict[str, Any]:
    return {**connection_fields("sqlite"), **overrides}


def _add(client: Any, body: dict[str, Any]) -> Any:
    return client.post("/databases/add_db_connection", body, format="json")


def test_a_new_connection_defaults_to_rows_with_nothing_masked(alice_client, shop):
    response = _add(alice_client, _body())

    assert response.status_code == 201
    created = response.json()["db_connection"]
    assert created["privacy"] == "rows"
    assert created["masked_columns"] == []
    assert created["masked_hidden"] is False


def test_a_connection_is_added_with_its_tier_and_masks(alice_client, shop):
    response = _add(
        alice_client,
        _body(
            privacy="schema",
            masked_columns=[" *email* ", "customers.phone", "ssn", "*EMAIL*"],
            masked_hidden=True,
        ),
    )

    assert response.status_code == 201, response.json()
    created = response.json()["db_connection"]
    assert created["privacy"] == "schema"
    # Stripped, and the same pattern in another case kept once.
    assert created["masked_columns"] == ["*email*", "customers.phone", "ssn"]
    assert created["masked_hidden"] is True
    row = DatabaseConnection.objects.get(pk=created["id"])
    assert row.privacy == "schema"
    assert row.masked_columns == ["*email*", "customers.phone", "ssn"]


def test_reading_a_connection_returns_its_privacy_fields(
    alice_client, alice, make_connection
):
    connection = make_connection(
        alice, "sqlite", privacy="schema", masked_columns=["password*"]
    )

    body = alice_client.get(f"/databases/{connection.id}").json()

    assert body["privacy"] == "schema"
    assert body["masked_columns"] == ["password*"]
    assert body["masked_hidden"] is False


def test_patching_the_tier_changes_only_it_and_records_when(
    alice_client, alice, make_connection
):
    connection = make_connection(alice, "sqlite", masked_columns=["*ssn*"])
    assert connection.privacy_changed_at is None

    response = alice_client.patch(
        f"/databases/{connection.id}", {"privacy": "schema"}, format="json"
    )

    assert response.status_code == 200, response.json()
    assert response.json()["privacy"] == "schema"
    assert response.json()["masked_columns"] == ["*ssn*"]
    connection.refresh_from_db()
    assert connection.privacy == "schema"
    assert connection.privacy_changed_at is not None


def test_patching_another_field_keeps_the_privacy_change_time(
    alice_client, alice, make_connection
):
    connection = make_connection(alice, "sqlite", privacy="schema")

    response = alice_client.patch(
        f"/databases/{connection.id}", {"label": "Shop"}, format="json"
    )

    assert response.status_code == 200
    connection.refresh_from_db()
    assert connection.label == "Shop"
    assert connection.privacy == "schema"
    assert connection.privacy_changed_at is None


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("privacy", "everything"),
        ("masked_columns", "email"),
        ("masked_columns", ["a.b.c"]),
        ("masked_columns", ["email; DROP TABLE x"]),
        ("masked_columns", ["[a-z]*"]),
        ("masked_columns", [""]),
        ("masked_columns", ["x" * 200]),
        ("masked_columns", [f"c{i}" for i in range(101)]),
        ("masked_columns", [{"column": "email"}]),
    ],
)
def test_a_bad_tier_or_mask_is_a_400_naming_the_field(
    alice_client, alice, make_connection, field, value
):
    added = _add(alice_client, _body(**{field: value}))
    connection = make_connection(alice, "sqlite")
    patched = alice_client.patch(
        f"/databases/{connection.id}", {field: value}, format="json"
    )

    for response in (added, patched):
        assert response.status_code == 400
        assert field in response.json()
    connection.refresh_from_db()
    assert connection.privacy == "rows"
    assert connection.masked_columns == []


def test_bob_gets_404_when_patching_alices_privacy(alice, bob_client, make_connection):
    connection = make_connection(alice, "sqlite")

    response = bob_client.patch(
        f"/databases/{connection.id}", {"privacy": "rows"}, format="json"
    )

    assert response.status_code == 404
    connection.refresh_from_db()
    assert connection.privacy == "rows"


def test_anonymous_callers_get_401_for_the_privacy_fields(
    anon_client, alice, make_connection
):
    connection = make_connection(alice, "sqlite")

    response = anon_client.patch(
        f"/databases/{connection.id}", {"privacy": "schema"}, format="json"
    )

    assert response.status_code == 401


def test_the_connection_page_explains_the_tiers_and_saves_them(
    alice_page, alice, make_connection
):
    connection = make_connection(alice, "sqlite")
    url = f"/connections/{connection.id}/edit/"

    page = alice_page.get(url)
    fields = {
        **connection_fields("sqlite"),
        "label": "",
        "privacy": "schema",
        "masked_columns": "*email*\ncustomers.phone, ssn",
        "masked_hidden": "on",
    }
    saved = alice_page.post(url, fields)
    refused = alice_page.post(url, {**fields, "masked_columns": "a.b.c"})

    assert page.status_code == 200
    assert "Schema only" in page.text
    assert "never reach the model" in page.text
    assert saved.status_code == 302
    connection.refresh_from_db()
    assert connection.privacy == "schema"
    assert connection.masked_columns == ["*email*", "customers.phone", "ssn"]
    assert connection.masked_hidden is True
    assert refused.status_code == 200
    assert "is not a column name or pattern" in refused.text


def test_the_chat_page_shows_the_connections_tier(alice_page, alice, make_connection):
    from connections.services import session_connect, session_get_or_create_active

    connection = make_connection(alice, "sqlite", privacy="schema")
    session_connect(
        session=session_get_or_create_active(user=alice), connection=connection
    )

    page = alice_page.get("/")

    assert page.status_code == 200
    assert 'class="badge privacy-schema"' in page.text
    assert "schema only" in page.text
