"""Rate limits: login and register per client address, /ask per user."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from testsupport.fixtures import PASSWORD

pytestmark = pytest.mark.django_db


def _login(client: APIClient, **extra: Any):
    return client.post(
        "/auth/login",
        {"email": "alice@example.com", "password": PASSWORD},
        format="json",
        **extra,
    )


def _register(client: APIClient, n: int, **extra: Any):
    return client.post(
        "/auth/register",
        {"email": f"user{n}@example.com", "password": "a-Long-pass-99"},
        format="json",
        **extra,
    )


def test_login_past_the_rate_answers_429_with_retry_after(settings, anon_client, alice):
    settings.THROTTLE_LOGIN_RATE = "3/minute"
    statuses = [_login(anon_client).status_code for _ in range(3)]
    response = _login(anon_client)
    assert statuses == [200, 200, 200]
    assert response.status_code == 429
    assert response.json()["code"] == "throttled"
    assert 0 < int(response["Retry-After"]) <= 60


def test_login_rate_counts_per_client_address(settings, anon_client, alice):
    settings.THROTTLE_LOGIN_RATE = "2/minute"
    for _ in range(2):
        _login(anon_client)
    assert _login(anon_client).status_code == 429
    assert _login(anon_client, REMOTE_ADDR="10.1.2.3").status_code == 200


def test_a_forged_forwarded_for_header_does_not_escape_the_login_rate(
    settings, anon_client, alice
):
    settings.THROTTLE_LOGIN_RATE = "2/minute"
    for n in range(2):
        _login(anon_client, HTTP_X_FORWARDED_FOR=f"10.9.9.{n}")
    response = _login(anon_client, HTTP_X_FORWARDED_FOR="10.9.9.99")
    assert response.status_code == 429


def test_register_past_the_rate_answers_429_and_creates_no_user(
    settings, anon_client, django_user_model
):
    settings.THROTTLE_REGISTER_RATE = "2/hour"
    statuses = [_register(anon_client, n).status_code for n in range(2)]
    response = _register(anon_client, 99)
    assert statuses == [201, 201]
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert not django_user_model.objects.filter(email="user99@example.com").exists()


def test_ask_rate_is_per_user_and_leaves_other_users_alone(
    settings, alice_client, bob_client
):
    settings.THROTTLE_ASK_RATE = "2/minute"
    question = {"question": "How many customers are there?"}
    first = alice_client.post("/ask", question, format="json")
    alice_client.post("/ask", question, format="json")
    throttled = alice_client.post("/ask", question, format="json")
    bobs = bob_client.post("/ask", question, format="json")
    assert first.status_code != 429
    assert throttled.status_code == 429
    assert int(throttled["Retry-After"]) > 0
    # Bob asks from the same address: the limit counts per user.
    assert bobs.status_code == first.status_code
