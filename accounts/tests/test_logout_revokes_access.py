"""A logout ends its session's access JWTs at once, not when they expire."""

from __future__ import annotations

import pytest
import redis
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.revocation import SESSION_CLAIM
from testsupport.fixtures import PASSWORD

pytestmark = pytest.mark.django_db

REDIS_URL = "redis://127.0.0.1:6379/15"


def _login(client, email="alice@example.com"):
    response = client.post(
        "/auth/login", {"email": email, "password": PASSWORD}, format="json"
    )
    assert response.status_code == 200, response.content
    return response.json()


def _me(client, access):
    return client.get("/auth/me", HTTP_AUTHORIZATION=f"Bearer {access}")


@pytest.fixture(params=["database", "redis"])
def shared_cache(request, settings):
    """Run each test with the default cache (a table) and with Redis."""
    if request.param == "redis":
        prefix = f"sqlagent-test-revoke-{id(request)}"
        settings.CACHES = {
            "default": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": REDIS_URL,
                "KEY_PREFIX": prefix,
            }
        }
        yield request.param
        client = redis.Redis.from_url(REDIS_URL)
        keys = list(client.scan_iter(match=f"{prefix}*"))
        if keys:
            client.delete(*keys)
        client.close()
    else:
        yield request.param


def test_the_access_token_of_a_logged_out_session_is_refused(
    shared_cache, anon_client, alice
):
    tokens = _login(anon_client)
    assert _me(anon_client, tokens["access"]).status_code == 200

    out = anon_client.post(
        "/auth/logout", {"refresh": tokens["refresh"]}, format="json"
    )
    after = _me(anon_client, tokens["access"])

    assert out.status_code == 200
    assert after.status_code == 401
    assert after.json()["code"] == "token_revoked"


def test_access_tokens_minted_by_refresh_are_revoked_with_their_session(
    shared_cache, anon_client, alice
):
    tokens = _login(anon_client)
    refreshed = anon_client.post(
        "/auth/refresh", {"refresh": tokens["refresh"]}, format="json"
    ).json()
    assert _me(anon_client, refreshed["access"]).status_code == 200

    anon_client.post("/auth/logout", {"refresh": refreshed["refresh"]}, format="json")

    assert _me(anon_client, tokens["access"]).status_code == 401
    assert _me(anon_client, refreshed["access"]).status_code == 401


def test_other_sessions_of_the_user_and_other_users_keep_working(
    shared_cache, anon_client, alice, bob
):
    laptop = _login(anon_client)
    phone = _login(anon_client)
    bobs = _login(anon_client, email="bob@example.com")

    anon_client.post("/auth/logout", {"refresh": laptop["refresh"]}, format="json")

    assert _me(anon_client, laptop["access"]).status_code == 401
    assert _me(anon_client, phone["access"]).json()["email"] == "alice@example.com"
    assert _me(anon_client, bobs["access"]).json()["email"] == "bob@example.com"
    refreshed = anon_client.post(
        "/auth/refresh", {"refresh": phone["refresh"]}, format="json"
    )
    assert refreshed.status_code == 200


def test_an_access_token_sent_with_the_logout_is_revoked_even_without_a_session(
    shared_cache, anon_client, alice
):
    # Tokens minted before logins named their session carry no session id.
    refresh = RefreshToken.for_user(alice)
    access = refresh.access_token
    assert SESSION_CLAIM not in access.payload
    assert _me(anon_client, str(access)).status_code == 200

    anon_client.post(
        "/auth/logout",
        {"refresh": str(refresh)},
        format="json",
        HTTP_AUTHORIZATION=f"Bearer {access}",
    )

    assert _me(anon_client, str(access)).status_code == 401


def test_a_forged_access_token_sent_with_a_logout_changes_nothing(
    shared_cache, anon_client, alice
):
    tokens = _login(anon_client)
    other = _login(anon_client)

    out = anon_client.post(
        "/auth/logout",
        {"refresh": tokens["refresh"]},
        format="json",
        HTTP_AUTHORIZATION="Bearer not.a.jwt",
    )

    assert out.status_code == 200
    assert _me(anon_client, other["access"]).status_code == 200


def test_the_check_costs_one_cache_read_per_request(anon_client, alice):
    tokens = _login(anon_client)
    _me(anon_client, tokens["access"])  # warm: the user's row, the cache table

    with CaptureQueriesContext(connection) as queries:
        assert _me(anon_client, tokens["access"]).status_code == 200

    cache_reads = [q for q in queries if "sqlagent_cache" in q["sql"]]
    assert len(cache_reads) == 1
