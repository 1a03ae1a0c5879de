"""Personal access tokens: lifecycle, hashing at rest, scopes, revocation, expiry,
isolation, and what the logs say about them."""

from __future__ import annotations

import copy
import io
import logging
import logging.config
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.db import connection as app_db
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import PersonalAccessToken
from accounts.services import token_create
from agent.models import Thread

pytestmark = pytest.mark.django_db


def _token_client(value: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {value}")
    return client


def _mint(user: Any, scope: str = "ask", **extra: Any) -> str:
    return token_create(owner=user, name=f"{scope} token", scope=scope, **extra).value


def test_creating_a_token_shows_its_value_once(alice_client):
    response = alice_client.post(
        "/auth/tokens", {"name": "laptop", "scope": "sql"}, format="json"
    )

    assert response.status_code == 201
    body = response.json()
    assert body["token"].startswith("sqa_")
    assert body["token"].startswith(body["token_hint"].rstrip("…"))
    assert body["name"] == "laptop"
    assert body["scope"] == "sql"
    assert body["status"] == "active"
    assert body["expires_at"] is None
    listed = alice_client.get("/auth/tokens").json()
    assert [t["name"] for t in listed] == ["laptop"]
    assert "token" not in listed[0]
    assert body["token"] not in str(listed)


def test_the_database_never_holds_the_token_value(alice_client):
    value = alice_client.post(
        "/auth/tokens", {"name": "ci", "scope": "ask"}, format="json"
    ).json()["token"]
    # sqa_<prefix>_<secret>: the secret is everything after the second "_"
    # (it may itself contain "_", so never split from the right).
    secret = value.split("_", 2)[2]
    assert len(secret) == 43

    with app_db.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {PersonalAccessToken._meta.db_table}")
        stored = [str(cell) for row in cursor.fetchall() for cell in row]

    assert not [cell for cell in stored if value in cell or secret in cell]
    assert len(PersonalAccessToken.objects.get().digest) == 64


def test_a_token_with_an_expiry_in_the_past_is_refused(alice_client):
    past = (timezone.now() - timedelta(minutes=1)).isoformat()
    response = alice_client.post(
        "/auth/tokens",
        {"name": "old", "scope": "ask", "expires_at": past},
        format="json",
    )
    assert response.status_code == 400
    assert "expires_at" in response.json()


@pytest.mark.parametrize(
    "body",
    [{}, {"name": "x", "scope": "admin"}, {"name": "", "scope": "ask"}, {"name": "x"}],
)
def test_creating_a_token_needs_a_name_and_a_known_scope(alice_client, body):
    response = alice_client.post("/auth/tokens", body, format="json")
    assert response.status_code == 400
    assert PersonalAccessToken.objects.count() == 0


def test_token_endpoints_refuse_anonymous_requests(anon_client, alice):
    token = token_create(owner=alice, name="t", scope="ask").token
    assert anon_client.get("/auth/tokens").status_code == 401
    assert (
        anon_client.post("/auth/tokens", {"name": "x"}, format="json").status_code
        == 401
    )
    assert anon_client.delete(f"/auth/tokens/{token.pk}").status_code == 401


def test_bob_gets_404_revoking_alices_token(bob_client, alice):
    token = token_create(owner=alice, name="t", scope="ask").token
    response = bob_client.delete(f"/auth/tokens/{token.pk}")
    assert response.status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None
    assert bob_client.get("/auth/tokens").json() == []


def test_a_revoked_token_is_refused_with_a_clear_message(alice_client, alice):
    created = token_create(owner=alice, name="t", scope="ask")
    client = _token_client(created.value)
    assert client.get("/auth/me").status_code == 200

    assert alice_client.delete(f"/auth/tokens/{created.token.pk}").status_code == 204

    response = client.get("/auth/me")
    assert response.status_code == 401
    assert response.json() == {
        "detail": "The access token has been revoked.",
        "code": "token_revoked",
    }
    assert response["WWW-Authenticate"].startswith("Bearer")
    listed = alice_client.get("/auth/tokens").json()
    assert listed[0]["status"] == "revoked"


def test_an_expired_token_is_refused(alice):
    created = token_create(
        owner=alice,
        name="t",
        scope="ask",
        expires_at=timezone.now() + timedelta(hours=1),
    )
    PersonalAccessToken.objects.filter(pk=created.token.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    response = _token_client(created.value).get("/auth/me")
    assert response.status_code == 401
    assert response.json()["code"] == "token_expired"


def test_a_forged_secret_with_a_real_prefix_is_refused(alice):
    value = _mint(alice)
    forged = value[:-4] + ("AAAA" if not value.endswith("AAAA") else "BBBB")
    response = _token_client(forged).get("/auth/me")
    assert response.status_code == 401
    assert response.json()["code"] == "token_not_valid"


def test_a_token_authenticates_as_its_owner(alice):
    response = _token_client(_mint(alice)).get("/auth/me")
    assert response.status_code == 200
    assert response.json()["email"] == alice.email


def test_last_used_is_recorded_at_most_once_a_minute(alice):
    created = token_create(owner=alice, name="t", scope="ask")
    client = _token_client(created.value)
    client.get("/auth/me")
    created.token.refresh_from_db()
    first = created.token.last_used_at
    assert first is not None
    client.get("/auth/me")
    created.token.refresh_from_db()
    assert created.token.last_used_at == first


def test_a_token_cannot_manage_tokens(alice):
    client = _token_client(_mint(alice, "sql"))
    response = client.post(
        "/auth/tokens", {"name": "more", "scope": "sql"}, format="json"
    )
    assert response.status_code == 403
    assert response.json()["code"] == "token_scope"
    assert client.get("/auth/tokens").status_code == 403
    assert PersonalAccessToken.objects.count() == 1


def test_a_token_cannot_add_or_change_connections(alice, make_connection):
    connection = make_connection(alice, "sqlite")
    client = _token_client(_mint(alice, "sql"))
    assert client.get(f"/databases/{connection.pk}").status_code == 200
    assert client.delete(f"/databases/{connection.pk}").status_code == 403
    response = client.post(
        "/databases/add_db_connection",
        {"db_type": "sqlite", "database_name": "x.sqlite3"},
        format="json",
    )
    assert response.status_code == 403


def test_an_ask_scope_token_may_not_run_sql(alice, connected_session):
    connected_session(alice, "sqlite")
    response = _token_client(_mint(alice, "ask")).post(
        "/ask/sql", {"sql": "SELECT 1"}, format="json"
    )
    assert response.status_code == 403
    assert response.json()["code"] == "token_scope"
    assert "'sql' scope" in response.json()["detail"]


def test_a_sql_scope_token_runs_sql_through_the_guarded_path(alice, connected_session):
    connected_session(alice, "sqlite")
    client = _token_client(_mint(alice, "sql"))
    ok = client.post(
        "/ask/sql", {"sql": "SELECT COUNT(*) FROM customers"}, format="json"
    )
    refused = client.post("/ask/sql", {"sql": "DELETE FROM customers"}, format="json")
    assert ok.status_code == 200
    assert ok.json()["result"]["row_count"] == 1
    assert refused.status_code == 400


def test_a_token_never_reaches_another_users_connections_or_threads(
    alice, bob, connected_session
):
    session = connected_session(alice, "sqlite")
    Thread.objects.create(id=session.pk, user=alice, title="alice's")
    bob_client = _token_client(_mint(bob, "sql"))

    assert bob_client.get("/databases").json() == []
    connection_id = session.db_connection_id
    assert bob_client.get(f"/databases/{connection_id}").status_code == 404
    assert bob_client.post(f"/databases/connect_db/{connection_id}").status_code == 404
    assert bob_client.get(f"/threads/{session.pk}").status_code == 404
    assert bob_client.get("/threads").json() == []


def test_a_bearer_value_that_is_not_ours_still_goes_to_jwt(anon_client):
    anon_client.credentials(HTTP_AUTHORIZATION="Bearer not-a-jwt")
    response = anon_client.get("/auth/me")
    assert response.status_code == 401
    assert response.json()["code"] == "token_not_valid"


@pytest.fixture
def plain_logs():
    config: dict[str, Any] = copy.deepcopy(django_settings.LOGGING)
    config["root"]["level"] = "INFO"
    logging.config.dictConfig(config)
    handler = next(h for h in logging.getLogger().handlers if h.name == "console")
    assert isinstance(handler, logging.StreamHandler)
    buffer = io.StringIO()
    handler.setStream(buffer)
    yield buffer
    logging.config.dictConfig(django_settings.LOGGING)


def test_logs_name_the_token_and_never_hold_its_value(alice, plain_logs):
    created = token_create(owner=alice, name="laptop", scope="ask")
    response = _token_client(created.value).get("/auth/me")
    revoked = token_create(owner=alice, name="old", scope="ask")
    revoked.token.revoked_at = timezone.now()
    revoked.token.save()
    _token_client(revoked.value).get("/auth/me")

    text = plain_logs.getvalue()
    line = next(line for line in text.splitlines() if "GET /auth/me 200" in line)
    assert response.status_code == 200
    assert f"token_name=laptop user={alice.pk}" in line
    assert "GET /auth/me 401" in text
    assert created.value not in text
    assert revoked.value not in text
    # sqa_<prefix>_<secret>: the secret may itself contain "_" (split from the left).
    assert created.value.split("_", 2)[2] not in text
