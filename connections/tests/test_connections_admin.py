"""The Django admin for connections (password write-only) and sessions (read-only).

Every page in this file is checked for the passwords by conftest.py; the
ciphertext is checked here, as it differs per row.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.test import Client

from agent.engines import engine_cache
from connections.models import DatabaseConnection, SessionStatus, UserSession
from connections.tests.conftest import WRONG_PASSWORD, assert_no_secret
from testsupport.fixtures import PASSWORD, READER, TARGET_DB

pytestmark = pytest.mark.django_db

CONNECTIONS = "/admin/connections/databaseconnection/"
SESSIONS = "/admin/connections/usersession/"


@pytest.fixture
def admin_client() -> Client:
    from accounts.models import User

    admin = User.objects.create_superuser(email="root@example.com", password=PASSWORD)
    client = Client()
    client.force_login(admin)
    return client


def _messages(response: Any) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_the_connection_pages_never_show_the_password_or_its_ciphertext(
    admin_client, alice, make_connection
):
    connection = make_connection(alice, "postgresql")
    ciphertext = connection.password_encrypted

    listing = admin_client.get(CONNECTIONS)
    change = admin_client.get(f"{CONNECTIONS}{connection.id}/change/")

    assert listing.status_code == 200
    assert change.status_code == 200
    assert TARGET_DB in listing.content.decode()
    for page in (listing, change):
        assert_no_secret(page.content, ciphertext, ciphertext[:40])


def test_the_connection_list_filters_by_owner_and_type(
    admin_client, alice, bob, make_connection
):
    make_connection(alice, "postgresql")
    make_connection(bob, "sqlite")

    page = admin_client.get(CONNECTIONS).content.decode()
    only_bobs = admin_client.get(f"{CONNECTIONS}?owner__id__exact={bob.id}")

    assert "db_type__exact=postgresql" in page
    assert f"owner__id__exact={alice.id}" in page
    assert [c.owner for c in only_bobs.context["cl"].result_list] == [bob]


def test_the_test_action_reports_each_connection(admin_client, alice, make_connection):
    working = make_connection(alice, "mysql", label="Working shop")
    broken = make_connection(alice, "mysql", label="Broken shop")
    broken.set_password(WRONG_PASSWORD)
    broken.save()

    response = admin_client.post(
        CONNECTIONS,
        {"action": "test_connection", "_selected_action": [working.id, broken.id]},
        follow=True,
    )

    assert response.status_code == 200
    messages = _messages(response)
    assert any(m.startswith("Working shop: OK in") for m in messages)
    assert any(
        m.startswith("Broken shop: failed: Authentication failed") for m in messages
    )


def _change_form(connection: DatabaseConnection, **changes: Any) -> dict[str, Any]:
    return {
        "owner": connection.owner_id,
        "label": connection.label,
        "db_type": connection.db_type,
        "host": connection.host,
        "port": connection.port,
        "database_name": connection.database_name,
        "username": connection.username,
        "options": "{}",
        "privacy": connection.privacy,
        "masked_columns": "[]",
        "new_password": "",
        **changes,
    }


def test_saving_the_change_form_with_a_blank_password_keeps_the_old_one(
    admin_client, alice, make_connection
):
    connection = make_connection(alice, "mysql")

    response = admin_client.post(
        f"{CONNECTIONS}{connection.id}/change/",
        _change_form(connection, label="Renamed"),
    )

    assert response.status_code == 302
    connection.refresh_from_db()
    assert connection.label == "Renamed"
    assert connection.get_password() == READER["password"]


def test_the_change_form_sets_a_new_password_encrypted(
    admin_client, alice, make_connection
):
    connection = make_connection(alice, "mysql")

    admin_client.post(
        f"{CONNECTIONS}{connection.id}/change/",
        _change_form(connection, new_password=WRONG_PASSWORD),
    )

    connection.refresh_from_db()
    assert connection.get_password() == WRONG_PASSWORD
    assert WRONG_PASSWORD not in connection.password_encrypted


def test_the_sessions_admin_is_read_only(admin_client, alice, connected_session):
    session = connected_session(alice, "sqlite")

    listing = admin_client.get(SESSIONS)
    view = admin_client.get(f"{SESSIONS}{session.id}/change/")
    change = admin_client.post(f"{SESSIONS}{session.id}/change/", {"status": "closed"})
    add = admin_client.get(f"{SESSIONS}add/")
    delete = admin_client.get(f"{SESSIONS}{session.id}/delete/")

    assert listing.status_code == 200
    assert str(session.id) in listing.content.decode()
    assert view.status_code == 200
    assert 'name="_save"' not in view.content.decode()
    assert change.status_code == 403
    assert add.status_code == 403
    assert delete.status_code == 403
    session.refresh_from_db()
    assert session.status == SessionStatus.ACTIVE


def test_the_disconnect_action_closes_the_session_and_drops_its_engine(
    admin_client, alice, bob, connected_session
):
    alices = connected_session(alice, "postgresql")
    bobs = connected_session(bob, "sqlite")
    engine_cache.get(alices)

    response = admin_client.post(
        SESSIONS, {"action": "disconnect", "_selected_action": [alices.id]}, follow=True
    )

    assert "Disconnected 1 session(s)." in _messages(response)
    alices.refresh_from_db()
    assert alices.status == SessionStatus.CLOSED
    assert alices.closed_at is not None
    assert alices.id not in engine_cache
    assert UserSession.objects.get(pk=bobs.id).status == SessionStatus.ACTIVE


def test_the_admin_refuses_a_host_the_api_refuses(admin_client, alice):
    response = admin_client.post(
        f"{CONNECTIONS}add/",
        {
            "owner": alice.id,
            "label": "metadata",
            "db_type": "postgresql",
            "host": "169.254.169.254",
            "port": 5432,
            "database_name": "x",
            "username": "u",
            "options": "{}",
            "privacy": "rows",
            "masked_columns": "[]",
            "new_password": "",
        },
    )

    assert response.status_code == 200
    assert "this service refuses" in response.content.decode()
    assert not DatabaseConnection.objects.exists()


def test_an_admin_edit_goes_through_the_service_and_releases_bound_sessions(
    admin_client, alice, connected_session
):
    session = connected_session(alice, "sqlite")
    engine_cache.get(session)
    connection = session.db_connection

    response = admin_client.post(
        f"{CONNECTIONS}{connection.id}/change/",
        _change_form(connection, label="Renamed"),
    )

    assert response.status_code == 302
    assert session.id not in engine_cache


def test_the_connection_services_refuse_unknown_fields_instead_of_dropping_them(
    alice,
):
    from connections.services import connection_create

    with pytest.raises(TypeError):
        connection_create(
            owner=alice,
            db_type="sqlite",
            database_name="shop.sqlite3",
            colour="red",  # type: ignore[call-arg]
        )


def test_the_connection_services_apply_the_save_time_checks_themselves(alice):
    from connections.services import connection_create
    from connections.validation import ConnectionInvalid

    with pytest.raises(ConnectionInvalid) as excinfo:
        connection_create(
            owner=alice,
            db_type="postgresql",
            host="169.254.169.254",
            port=5432,
            database_name="x",
            username="u",
        )

    assert "host" in excinfo.value.errors
    assert not DatabaseConnection.objects.exists()


def test_the_admin_sets_the_privacy_tier_and_masks_and_refuses_a_bad_pattern(
    admin_client, alice, make_connection
):
    connection = make_connection(alice, "sqlite")
    url = f"{CONNECTIONS}{connection.id}/change/"

    saved = admin_client.post(
        url,
        _change_form(
            connection,
            privacy="schema",
            masked_columns='["*email*", "customers.phone"]',
            masked_hidden="on",
        ),
    )
    refused = admin_client.post(
        url, _change_form(connection, masked_columns='["a.b.c"]')
    )

    assert saved.status_code == 302
    assert refused.status_code == 200
    assert "is not a column name or pattern" in refused.content.decode()
    connection.refresh_from_db()
    assert connection.privacy == "schema"
    assert connection.masked_columns == ["*email*", "customers.phone"]
    assert connection.masked_hidden is True


def test_an_admin_privacy_change_is_recorded_and_a_label_change_is_not(
    admin_client, alice, make_connection
):
    # The admin form writes its values onto the instance before saving; the
    # change must still be told apart from what the row held.
    labelled = make_connection(alice, "sqlite")
    tiered = make_connection(alice, "sqlite")

    admin_client.post(
        f"{CONNECTIONS}{labelled.id}/change/", _change_form(labelled, label="New")
    )
    admin_client.post(
        f"{CONNECTIONS}{tiered.id}/change/", _change_form(tiered, privacy="schema")
    )

    labelled.refresh_from_db()
    tiered.refresh_from_db()
    assert labelled.label == "New"
    assert labelled.privacy_changed_at is None
    assert tiered.privacy == "schema"
    assert tiered.privacy_changed_at is not None
