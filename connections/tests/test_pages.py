"""The connection pages: list, add, edit, delete, test, connect, disconnect."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from typing import Any

import pytest
from django.test import Client

from connections.models import DatabaseConnection, SessionStatus, UserSession
from connections.tests.conftest import WRONG_PASSWORD
from testsupport.fixtures import (
    READER,
    SQLITE_FILE,
    TARGET_DB,
    sqlite_connection_form,
)

pytestmark = pytest.mark.django_db


_form = sqlite_connection_form


def _postgres_form(**overrides: Any) -> dict[str, Any]:
    fields = {
        "db_type": "postgresql",
        "host": "127.0.0.1",
        "port": "5432",
        "database_name": TARGET_DB,
        "username": READER["username"],
        "password": READER["password"],
    }
    return _form(**{**fields, **overrides})


def test_anonymous_visitor_is_sent_to_login(client: Client) -> None:
    response = client.get("/connections/")

    assert response.status_code == 302
    assert response.url.startswith("/accounts/login/")


def test_the_list_shows_my_connections_and_not_bobs(
    alice_page: Client, alice: Any, bob: Any, make_connection: Any
) -> None:
    make_connection(alice, "sqlite", label="Alice shop")
    make_connection(bob, "sqlite", label="Bob secret shop")

    response = alice_page.get("/connections/")

    assert response.status_code == 200
    assert "<title>Connections · SQLAgent</title>" in response.text
    assert "Alice shop" in response.text
    assert "Bob secret shop" not in response.text


def test_adding_a_sqlite_connection_saves_it_for_me(
    alice_page: Client, alice: Any, shop: Any
) -> None:
    response = alice_page.post("/connections/add/", _form(label="Demo shop"))

    assert response.status_code == 302
    assert response.url == "/connections/"
    connection = DatabaseConnection.objects.get(owner=alice)
    assert (connection.label, connection.db_type, connection.database_name) == (
        "Demo shop",
        "sqlite",
        SQLITE_FILE,
    )
    page = alice_page.get("/connections/")
    assert "Connection “Demo shop” added." in page.text


def test_adding_a_server_connection_stores_the_password_encrypted(
    alice_page: Client, alice: Any, shop: Any
) -> None:
    response = alice_page.post("/connections/add/", _postgres_form(label="PG"))

    assert response.status_code == 302
    connection = DatabaseConnection.objects.get(owner=alice)
    assert connection.get_password() == READER["password"]
    assert READER["password"] not in connection.password_encrypted


@pytest.mark.parametrize(
    ("form", "field"),
    [
        (_form(database_name="../etc/passwd"), "database_name"),
        (_form(database_name="/etc/passwd"), "database_name"),
        (_form(database_name="missing.sqlite3"), "database_name"),
        (_form(db_type="postgresql", host="", port="5432"), "host"),
        (_form(db_type="postgresql", host="db.example", port=""), "port"),
        (_form(db_type="postgresql", host="169.254.169.254", port="80"), "host"),
        (_form(db_type="oracle"), "db_type"),
        (_form(db_type="postgresql", host="h", port="70000", username="u"), "port"),
        (_form(options='{"init_command": "DROP TABLE x"}'), "options"),
    ],
)
def test_the_form_refuses_what_the_api_refuses_next_to_the_same_field(
    alice_page: Client,
    alice_client: Any,
    alice: Any,
    shop: Any,
    form: dict[str, Any],
    field: str,
) -> None:
    response = alice_page.post("/connections/add/", form)

    assert response.status_code == 200
    page_errors = response.context["form"].errors
    assert field in page_errors
    assert f'id="field-{field}"' in response.text
    body = {k: v for k, v in form.items() if v != "" and k != "password"}
    if "port" in body:
        body["port"] = int(body["port"])
    if "options" in body:
        body["options"] = json.loads(body["options"])
    api = alice_client.post("/databases/add_db_connection", body, format="json")
    assert api.status_code == 400
    if field not in ("db_type", "port"):
        # Messages of the shared rules are the same words on both.
        assert page_errors[field] == [str(m) for m in api.json()[field]]
    assert not DatabaseConnection.objects.filter(owner=alice).exists()


def test_the_edit_form_never_shows_the_password(
    alice_page: Client, alice: Any, make_connection: Any
) -> None:
    connection = make_connection(alice, "postgresql")

    response = alice_page.get(f"/connections/{connection.id}/edit/")

    assert response.status_code == 200
    assert READER["password"] not in response.text
    assert connection.password_encrypted not in response.text
    assert "A password is stored; leave blank to keep it." in response.text


def test_saving_the_edit_form_with_a_blank_password_keeps_the_old_one(
    alice_page: Client, alice: Any, make_connection: Any
) -> None:
    connection = make_connection(alice, "postgresql")

    response = alice_page.post(
        f"/connections/{connection.id}/edit/",
        _postgres_form(label="Renamed", password=""),
    )

    assert response.status_code == 302
    connection.refresh_from_db()
    assert connection.label == "Renamed"
    assert connection.get_password() == READER["password"]


def test_a_new_password_in_the_edit_form_replaces_the_old_one(
    alice_page: Client, alice: Any, make_connection: Any
) -> None:
    connection = make_connection(alice, "postgresql")

    alice_page.post(
        f"/connections/{connection.id}/edit/",
        _postgres_form(password=WRONG_PASSWORD),
    )

    connection.refresh_from_db()
    assert connection.get_password() == WRONG_PASSWORD


def test_remove_password_clears_the_stored_password(
    alice_page: Client, alice: Any, make_connection: Any
) -> None:
    connection = make_connection(alice, "postgresql")

    alice_page.post(
        f"/connections/{connection.id}/edit/",
        _postgres_form(password="", clear_password="on"),
    )

    connection.refresh_from_db()
    assert not connection.has_password


def test_deleting_asks_first_then_removes_the_connection(
    alice_page: Client, alice: Any, make_connection: Any
) -> None:
    connection = make_connection(alice, "sqlite", label="Old shop")

    confirm = alice_page.get(f"/connections/{connection.id}/delete/")
    assert "Delete connection “Old shop”?" in confirm.text
    assert DatabaseConnection.objects.filter(pk=connection.pk).exists()

    response = alice_page.post(f"/connections/{connection.id}/delete/")

    assert response.status_code == 302
    assert not DatabaseConnection.objects.filter(pk=connection.pk).exists()


def test_testing_a_working_connection_shows_the_server_version(
    alice_page: Client, alice: Any, make_connection: Any
) -> None:
    connection = make_connection(alice, "sqlite", label="Shop")

    response = alice_page.post(f"/connections/{connection.id}/test/", follow=True)

    assert response.status_code == 200
    assert "“Shop” works:" in response.text
    assert "server 3." in response.text


def test_testing_with_a_wrong_password_shows_the_reason_without_the_password(
    alice_page: Client, alice: Any, make_connection: Any
) -> None:
    # MariaDB checks passwords here (the local PostgreSQL trusts every one).
    connection = make_connection(alice, "mysql", password=WRONG_PASSWORD)

    response = alice_page.post(f"/connections/{connection.id}/test/", follow=True)

    assert response.status_code == 200
    assert "Authentication failed for user &#x27;sqlagent_reader&#x27;" in (
        response.text
    )


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/connections/{id}/edit/"),
        ("post", "/connections/{id}/edit/"),
        ("get", "/connections/{id}/delete/"),
        ("post", "/connections/{id}/delete/"),
        ("post", "/connections/{id}/test/"),
        ("post", "/connections/{id}/connect/"),
    ],
)
def test_bob_gets_404_on_every_page_of_alices_connection(
    bob_page: Client, alice: Any, make_connection: Any, method: str, path: str
) -> None:
    connection = make_connection(alice, "sqlite", label="Alice shop")

    response = getattr(bob_page, method)(
        path.format(id=connection.id), _form(label="hijacked")
    )

    assert response.status_code == 404
    connection.refresh_from_db()
    assert connection.label == "Alice shop"


def test_connecting_from_the_picker_binds_the_database_to_my_session(
    alice_page: Client, alice: Any, make_connection: Any
) -> None:
    connection = make_connection(alice, "sqlite", label="Shop")

    response = alice_page.post("/session/connect/", {"connection": connection.id})

    assert response.status_code == 302
    assert response.url == "/"
    session = UserSession.objects.get(user=alice, status=SessionStatus.ACTIVE)
    assert session.db_connection_id == connection.id


def test_the_picker_refuses_bobs_connection(
    bob_page: Client, alice: Any, bob: Any, make_connection: Any
) -> None:
    connection = make_connection(alice, "sqlite")

    response = bob_page.post("/session/connect/", {"connection": connection.id})

    assert response.status_code == 302
    assert not UserSession.objects.filter(
        user=bob, db_connection__isnull=False
    ).exists()


def test_a_failing_connect_leaves_a_readable_message(
    alice_page: Client, alice: Any, make_connection: Any
) -> None:
    connection = make_connection(alice, "mysql", password=WRONG_PASSWORD)

    alice_page.post(f"/connections/{connection.id}/connect/")
    response = alice_page.get("/connections/")

    assert "Could not connect to" in response.text
    assert "Authentication failed" in response.text
    assert not UserSession.objects.filter(
        user=alice, db_connection__isnull=False
    ).exists()


def test_disconnecting_closes_my_session(
    alice_page: Client, alice: Any, connected_session: Any
) -> None:
    session = connected_session(alice, "sqlite")

    response = alice_page.post("/session/disconnect/")

    assert response.status_code == 302
    session.refresh_from_db()
    assert session.status == SessionStatus.CLOSED


def test_a_404_page_keeps_the_layout_and_says_what_happened(
    bob_page: Client, alice: Any, make_connection: Any
) -> None:
    connection = make_connection(alice, "sqlite", label="Alice shop")

    response = bob_page.get(
        f"/connections/{connection.id}/edit/", HTTP_ACCEPT="text/html"
    )

    assert response.status_code == 404
    assert "<title>Not found · SQLAgent</title>" in response.text
    assert "Alice shop" not in response.text


def test_test_before_save_keeps_a_failing_connection_unsaved_with_the_reason(
    alice_page: Client, alice: Any, shop: Any
) -> None:
    form = _postgres_form(label="PG", password="wrong-pw-123", test_before_save="on")

    response = alice_page.post("/connections/add/", form)

    assert response.status_code == 200
    assert "Not saved: the test failed." in response.text
    assert "Authentication failed" in response.text
    # The password typed is kept for the next try, in a page nothing caches.
    assert 'value="wrong-pw-123"' in response.text
    assert "no-store" in response["Cache-Control"]
    assert not DatabaseConnection.objects.filter(owner=alice).exists()


def test_test_before_save_saves_a_working_connection(
    alice_page: Client, alice: Any, shop: Any
) -> None:
    form = _postgres_form(label="PG", test_before_save="on")

    response = alice_page.post("/connections/add/", form, follow=True)

    assert "Connection “PG” added and tested" in response.text
    assert DatabaseConnection.objects.filter(owner=alice).count() == 1


def test_the_add_form_tests_before_saving_by_default_and_offers_sqlite_files(
    alice_page: Client, shop: Any
) -> None:
    page = alice_page.get("/connections/add/").text

    assert 'name="test_before_save"' in page
    assert (
        'id="id_test_before_save" checked' in page
        or "checked" in page.split('name="test_before_save"')[1][:80]
    )
    assert f'<option value="{SQLITE_FILE}">' in page
    assert f"SQLite files: {SQLITE_FILE}" in page


def test_the_options_box_is_empty_rather_than_null(
    alice_page: Client, alice: Any, make_connection: Any
) -> None:
    connection = make_connection(alice, "sqlite")

    add = alice_page.get("/connections/add/").text
    edit = alice_page.get(f"/connections/{connection.id}/edit/").text

    for page in (add, edit):
        options = page.split('name="options"')[1].split("</textarea>")[0]
        assert "null" not in options


def test_a_port_speaking_another_protocol_gets_a_readable_reason(alice: Any) -> None:
    from connections.engines import connection_check
    from connections.services import connection_create

    # A web server answers whatever it is sent; PostgreSQL's driver then reads
    # "H" where it expected its SSL answer.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]

    def answer_like_a_web_server() -> None:
        with contextlib.suppress(OSError):
            while True:
                client, _ = listener.accept()
                with client:
                    client.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")

    threading.Thread(target=answer_like_a_web_server, daemon=True).start()
    try:
        connection = connection_create(
            owner=alice,
            db_type="postgresql",
            host="127.0.0.1",
            port=port,
            database_name="x",
            username="u",
            options={"sslmode": "prefer"},
        )
        check = connection_check(connection)
    finally:
        listener.close()

    assert not check.ok
    assert check.error.startswith(
        f"The server at 127.0.0.1:{port} did not answer as PostgreSQL"
    )
    assert "(Driver: " in check.error
    assert "received invalid response to SSL negotiation: H)" in check.error
