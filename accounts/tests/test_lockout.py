"""Repeated failed logins lock an email+address pair out, revealing nothing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from axes.models import AccessAttempt
from django.test import Client
from rest_framework.test import APIClient

from testsupport.fixtures import PASSWORD

pytestmark = pytest.mark.django_db

LIMIT = 3


@pytest.fixture(autouse=True)
def _low_limit(settings):
    settings.AXES_FAILURE_LIMIT = LIMIT
    settings.AXES_COOLOFF_TIME = timedelta(minutes=15)


def _login(client: APIClient, email: str, password: str, **extra: Any):
    return client.post(
        "/auth/login", {"email": email, "password": password}, format="json", **extra
    )


def _fail(client: APIClient, email: str, times: int = LIMIT) -> list:
    return [_login(client, email, "wrong-password").status_code for _ in range(times)]


def test_the_right_password_is_refused_once_the_failure_limit_is_reached(
    anon_client, alice
):
    failures = _fail(anon_client, "alice@example.com", LIMIT - 1)
    last_failure = _login(anon_client, "alice@example.com", "wrong-password")
    response = _login(anon_client, "alice@example.com", PASSWORD)
    assert failures == [401] * (LIMIT - 1)
    assert last_failure.status_code == 429
    assert response.status_code == 429
    assert response.json() == {
        "detail": (
            "Too many failed logins for this email from your address. "
            "Try again in 15 minutes."
        ),
        "code": "locked_out",
    }
    assert response["Retry-After"] == str(15 * 60)
    assert "access" not in response.json()


def test_lockout_answers_the_same_for_an_existing_and_an_unknown_email(
    anon_client, alice
):
    existing = _fail(anon_client, "alice@example.com", LIMIT + 1)
    unknown = _fail(anon_client, "nobody@example.com", LIMIT + 1)
    existing_answer = _login(anon_client, "alice@example.com", PASSWORD)
    unknown_answer = _login(anon_client, "nobody@example.com", PASSWORD)
    assert existing == unknown == [401] * (LIMIT - 1) + [429, 429]
    assert existing_answer.status_code == unknown_answer.status_code == 429
    assert existing_answer.json() == unknown_answer.json()
    assert existing_answer["Retry-After"] == unknown_answer["Retry-After"]


def test_lockout_holds_for_the_email_in_any_case(anon_client, alice):
    _fail(anon_client, "alice@example.com")
    response = _login(anon_client, "ALICE@Example.com", PASSWORD)
    assert response.status_code == 429


def test_lockout_is_per_address_so_the_owner_elsewhere_still_logs_in(
    anon_client, alice
):
    _fail(anon_client, "alice@example.com")
    elsewhere = _login(
        anon_client, "alice@example.com", PASSWORD, REMOTE_ADDR="10.7.7.7"
    )
    assert elsewhere.status_code == 200
    assert elsewhere.json()["access"]


def test_lockout_is_per_email_so_other_accounts_from_the_address_log_in(
    anon_client, alice, bob
):
    _fail(anon_client, "alice@example.com")
    response = _login(anon_client, "bob@example.com", PASSWORD)
    assert response.status_code == 200


def test_the_right_password_works_again_after_the_cool_off(anon_client, alice):
    _fail(anon_client, "alice@example.com")
    # Age the recorded failures past the cool-off instead of waiting for it.
    AccessAttempt.objects.update(
        attempt_time=AccessAttempt.objects.get().attempt_time - timedelta(minutes=16)
    )
    response = _login(anon_client, "alice@example.com", PASSWORD)
    assert response.status_code == 200


def test_the_login_page_shows_a_readable_lockout_message(alice):
    client = Client()
    for _ in range(LIMIT):
        client.post(
            "/accounts/login/",
            {"username": "alice@example.com", "password": "wrong-password"},
        )
    response = client.post(
        "/accounts/login/", {"username": "alice@example.com", "password": PASSWORD}
    )
    assert response.status_code == 429
    assert response["Content-Type"].startswith("text/html")
    assert "Too many failed logins" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_the_attempt_log_never_stores_the_password(alice):
    client = Client()
    client.post(
        "/accounts/login/",
        {"username": "alice@example.com", "password": "secret-Guess-123"},
    )
    attempt = AccessAttempt.objects.get()
    assert attempt.username == "alice@example.com"
    assert "secret-Guess-123" not in attempt.post_data


def test_a_successful_api_login_clears_the_earlier_failures(anon_client, alice):
    _fail(anon_client, "alice@example.com", LIMIT - 1)
    assert _login(anon_client, "alice@example.com", PASSWORD).status_code == 200

    again = _fail(anon_client, "alice@example.com", LIMIT - 1)

    assert again == [401] * (LIMIT - 1)
    assert _login(anon_client, "alice@example.com", PASSWORD).status_code == 200
