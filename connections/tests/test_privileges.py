"""Least privilege enforced: powerful roles refused by default, lesser rights warned."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import MySQLdb
import psycopg
import pytest

from connections.models import UserSession
from testsupport.fixtures import TARGET_DB

pytestmark = pytest.mark.django_db

SERVER_ENGINES = ("postgresql", "mysql")
EXPECTED = {
    "postgresql": "The role is a PostgreSQL superuser.",
    "mysql": "The account has all privileges (administrator).",
}
ROLE_PASSWORD = "Role-Pw-7731"
# Roles are per server, not per database: name them after this run's database.
SUFFIX = TARGET_DB.removeprefix("sqlagent_target").strip("_") or "main"


def _pg_admin() -> psycopg.Connection:
    return psycopg.connect(
        host="127.0.0.1", user="postgres", dbname=TARGET_DB, autocommit=True
    )


def _mysql_admin() -> Any:
    conn = MySQLdb.connect(host="127.0.0.1", user="root")
    conn.autocommit(True)
    return conn


@pytest.fixture
def pg_role(shop: Any) -> Iterator[Any]:
    """Create a PostgreSQL login role with the given extra SQL; drop it after."""
    created: list[str] = []

    def make(kind: str, *grants: str) -> str:
        name = f"sqa_{kind}_{SUFFIX}"
        with _pg_admin() as conn:
            if _pg_exists(conn, name):  # left over from an interrupted run
                conn.execute(f'DROP OWNED BY "{name}"')
            conn.execute(f'DROP ROLE IF EXISTS "{name}"')
            conn.execute(f"CREATE ROLE \"{name}\" LOGIN PASSWORD '{ROLE_PASSWORD}'")
            conn.execute(f'GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{name}"')
            for grant in grants:
                conn.execute(grant.format(role=f'"{name}"'))
        created.append(name)
        return name

    yield make
    with _pg_admin() as conn:
        for name in created:
            conn.execute(f'DROP OWNED BY "{name}"')
            conn.execute(f'DROP ROLE IF EXISTS "{name}"')


def _pg_exists(conn: psycopg.Connection, name: str) -> bool:
    found = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,))
    return found.fetchone() is not None


@pytest.fixture
def mysql_account(shop: Any) -> Iterator[Any]:
    """Create a MariaDB account with SELECT on the shop plus the given grants."""
    created: list[str] = []

    def make(kind: str, *grants: str) -> str:
        name = f"sqa_{kind}_{SUFFIX}"[:32]
        conn = _mysql_admin()
        try:
            cursor = conn.cursor()
            cursor.execute(f"DROP USER IF EXISTS '{name}'@'%'")
            cursor.execute(f"CREATE USER '{name}'@'%' IDENTIFIED BY '{ROLE_PASSWORD}'")
            cursor.execute(f"GRANT SELECT ON `{TARGET_DB}`.* TO '{name}'@'%'")
            for grant in grants:
                cursor.execute(grant.format(account=f"'{name}'@'%'"))
        finally:
            conn.close()
        created.append(name)
        return name

    yield make
    conn = _mysql_admin()
    try:
        for name in created:
            conn.cursor().execute(f"DROP USER IF EXISTS '{name}'@'%'")
    finally:
        conn.close()


def _connect(client: Any, make_connection: Any, owner: Any, db_type: str, **kw: Any):
    connection = make_connection(owner, db_type, **kw)
    return connection, client.post(f"/databases/connect_db/{connection.id}")


# --- refused by default ----------------------------------------------------------


@pytest.mark.parametrize("db_type", SERVER_ENGINES)
def test_an_administrator_is_refused_by_default_with_a_reason_and_the_way_out(
    alice_client, alice, make_connection, db_type
):
    connection, response = _connect(
        alice_client, make_connection, alice, db_type, reader=False
    )

    assert response.status_code == 403
    body = response.json()
    assert body["code"] == "privileged_role_refused"
    assert EXPECTED[db_type] in body["detail"]
    assert "read-only role" in body["detail"]
    assert '"Read-only role"' in body["detail"]
    assert not UserSession.objects.filter(db_connection=connection).exists()


@pytest.mark.parametrize(
    ("grant", "expected"),
    [
        ("GRANT pg_read_server_files TO {role}", "may read files"),
        ("GRANT pg_write_server_files TO {role}", "may write files"),
        ("GRANT pg_execute_server_program TO {role}", "may run programs"),
    ],
)
def test_a_postgresql_role_with_server_file_rights_is_refused_by_default(
    alice_client, alice, make_connection, pg_role, grant, expected
):
    name = pg_role("file", grant)

    _, response = _connect(
        alice_client,
        make_connection,
        alice,
        "postgresql",
        username=name,
        password=ROLE_PASSWORD,
    )

    assert response.status_code == 403
    assert expected in response.json()["detail"]


@pytest.mark.parametrize(
    ("grant", "expected"),
    [
        ("GRANT FILE ON *.* TO {account}", "FILE privilege"),
        ("GRANT SUPER ON *.* TO {account}", "all privileges"),
        ("GRANT INSERT ON *.* TO {account}", "beyond its database"),
        ("GRANT DELETE ON `mysql`.* TO {account}", "beyond its database"),
    ],
)
def test_a_mariadb_account_with_file_super_or_foreign_writes_is_refused_by_default(
    alice_client, alice, make_connection, mysql_account, grant, expected
):
    name = mysql_account("priv", grant)

    _, response = _connect(
        alice_client,
        make_connection,
        alice,
        "mysql",
        username=name,
        password=ROLE_PASSWORD,
    )

    assert response.status_code == 403
    assert expected in response.json()["detail"]


# --- allowed by the operator, still warned ----------------------------------------


@pytest.mark.parametrize("db_type", SERVER_ENGINES)
def test_the_setting_lets_an_administrator_in_and_the_warning_stays(
    alice_client, alice, make_connection, settings, db_type
):
    settings.ALLOW_PRIVILEGED_CONNECTIONS = True

    connection, connected = _connect(
        alice_client, make_connection, alice, db_type, reader=False
    )
    status = alice_client.get("/databases/session-status").json()

    assert connected.status_code == 200
    assert EXPECTED[db_type] in connected.json()["warnings"]
    assert status["warnings"] == connected.json()["warnings"]
    assert status["database"]["id"] == connection.id


def test_the_setting_lets_a_file_reading_postgresql_role_in_with_its_warning(
    alice_client, alice, make_connection, pg_role, settings
):
    settings.ALLOW_PRIVILEGED_CONNECTIONS = True
    name = pg_role("file", "GRANT pg_read_server_files TO {role}")

    _, response = _connect(
        alice_client,
        make_connection,
        alice,
        "postgresql",
        username=name,
        password=ROLE_PASSWORD,
    )

    assert response.status_code == 200
    assert response.json()["warnings"] == [
        "The role may read files on the database server."
    ]


def test_the_setting_lets_a_mariadb_file_account_in_with_its_warning(
    alice_client, alice, make_connection, mysql_account, settings
):
    settings.ALLOW_PRIVILEGED_CONNECTIONS = True
    name = mysql_account("priv", "GRANT FILE ON *.* TO {account}")

    _, response = _connect(
        alice_client,
        make_connection,
        alice,
        "mysql",
        username=name,
        password=ROLE_PASSWORD,
    )

    assert response.status_code == 200
    assert response.json()["warnings"] == [
        "The account has the FILE privilege (server files)."
    ]


# --- lesser rights: a warning only ---------------------------------------------


def test_a_postgresql_role_that_may_write_a_table_is_warned_not_refused(
    alice_client, alice, make_connection, pg_role
):
    name = pg_role("writer", "GRANT INSERT ON notes TO {role}")

    _, response = _connect(
        alice_client,
        make_connection,
        alice,
        "postgresql",
        username=name,
        password=ROLE_PASSWORD,
    )

    assert response.status_code == 200
    assert response.json()["warnings"] == ["The role may change data in some tables."]


def test_a_mariadb_account_that_may_write_its_own_database_is_warned_not_refused(
    alice_client, alice, make_connection, mysql_account
):
    name = mysql_account("writer", f"GRANT INSERT ON `{TARGET_DB}`.* TO {{account}}")

    _, response = _connect(
        alice_client,
        make_connection,
        alice,
        "mysql",
        username=name,
        password=ROLE_PASSWORD,
    )

    assert response.status_code == 200
    assert response.json()["warnings"] == ["The account may change data or schema."]


@pytest.mark.parametrize("db_type", [*SERVER_ENGINES, "sqlite"])
def test_a_read_only_role_gets_no_warning(
    alice_client, alice, make_connection, db_type
):
    connection, connected = _connect(alice_client, make_connection, alice, db_type)
    tested = alice_client.post(f"/databases/{connection.id}/test")

    assert connected.status_code == 200
    assert connected.json()["warnings"] == []
    assert alice_client.get("/databases/session-status").json()["warnings"] == []
    assert tested.json()["warnings"] == []


@pytest.mark.parametrize("db_type", SERVER_ENGINES)
def test_testing_an_administrator_connection_reports_the_refusal_connect_would_give(
    alice_client, alice, make_connection, db_type
):
    connection = make_connection(alice, db_type, reader=False)

    response = alice_client.post(f"/databases/{connection.id}/test")

    assert response.json()["ok"] is False
    assert EXPECTED[db_type] in response.json()["error"]
    assert "read-only role" in response.json()["error"]


@pytest.mark.parametrize("db_type", SERVER_ENGINES)
def test_testing_an_administrator_connection_shows_the_warnings_when_allowed(
    alice_client, alice, make_connection, privileged_ok, db_type
):
    connection = make_connection(alice, db_type, reader=False)

    response = alice_client.post(f"/databases/{connection.id}/test")

    assert response.json()["ok"] is True
    assert EXPECTED[db_type] in response.json()["warnings"]
