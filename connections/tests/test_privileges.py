"""Least privilege made visible: warnings for powerful roles, refusal on demand."""

from __future__ import annotations

import pytest

from connections.models import UserSession

pytestmark = pytest.mark.django_db

SERVER_ENGINES = ("postgresql", "mysql")
EXPECTED = {
    "postgresql": "The role is a PostgreSQL superuser.",
    "mysql": "The account has all privileges (administrator).",
}


@pytest.mark.parametrize("db_type", SERVER_ENGINES)
def test_connecting_as_an_administrator_warns_in_the_answer_and_the_status(
    alice_client, alice, make_connection, db_type
):
    connection = make_connection(alice, db_type, reader=False)

    connected = alice_client.post(f"/databases/connect_db/{connection.id}")
    status = alice_client.get("/databases/session-status").json()

    assert connected.status_code == 200
    assert EXPECTED[db_type] in connected.json()["warnings"]
    assert status["warnings"] == connected.json()["warnings"]
    assert status["database"]["id"] == connection.id


def test_a_mysql_administrator_is_also_warned_about_server_files(
    alice_client, alice, make_connection
):
    connection = make_connection(alice, "mysql", reader=False)

    response = alice_client.post(f"/databases/connect_db/{connection.id}")

    assert (
        "The account has the FILE privilege (server files)."
        in (response.json()["warnings"])
    )


def test_a_postgresql_superuser_is_also_warned_about_server_programs(
    alice_client, alice, make_connection
):
    connection = make_connection(alice, "postgresql", reader=False)

    response = alice_client.post(f"/databases/connect_db/{connection.id}")

    assert (
        "The role may run programs on the database server."
        in (response.json()["warnings"])
    )


@pytest.mark.parametrize("db_type", [*SERVER_ENGINES, "sqlite"])
def test_a_read_only_role_gets_no_warning(
    alice_client, alice, make_connection, db_type
):
    connection = make_connection(alice, db_type)

    connected = alice_client.post(f"/databases/connect_db/{connection.id}")
    tested = alice_client.post(f"/databases/{connection.id}/test")

    assert connected.json()["warnings"] == []
    assert alice_client.get("/databases/session-status").json()["warnings"] == []
    assert tested.json()["warnings"] == []


@pytest.mark.parametrize("db_type", SERVER_ENGINES)
def test_testing_an_administrator_connection_shows_the_warnings(
    alice_client, alice, make_connection, db_type
):
    connection = make_connection(alice, db_type, reader=False)

    response = alice_client.post(f"/databases/{connection.id}/test")

    assert response.json()["ok"] is True
    assert EXPECTED[db_type] in response.json()["warnings"]


@pytest.mark.parametrize("db_type", SERVER_ENGINES)
def test_the_refusal_setting_turns_administrators_away_with_403(
    alice_client, alice, make_connection, settings, db_type
):
    settings.REFUSE_PRIVILEGED_CONNECTIONS = True
    connection = make_connection(alice, db_type, reader=False)

    response = alice_client.post(f"/databases/connect_db/{connection.id}")

    assert response.status_code == 403
    body = response.json()
    assert body["code"] == "privileged_role_refused"
    assert EXPECTED[db_type] in body["detail"]
    assert "read-only role" in body["detail"]
    assert not UserSession.objects.filter(db_connection=connection).exists()


@pytest.mark.parametrize("db_type", SERVER_ENGINES)
def test_the_refusal_setting_lets_read_only_roles_in(
    alice_client, alice, make_connection, settings, db_type
):
    settings.REFUSE_PRIVILEGED_CONNECTIONS = True
    connection = make_connection(alice, db_type)

    response = alice_client.post(f"/databases/connect_db/{connection.id}")

    assert response.status_code == 200
