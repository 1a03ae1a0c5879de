"""The gate's verdict: inspected once per version of a connection record, not on
every ask; inspected again when the record changes or the verdict ages, so a
connection edited to a privileged role, or a role granted rights after the
connect, is refused from then on, pooled connections included."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from connections import privileges
from connections.backends import backend_for, backends
from connections.engines import engine_create, engine_shared
from connections.exceptions import PrivilegedConnectionRefused
from connections.privileges import verdicts

# The role fixtures (`x as x`: taken in as fixtures, not as names to call).
from connections.tests.test_privileges import (
    ROLE_PASSWORD,
    _mysql_admin,
    _pg_admin,
)
from connections.tests.test_privileges import mysql_account as mysql_account
from connections.tests.test_privileges import pg_role as pg_role
from testsupport.fixtures import MYSQL_ADMIN, PG_ADMIN

pytestmark = pytest.mark.django_db

SERVER_ENGINES = ("postgresql", "mysql")
ADMIN = {"postgresql": PG_ADMIN, "mysql": MYSQL_ADMIN}
COUNT = "SELECT COUNT(*) AS n FROM customers"


@pytest.fixture(autouse=True)
def _fresh_verdicts() -> Iterator[None]:
    verdicts.clear()
    yield
    verdicts.clear()


@pytest.fixture
def inspections(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Count the privilege inspections each backend runs."""
    seen: list[str] = []
    for backend in backends():
        db_type = backend.db_type
        original = backend.privileges_inspect

        def counting(dbapi_connection: Any, _o=original, _t=db_type) -> Any:
            seen.append(_t)
            return _o(dbapi_connection)

        monkeypatch.setattr(backend, "privileges_inspect", counting)
    return seen


def _connect(client: Any, connection: Any) -> None:
    response = client.post(f"/databases/connect_db/{connection.id}")
    assert response.status_code == 200, response.content


def _run_sql(client: Any, sql: str = COUNT) -> Any:
    return client.post("/ask/sql", {"sql": sql}, format="json")


@pytest.mark.parametrize("db_type", [*SERVER_ENGINES, "sqlite"])
def test_the_role_is_inspected_once_per_record_version_not_per_query(
    alice_client, alice, make_connection, inspections, db_type
):
    connection = make_connection(alice, db_type)
    _connect(alice_client, connection)

    answers = [_run_sql(alice_client).status_code for _ in range(4)]
    schema = alice_client.get(f"/databases/{connection.id}/schema")

    assert answers == [200] * 4
    assert schema.status_code == 200
    # The connect's own check; its findings are the verdict the queries reuse.
    assert inspections == [db_type]

    renamed = alice_client.patch(
        f"/databases/{connection.id}", {"label": "renamed"}, format="json"
    )
    assert renamed.status_code == 200
    assert _run_sql(alice_client).status_code == 200
    assert _run_sql(alice_client).status_code == 200
    # A new version of the record: inspected once more, then trusted again.
    assert inspections == [db_type, db_type]


@pytest.mark.parametrize("db_type", [*SERVER_ENGINES, "sqlite"])
def test_a_shared_pool_inspects_each_record_version_once(
    alice, bob, make_connection, inspections, db_type
):
    alices = make_connection(alice, db_type)
    bobs = make_connection(bob, db_type)

    engine = engine_shared(alices)
    # The first physical connection's inspection is the record's verdict.
    assert inspections == [db_type]
    assert engine_shared(alices) is engine
    assert inspections == [db_type]
    # Another record on the same pool is inspected once for itself.
    assert engine_shared(bobs) is engine
    assert engine_shared(bobs) is engine
    assert inspections == [db_type, db_type]


@pytest.mark.parametrize("db_type", SERVER_ENGINES)
def test_a_connection_edited_to_an_admin_role_while_connected_is_refused(
    alice_client, alice, make_connection, db_type
):
    connection = make_connection(alice, db_type)
    _connect(alice_client, connection)
    assert _run_sql(alice_client).status_code == 200
    admin = ADMIN[db_type]

    edited = alice_client.patch(
        f"/databases/{connection.id}",
        {"username": admin["username"], "db_password": admin["password"]},
        format="json",
    )
    after = _run_sql(alice_client)

    assert edited.status_code == 200
    assert after.status_code == 403
    assert after.json()["code"] == "privileged_role_refused"


def test_a_role_made_superuser_after_the_connect_is_refused_once_its_verdict_ages(
    alice_client, alice, make_connection, pg_role, monkeypatch
):
    name = pg_role("later")
    connection = make_connection(
        alice, "postgresql", username=name, password=ROLE_PASSWORD
    )
    _connect(alice_client, connection)
    # The session's engine keeps this physical connection in its pool.
    assert _run_sql(alice_client).status_code == 200
    with _pg_admin() as admin:
        admin.execute(f'ALTER ROLE "{name}" SUPERUSER')
    assert _run_sql(alice_client).status_code == 200  # the verdict still holds

    monkeypatch.setattr(privileges, "VERDICT_TTL_S", 0.0)
    aged = _run_sql(alice_client)

    assert aged.status_code == 403
    assert "The role is a PostgreSQL superuser." in aged.json()["detail"]


def test_a_mariadb_account_granted_file_after_the_connect_is_refused_once_aged(
    alice_client, alice, make_connection, mysql_account, monkeypatch
):
    name = mysql_account("later")
    connection = make_connection(alice, "mysql", username=name, password=ROLE_PASSWORD)
    _connect(alice_client, connection)
    assert _run_sql(alice_client).status_code == 200
    admin = _mysql_admin()
    try:
        admin.cursor().execute(f"GRANT FILE ON *.* TO '{name}'@'%'")
    finally:
        admin.close()

    monkeypatch.setattr(privileges, "VERDICT_TTL_S", 0.0)
    aged = _run_sql(alice_client)

    assert aged.status_code == 403
    assert "FILE privilege" in aged.json()["detail"]


@pytest.mark.parametrize("db_type", SERVER_ENGINES)
def test_a_refused_role_is_not_logged_in_again_once_known(
    alice, make_connection, inspections, db_type
):
    connection = make_connection(alice, db_type, reader=False)

    for _ in range(3):
        with pytest.raises(PrivilegedConnectionRefused):
            engine_create(connection, pooled=False)

    # Found out on the first engine's one connection; the next engines are
    # refused from the verdict without opening one.
    assert inspections == [db_type]


@pytest.mark.parametrize("db_type", SERVER_ENGINES)
def test_an_engine_built_while_allowed_is_refused_on_its_next_use_once_not(
    alice, make_connection, settings, db_type
):
    settings.ALLOW_PRIVILEGED_CONNECTIONS = True
    engine = engine_create(make_connection(alice, db_type, reader=False))
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")
        settings.ALLOW_PRIVILEGED_CONNECTIONS = False

        # The pooled connection that passed is refused at its next checkout.
        with pytest.raises(PrivilegedConnectionRefused), engine.connect():
            pass
    finally:
        engine.dispose()


@pytest.mark.parametrize("db_type", SERVER_ENGINES)
def test_rights_that_cannot_be_read_refuse_the_role_until_they_can(
    alice, make_connection, monkeypatch, db_type
):
    backend = backend_for(db_type)
    readable = backend.privileges_inspect
    connection = make_connection(alice, db_type)

    def broken(dbapi_connection: Any) -> Any:
        raise RuntimeError("permission denied for pg_roles")

    monkeypatch.setattr(backend, "privileges_inspect", broken)
    with pytest.raises(PrivilegedConnectionRefused, match="Could not inspect"):
        engine_create(connection, pooled=False)

    # Not kept as a verdict: once the rights can be read, the role passes.
    monkeypatch.setattr(backend, "privileges_inspect", readable)
    engine_create(connection, pooled=False).dispose()
