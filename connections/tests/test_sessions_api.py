"""Sessions: connect a database, read the status, disconnect.

Every response in this file is checked for the passwords by conftest.py.
"""

from __future__ import annotations

import json
import threading
import uuid
from typing import Any

import pytest
from django.db import connection as app_db
from rest_framework import serializers
from sqlalchemy import text

from agent.engines import engine_cache
from connections.models import DatabaseConnection, SessionStatus, UserSession
from connections.serializers import SessionStatusSerializer
from connections.services import session_get_or_create_active
from connections.tests.conftest import WRONG_PASSWORD
from testsupport.fixtures import ENGINES, api_client_for

pytestmark = pytest.mark.django_db


def _connect(client: Any, connection_id: int) -> Any:
    return client.post(f"/databases/connect_db/{connection_id}")


# -- connect -------------------------------------------------------------------


@pytest.mark.parametrize("db_type", ENGINES)
def test_connecting_binds_the_database_to_the_callers_session(
    alice_client, alice, make_connection, db_type
):
    connection = make_connection(alice, db_type)

    response = _connect(alice_client, connection.id)

    assert response.status_code == 200
    body = response.json()
    session = UserSession.objects.get(user=alice, status=SessionStatus.ACTIVE)
    assert body["session_id"] == str(session.id)
    assert body["thread_id"] == body["session_id"]
    assert body["db_id"] == connection.id
    assert body["database_name"] == connection.database_name
    assert body["user_id"] == alice.id
    assert body["warnings"] == []
    assert session.db_connection_id == connection.id


def _break(connection: DatabaseConnection, **fields: Any) -> None:
    password = fields.pop("password", None)
    DatabaseConnection.objects.filter(pk=connection.pk).update(**fields)
    if password is not None:
        connection.refresh_from_db()
        connection.set_password(password)
        connection.save()


@pytest.mark.parametrize(
    ("db_type", "change", "reason"),
    [
        ("mysql", {"password": WRONG_PASSWORD}, "Authentication failed"),
        ("postgresql", {"username": "no_such_role"}, "Authentication failed"),
        ("postgresql", {"port": 1}, "127.0.0.1:1"),
        ("mysql", {"port": 1}, "127.0.0.1:1"),
        ("postgresql", {"database_name": "no_such_db"}, "no_such_db"),
        ("mysql", {"database_name": "no_such_db"}, "no_such_db"),
        ("sqlite", {"database_name": "gone.sqlite3"}, "gone.sqlite3"),
    ],
)
def test_a_failing_connect_is_a_502_with_the_reason_and_binds_nothing(
    alice_client, alice, make_connection, db_type, change, reason
):
    connection = make_connection(alice, db_type)
    _break(connection, **change)

    response = _connect(alice_client, connection.id)

    assert response.status_code == 502
    assert response.json()["code"] == "database_unavailable"
    assert reason in response.json()["detail"]
    assert not UserSession.objects.filter(db_connection=connection).exists()


def test_a_failing_reconnect_keeps_the_database_already_bound(
    alice_client, alice, make_connection
):
    working = make_connection(alice, "sqlite")
    broken = make_connection(alice, "mysql", password=WRONG_PASSWORD)
    _connect(alice_client, working.id)

    response = _connect(alice_client, broken.id)

    assert response.status_code == 502
    status = alice_client.get("/databases/session-status").json()
    assert status["database"]["id"] == working.id


# -- status --------------------------------------------------------------------


def test_the_first_status_request_opens_a_session_without_database(alice_client, alice):
    response = alice_client.get("/databases/session-status")

    assert response.status_code == 200
    body = response.json()
    session = UserSession.objects.get(user=alice)
    assert body["session_id"] == str(session.id)
    assert body["thread_id"] == body["session_id"]
    assert body["user_id"] == alice.id
    assert body["database_connected"] is False
    assert body["database"] is None
    assert body["created_at"]
    assert body["last_activity_at"]


@pytest.mark.parametrize("db_type", ENGINES)
def test_the_status_shows_the_connected_database(
    alice_client, alice, make_connection, db_type
):
    connection = make_connection(alice, db_type)
    session_id = _connect(alice_client, connection.id).json()["session_id"]

    body = alice_client.get("/databases/session-status").json()

    assert body["session_id"] == session_id
    assert body["database_connected"] is True
    assert body["database"]["id"] == connection.id
    assert body["database"]["db_type"] == db_type
    assert body["database"]["database_name"] == connection.database_name
    assert body["warnings"] == []


@pytest.mark.parametrize("connected", [False, True])
def test_the_status_body_is_what_its_schema_serializers_fields_produce(
    alice, make_connection, connected
):
    session = session_get_or_create_active(user=alice)
    if connected:
        session.db_connection = make_connection(alice, "postgresql", label="Shop")
        session.warnings = ["The role is a superuser."]
    serializer = SessionStatusSerializer(session)

    generic = serializers.Serializer.to_representation(serializer, session)

    assert serializer.data == generic
    assert json.dumps(serializer.data) == json.dumps(generic)


def test_the_session_persists_across_requests(alice_client):
    first = alice_client.get("/databases/session-status").json()["session_id"]
    second = alice_client.get("/databases/session-status").json()["session_id"]

    assert first == second


def test_bob_never_sees_alices_session(
    alice_client, bob_client, alice, make_connection
):
    connection = make_connection(alice, "postgresql")
    alices = _connect(alice_client, connection.id).json()["session_id"]

    bobs = bob_client.get("/databases/session-status").json()
    bob_connect = _connect(bob_client, connection.id)
    bob_disconnect = bob_client.post("/databases/disconnect-session").json()

    assert bobs["session_id"] != alices
    assert bobs["database"] is None
    assert bob_connect.status_code == 404
    assert bob_disconnect["session_id"] == bobs["session_id"]
    still = alice_client.get("/databases/session-status").json()
    assert still["session_id"] == alices
    assert still["database"]["id"] == connection.id


# -- disconnect ------------------------------------------------------------------


def test_disconnecting_closes_the_session_and_the_next_request_gets_a_new_one(
    alice_client, alice, make_connection
):
    connection = make_connection(alice, "sqlite")
    old = uuid.UUID(_connect(alice_client, connection.id).json()["session_id"])

    response = alice_client.post("/databases/disconnect-session")

    assert response.status_code == 200
    body = response.json()
    assert body["session_id"] == str(old)
    assert body["thread_id"] == str(old)
    assert body["user_id"] == alice.id
    assert body["message"]
    closed = UserSession.objects.get(pk=old)
    assert closed.status == SessionStatus.CLOSED
    assert closed.closed_at is not None
    new = alice_client.get("/databases/session-status").json()
    assert uuid.UUID(new["session_id"]) != old
    assert new["database_connected"] is False


def test_disconnecting_drops_the_sessions_engine(alice, connected_session):
    session = connected_session(alice, "postgresql")
    engine_cache.get(session)
    client = api_client_for(alice)

    client.post("/databases/disconnect-session")

    assert session.id not in engine_cache


# -- engine cache and restarts ---------------------------------------------------


@pytest.mark.parametrize("db_type", ENGINES)
def test_a_cleared_engine_cache_still_serves_the_session(
    alice_client, alice, make_connection, db_type
):
    connection = make_connection(alice, db_type)
    session_id = _connect(alice_client, connection.id).json()["session_id"]
    engine_cache.close_all()  # as after a restart

    session = session_get_or_create_active(user=alice)
    entry = engine_cache.get(session)
    with entry.engine.connect() as conn:
        marker = conn.execute(text("SELECT engine FROM db_marker")).scalar_one()

    assert str(session.id) == session_id
    assert marker == db_type
    status = alice_client.get("/databases/session-status").json()
    assert status["session_id"] == session_id
    assert status["database"]["id"] == connection.id


# -- concurrency -------------------------------------------------------------------


def _run_in_threads(count: int, work: Any) -> list[Any]:
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            barrier.wait()
            results[index] = work()
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)
        finally:
            app_db.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    return results


@pytest.mark.django_db(transaction=True)
def test_concurrent_first_requests_share_one_session(alice):
    clients = [api_client_for(alice) for _ in range(8)]
    lock = threading.Lock()

    def status() -> str:
        with lock:
            client = clients.pop()
        response = client.get("/databases/session-status")
        assert response.status_code == 200
        return response.json()["session_id"]

    session_ids = _run_in_threads(8, status)

    assert len(set(session_ids)) == 1
    assert UserSession.objects.filter(user=alice).count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_service_calls_create_one_active_session(alice, bob):
    session_ids = _run_in_threads(
        10, lambda: session_get_or_create_active(user=alice).id
    )

    assert len(set(session_ids)) == 1
    assert UserSession.objects.filter(user=alice, status="active").count() == 1
    assert not UserSession.objects.filter(user=bob).exists()


def test_the_database_refuses_a_second_active_session(alice):
    from django.db import IntegrityError, transaction

    session_get_or_create_active(user=alice)

    with pytest.raises(IntegrityError), transaction.atomic():
        UserSession.objects.create(user=alice)
