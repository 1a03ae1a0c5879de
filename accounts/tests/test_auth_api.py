from __future__ import annotations

import pytest

from testsupport.fixtures import PASSWORD

pytestmark = pytest.mark.django_db


def _login(client, email="alice@example.com", password=PASSWORD):
    return client.post(
        "/auth/login", {"email": email, "password": password}, format="json"
    )


def test_register_returns_the_new_user_without_password(anon_client):
    response = anon_client.post(
        "/auth/register",
        {"email": "New@Example.com", "password": "a-Long-pass-99", "name": "New"},
        format="json",
    )
    assert response.status_code == 201
    assert set(response.json()) == {"id", "email", "name", "date_joined"}
    assert response.json()["email"] == "new@example.com"


def test_register_refuses_a_taken_email_in_any_case(anon_client, alice):
    response = anon_client.post(
        "/auth/register",
        {"email": "ALICE@example.com", "password": "a-Long-pass-99", "name": "A"},
        format="json",
    )
    assert response.status_code == 400
    assert "email" in response.json()


@pytest.mark.parametrize("password", ["short", "password123", "12345678901"])
def test_register_applies_djangos_password_validators(anon_client, password):
    response = anon_client.post(
        "/auth/register",
        {"email": "weak@example.com", "password": password, "name": "W"},
        format="json",
    )
    assert response.status_code == 400
    assert "password" in response.json()


def test_register_requires_email_and_password(anon_client):
    response = anon_client.post("/auth/register", {}, format="json")
    assert response.status_code == 400
    assert {"email", "password"} <= set(response.json())


def test_login_returns_bearer_tokens(anon_client, alice):
    response = _login(anon_client)
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["access"]
    assert body["refresh"]


def test_login_with_wrong_password_is_401(anon_client, alice):
    response = _login(anon_client, password="wrong-password")
    assert response.status_code == 401


def test_login_with_unknown_email_is_401_like_a_wrong_password(anon_client, alice):
    unknown = _login(anon_client, email="nobody@example.com")
    wrong = _login(anon_client, password="wrong-password")
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.json()["detail"] == wrong.json()["detail"]


def test_me_returns_the_logged_in_user(anon_client, alice):
    access = _login(anon_client).json()["access"]
    anon_client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    response = anon_client.get("/auth/me")
    assert response.status_code == 200
    assert response.json()["email"] == "alice@example.com"


def test_me_without_token_is_401(anon_client):
    assert anon_client.get("/auth/me").status_code == 401


def test_refresh_rotates_and_the_old_refresh_token_stops_working(anon_client, alice):
    refresh = _login(anon_client).json()["refresh"]
    first = anon_client.post("/auth/refresh", {"refresh": refresh}, format="json")
    assert first.status_code == 200
    assert first.json()["access"]
    assert first.json()["refresh"] != refresh
    again = anon_client.post("/auth/refresh", {"refresh": refresh}, format="json")
    assert again.status_code == 401


def test_logout_blacklists_the_refresh_token(anon_client, alice):
    refresh = _login(anon_client).json()["refresh"]
    response = anon_client.post("/auth/logout", {"refresh": refresh}, format="json")
    assert response.status_code == 200
    after = anon_client.post("/auth/refresh", {"refresh": refresh}, format="json")
    assert after.status_code == 401


def test_logout_with_a_garbage_token_is_401(anon_client):
    response = anon_client.post(
        "/auth/logout", {"refresh": "not-a-token"}, format="json"
    )
    assert response.status_code == 401


def test_logout_without_refresh_is_400(anon_client):
    response = anon_client.post("/auth/logout", {}, format="json")
    assert response.status_code == 400
    assert "refresh" in response.json()


def test_login_stamps_last_login(anon_client, alice):
    assert alice.last_login is None
    _login(anon_client)
    alice.refresh_from_db()
    assert alice.last_login is not None


def test_in_process_tests_store_passwords_with_the_fast_test_hasher(alice):
    # Full-strength PBKDF2 would cost about a second per user created.
    assert alice.password.startswith("md5$")
    assert alice.check_password("Correct-Horse-42")
