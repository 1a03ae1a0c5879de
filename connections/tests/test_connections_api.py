"""The connection records API: list, add, read, change, delete and test.

Every response in this file is checked for the passwords by conftest.py.
"""

from __future__ import annotations

import warnings
from typing import Any

import pytest
from django.conf import settings as django_settings

from connections.models import DatabaseConnection
from connections.tests.conftest import WRONG_PASSWORD
from testsupport.fixtures import (
    ENGINES,
    READER,
    SQLITE_FILE,
    TARGET_DB,
    connection_fields,
)

pytestmark = pytest.mark.django_db

SERVER_ENGINES = ("postgresql", "mysql")


def _body(engine: str, **overrides: Any) -> dict[str, Any]:
    """The documented request body for a working connection to `engine`."""
    fields = connection_fields(engine)
    password = fields.pop("password", "")
    return {**fields, "db_password": password, **overrides}


def _add(client: Any, body: dict[str, Any]) -> Any:
    return client.post("/databases/add_db_connection", body, format="json")


# -- add -----------------------------------------------------------------------


@pytest.mark.parametrize("db_type", ENGINES)
def test_adding_a_connection_returns_it_owned_by_the_caller(
    alice_client, alice, bob, shop, db_type
):
    response = _add(alice_client, _body(db_type, owner_id=bob.id))

    assert response.status_code == 201
    body = response.json()
    assert body["message"]
    created = body["db_connection"]
    assert created["owner_id"] == alice.id
    assert created["db_type"] == db_type
    assert created["database_name"] == connection_fields(db_type)["database_name"]
    assert {"id", "host", "port", "username", "created_at"} <= set(created)
    assert "password" not in created
    assert "db_password" not in created
    row = DatabaseConnection.objects.get(pk=created["id"])
    assert row.owner == alice


@pytest.mark.parametrize("db_type", SERVER_ENGINES)
def test_the_password_is_stored_and_reported_only_as_present(
    alice_client, shop, db_type
):
    response = _add(alice_client, _body(db_type))

    created = response.json()["db_connection"]
    assert created["has_password"] is True
    row = DatabaseConnection.objects.get(pk=created["id"])
    assert row.get_password() == READER["password"]


def test_sqlite_ignores_server_fields_sent_by_clients(alice_client, shop):
    body = _body(
        "sqlite", host="db.example.com", port=5432, username="x", db_password="pw"
    )

    response = _add(alice_client, body)

    assert response.status_code == 201
    row = DatabaseConnection.objects.get(pk=response.json()["db_connection"]["id"])
    assert (row.host, row.port, row.username, row.has_password) == ("", 0, "", False)


def test_sqlite_accepts_the_empty_server_fields_clients_send(alice_client, shop):
    response = _add(
        alice_client,
        {
            "db_type": "sqlite",
            "host": "",
            "port": 0,
            "database_name": SQLITE_FILE,
            "username": "",
            "db_password": "",
        },
    )

    assert response.status_code == 201


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"db_type": "oracle"}, "db_type"),
        ({"port": 70000}, "port"),
        ({"port": -1}, "port"),
        ({"port": 0}, "port"),
        ({"host": ""}, "host"),
        ({"host": "   "}, "host"),
        ({"username": ""}, "username"),
        ({"database_name": ""}, "database_name"),
    ],
)
@pytest.mark.parametrize("db_type", SERVER_ENGINES)
def test_adding_an_invalid_server_connection_is_a_400_naming_the_field(
    alice_client, db_type, overrides, field
):
    response = _add(alice_client, _body(db_type, **overrides))

    assert response.status_code == 400
    assert field in response.json()
    assert not DatabaseConnection.objects.exists()


def test_a_missing_host_and_username_are_both_named(alice_client):
    body = _body("postgresql")
    del body["host"], body["username"]

    response = _add(alice_client, body)

    assert response.status_code == 400
    assert {"host", "username"} <= set(response.json())


@pytest.mark.parametrize(
    "database_name",
    [
        "../x.sqlite3",
        "../../etc/passwd",
        "/etc/passwd",
        "sub/../../x",
        "file:x?mode=rw",
    ],
)
def test_a_sqlite_path_leaving_the_folder_is_a_400_naming_database_name(
    alice_client, shop, database_name
):
    response = _add(alice_client, _body("sqlite", database_name=database_name))

    assert response.status_code == 400
    assert "database_name" in response.json()


def test_a_missing_sqlite_file_is_a_400_naming_database_name(alice_client, shop):
    response = _add(alice_client, _body("sqlite", database_name="nope.sqlite3"))

    assert response.status_code == 400
    assert "nope.sqlite3" in response.json()["database_name"][0]


def test_a_sqlite_symlink_pointing_out_of_the_folder_is_a_400(
    alice_client, shop, tmp_path
):
    outside = tmp_path / "outside.sqlite3"
    outside.write_bytes(b"")
    link = shop["sqlite_dir"] / "link-out.sqlite3"
    link.symlink_to(outside)
    try:
        response = _add(alice_client, _body("sqlite", database_name=link.name))
    finally:
        link.unlink()

    assert response.status_code == 400
    assert "database_name" in response.json()


def test_a_sqlite_connection_to_the_apps_own_database_is_a_400(
    alice_client, shop, settings
):
    # Run as if the app's database were a SQLite file inside the folder.
    app_file = shop["sqlite_dir"] / "app.sqlite3"
    app_file.write_bytes(b"")
    sqlite_default = {
        **django_settings.DATABASES["default"],
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(app_file),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        settings.DATABASES = {**django_settings.DATABASES, "default": sqlite_default}
    try:
        response = _add(alice_client, _body("sqlite", database_name="app.sqlite3"))
    finally:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            del settings.DATABASES
        app_file.unlink()

    assert response.status_code == 400
    assert "own database" in response.json()["database_name"][0]


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_a_server_connection_to_the_apps_own_database_is_a_400(alice_client, host):
    app_database = django_settings.DATABASES["default"]["NAME"]

    response = _add(
        alice_client,
        _body("postgresql", host=host, port=5432, database_name=app_database),
    )

    assert response.status_code == 400
    assert "own database" in response.json()["database_name"][0]


@pytest.mark.parametrize(
    "options", [{"local_infile": "1"}, {"init_command": "SET GLOBAL x=1"}]
)
def test_driver_options_off_the_allow_list_are_a_400_naming_options(
    alice_client, options
):
    response = _add(alice_client, _body("mysql", options=options))

    assert response.status_code == 400
    assert "options" in response.json()
    assert not DatabaseConnection.objects.exists()


def test_allowed_driver_options_are_kept(alice_client, shop):
    response = _add(alice_client, _body("postgresql", options={"sslmode": "prefer"}))

    assert response.status_code == 201
    assert response.json()["db_connection"]["options"] == {"sslmode": "prefer"}


# -- list, read, change, delete --------------------------------------------------


def test_the_list_holds_only_the_callers_connections(
    alice_client, alice, bob, make_connection
):
    mine = [make_connection(alice, db_type).id for db_type in ENGINES]
    make_connection(bob, "postgresql")

    response = alice_client.get("/databases")

    assert response.status_code == 200
    assert [c["id"] for c in response.json()] == mine
    assert all(c["owner_id"] == alice.id for c in response.json())


def test_reading_a_connection_returns_its_fields_without_password(
    alice_client, alice, make_connection
):
    connection = make_connection(alice, "mysql")

    response = alice_client.get(f"/databases/{connection.id}")

    assert response.status_code == 200
    body = response.json()
    assert body["id"] == connection.id
    assert body["username"] == READER["username"]
    assert body["has_password"] is True
    assert not {"password", "db_password", "password_encrypted"} & set(body)


def test_patching_a_connection_changes_only_the_fields_sent(
    alice_client, alice, make_connection
):
    connection = make_connection(alice, "postgresql")

    response = alice_client.patch(
        f"/databases/{connection.id}", {"label": "Shop"}, format="json"
    )

    assert response.status_code == 200
    connection.refresh_from_db()
    assert connection.label == "Shop"
    assert connection.database_name == TARGET_DB
    assert connection.get_password() == READER["password"]


def test_patching_the_password_replaces_the_stored_one(
    alice_client, alice, make_connection
):
    connection = make_connection(alice, "mysql")

    response = alice_client.patch(
        f"/databases/{connection.id}", {"db_password": WRONG_PASSWORD}, format="json"
    )

    assert response.status_code == 200
    connection.refresh_from_db()
    assert connection.get_password() == WRONG_PASSWORD


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"port": 99999}, "port"),
        ({"host": ""}, "host"),
        ({"db_type": "db2"}, "db_type"),
        ({"host": "169.254.169.254"}, "host"),
        ({"options": {"local_infile": "1"}}, "options"),
    ],
)
def test_an_invalid_patch_is_a_400_and_changes_nothing(
    alice_client, alice, make_connection, change, field
):
    connection = make_connection(alice, "postgresql")

    response = alice_client.patch(f"/databases/{connection.id}", change, format="json")

    assert response.status_code == 400
    assert field in response.json()
    connection.refresh_from_db()
    assert (connection.host, connection.port) == ("127.0.0.1", 5432)


def test_patching_a_sqlite_connection_to_leave_the_folder_is_a_400(
    alice_client, alice, make_connection
):
    connection = make_connection(alice, "sqlite")

    response = alice_client.patch(
        f"/databases/{connection.id}", {"database_name": "../x"}, format="json"
    )

    assert response.status_code == 400
    assert "database_name" in response.json()


def test_deleting_a_connection_removes_it(alice_client, alice, make_connection):
    connection = make_connection(alice, "sqlite")

    response = alice_client.delete(f"/databases/{connection.id}")

    assert response.status_code == 204
    assert not DatabaseConnection.objects.filter(pk=connection.id).exists()


# -- test ----------------------------------------------------------------------


@pytest.mark.parametrize("db_type", ENGINES)
def test_testing_a_working_connection_reports_latency_and_version(
    alice_client, alice, make_connection, db_type
):
    connection = make_connection(alice, db_type)

    response = alice_client.post(f"/databases/{connection.id}/test")

    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is True
    assert body["latency_ms"] >= 0
    assert body["server_version"][0].isdigit()


@pytest.mark.parametrize(
    ("db_type", "overrides", "reason"),
    [
        ("mysql", {"password": WRONG_PASSWORD}, "Authentication failed"),
        # .ci/services.sh makes PostgreSQL check the reader role's password.
        ("postgresql", {"password": WRONG_PASSWORD}, "Authentication failed"),
        ("postgresql", {"username": "no_such_role"}, "Authentication failed"),
        ("postgresql", {"port": 1}, "connection refused"),
        ("mysql", {"port": 1}, "connection refused"),
        ("postgresql", {"database_name": "no_such_db"}, "Unknown database"),
        ("mysql", {"database_name": "no_such_db"}, "Unknown database"),
        (
            "mysql",
            {"username": "root", "password": "", "database_name": "nope"},
            "Unknown database",
        ),
        ("sqlite", {"database_name": "gone.sqlite3"}, "gone.sqlite3"),
    ],
)
def test_testing_a_broken_connection_reports_a_readable_reason(
    alice_client, alice, make_connection, db_type, overrides, reason
):
    connection = make_connection(alice, db_type)
    password = overrides.pop("password", None)
    DatabaseConnection.objects.filter(pk=connection.pk).update(**overrides)
    if password is not None:
        connection.refresh_from_db()
        connection.set_password(password)
        connection.save()

    response = alice_client.post(f"/databases/{connection.id}/test")

    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is False
    assert reason in body["error"]


# -- access ----------------------------------------------------------------------

CONNECTION_ROUTES = [
    ("get", "/databases/{id}"),
    ("patch", "/databases/{id}"),
    ("delete", "/databases/{id}"),
    ("post", "/databases/{id}/test"),
    ("post", "/databases/connect_db/{id}"),
]


@pytest.mark.parametrize(("method", "path"), CONNECTION_ROUTES)
def test_bob_gets_the_same_404_for_alices_connection_as_for_a_missing_one(
    bob_client, alice, make_connection, method, path
):
    connection = make_connection(alice, "postgresql")
    missing_id = connection.id + 1000
    body = {"label": "mine now"}

    alices = getattr(bob_client, method)(
        path.format(id=connection.id), body, format="json"
    )
    missing = getattr(bob_client, method)(
        path.format(id=missing_id), body, format="json"
    )

    assert alices.status_code == 404
    assert (missing.status_code, missing.json()) == (404, alices.json())
    connection.refresh_from_db()
    assert connection.label == ""


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/databases"),
        ("post", "/databases/add_db_connection"),
        *CONNECTION_ROUTES,
        ("get", "/databases/session-status"),
        ("post", "/databases/disconnect-session"),
        ("get", "/health/session"),
    ],
)
def test_anonymous_callers_get_401_everywhere_but_health(
    anon_client, alice, make_connection, method, path
):
    connection = make_connection(alice, "sqlite")

    response = getattr(anon_client, method)(path.format(id=connection.id), {})

    assert response.status_code == 401
    assert DatabaseConnection.objects.filter(pk=connection.id).exists()


def test_bad_masked_column_entries_are_one_flat_list_of_messages(alice_client, shop):
    body = {
        "db_type": "sqlite",
        "database_name": "shop.sqlite3",
        "masked_columns": ["email", None],
    }

    response = alice_client.post("/databases/add_db_connection", body, format="json")

    assert response.status_code == 400
    assert response.json()["masked_columns"] == ["Entry 2: This field may not be null."]


def test_the_api_refuses_a_label_longer_than_100_characters(
    alice_client: Any,
) -> None:
    response = alice_client.post(
        "/databases/add_db_connection",
        {"label": "L" * 101, "db_type": "sqlite", "database_name": "shop.sqlite3"},
        format="json",
    )

    assert response.status_code == 400
    assert "label" in response.json()
