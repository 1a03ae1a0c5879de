"""Health endpoints: the service alone (anonymous) and with the caller's session."""

from __future__ import annotations

import pytest

from testsupport.fixtures import TARGET_DB

pytestmark = pytest.mark.django_db


def test_health_answers_anonymous_callers(anon_client):
    response = anon_client.get("/health")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"] == "ok"
    assert body["version"]


def test_health_session_adds_the_callers_session(alice_client, alice, make_connection):
    connection = make_connection(alice, "mysql")
    session_id = alice_client.post(f"/databases/connect_db/{connection.id}").json()[
        "session_id"
    ]

    response = alice_client.get("/health/session")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["session"]["session_id"] == session_id
    assert body["session"]["user_id"] == alice.id
    assert body["session"]["database"]["database_name"] == TARGET_DB


def test_health_session_is_401_for_anonymous_callers(anon_client):
    response = anon_client.get("/health/session")

    assert response.status_code == 401
