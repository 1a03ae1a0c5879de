"""The account pages: log in, log out, sign up, change password."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from accounts.models import User
from testsupport.fixtures import PASSWORD

pytestmark = pytest.mark.django_db


def test_login_page_says_where_you_are(client: Client) -> None:
    response = client.get("/accounts/login/")

    assert response.status_code == 200
    assert "<title>Log in · SQLAgent</title>" in response.text
    assert "<h1>Log in</h1>" in response.text


def test_login_lands_on_the_chat_page(client: Client, alice: Any) -> None:
    response = client.post(
        "/accounts/login/", {"username": "alice@example.com", "password": PASSWORD}
    )

    assert response.status_code == 302
    assert response["Location"] == "/"
    assert client.session["_auth_user_id"] == str(alice.pk)


def test_login_ignores_the_case_of_the_email(client: Client, alice: Any) -> None:
    response = client.post(
        "/accounts/login/", {"username": "Alice@Example.COM", "password": PASSWORD}
    )

    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(alice.pk)


def test_wrong_password_shows_a_message_on_the_login_page(
    client: Client, alice: Any
) -> None:
    response = client.post(
        "/accounts/login/", {"username": "alice@example.com", "password": "nope"}
    )

    assert response.status_code == 200
    assert "Please enter a correct email and password" in response.text
    assert "_auth_user_id" not in client.session


def test_login_form_without_csrf_token_is_refused(alice: Any) -> None:
    client = Client(enforce_csrf_checks=True)

    response = client.post(
        "/accounts/login/", {"username": "alice@example.com", "password": PASSWORD}
    )

    assert response.status_code == 403


def test_anonymous_visitor_of_the_chat_page_is_sent_to_login(client: Client) -> None:
    response = client.get("/")

    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/"


def test_logout_is_a_post_and_ends_the_browser_session(
    client: Client, alice: Any
) -> None:
    client.force_login(alice)

    assert client.get("/accounts/logout/").status_code == 405
    response = client.post("/accounts/logout/")

    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/"
    assert client.get("/connections/").status_code == 302


def test_signup_creates_a_user_who_can_log_in_on_the_page_and_the_api(
    client: Client,
) -> None:
    response = client.post(
        "/accounts/signup/",
        {
            "email": "Carol@Example.com",
            "name": "Carol",
            "password1": PASSWORD,
            "password2": PASSWORD,
        },
    )

    assert response.status_code == 302
    assert response["Location"] == "/"
    assert client.get("/").status_code == 200  # logged in by signing up
    user = User.objects.get(email="carol@example.com")
    assert user.name == "Carol"
    assert user.check_password(PASSWORD)
    api = client.post(
        "/auth/login",
        {"email": "carol@example.com", "password": PASSWORD},
        content_type="application/json",
    )
    assert api.status_code == 200
    assert "access" in api.json()


def test_signup_with_a_taken_email_shows_the_error_next_to_the_field(
    client: Client, alice: Any
) -> None:
    response = client.post(
        "/accounts/signup/",
        {
            "email": "ALICE@example.com",
            "password1": PASSWORD,
            "password2": PASSWORD,
        },
    )

    assert response.status_code == 200
    assert response.context["form"].errors["email"] == [
        "A user with this email already exists."
    ]
    assert User.objects.filter(email__iexact="alice@example.com").count() == 1


@pytest.mark.parametrize(
    ("password1", "password2", "message"),
    [
        ("12345678901", "12345678901", "This password is entirely numeric."),
        ("short", "short", "This password is too short."),
        (PASSWORD, PASSWORD + "x", "The two passwords differ."),
    ],
)
def test_signup_refuses_weak_or_mismatched_passwords(
    client: Client, password1: str, password2: str, message: str
) -> None:
    response = client.post(
        "/accounts/signup/",
        {"email": "dave@example.com", "password1": password1, "password2": password2},
    )

    assert response.status_code == 200
    assert message in response.text
    assert not User.objects.filter(email="dave@example.com").exists()


def test_password_change_replaces_the_password(client: Client, alice: Any) -> None:
    client.force_login(alice)
    new_password = "Battery-Staple-77"

    response = client.post(
        "/accounts/password/change/",
        {
            "old_password": PASSWORD,
            "new_password1": new_password,
            "new_password2": new_password,
        },
    )

    assert response.status_code == 302
    assert response["Location"] == "/accounts/password/change/done/"
    alice.refresh_from_db()
    assert alice.check_password(new_password)
    assert not alice.check_password(PASSWORD)


def test_password_change_with_a_wrong_old_password_keeps_the_password(
    client: Client, alice: Any
) -> None:
    client.force_login(alice)

    response = client.post(
        "/accounts/password/change/",
        {
            "old_password": "not-it",
            "new_password1": "Battery-Staple-77",
            "new_password2": "Battery-Staple-77",
        },
    )

    assert response.status_code == 200
    assert "Your old password was entered incorrectly" in response.text
    alice.refresh_from_db()
    assert alice.check_password(PASSWORD)


def test_signups_from_one_address_share_the_apis_rate_limit(
    client: Client, settings: Any
) -> None:
    settings.THROTTLE_REGISTER_RATE = "2/hour"
    api = client.post(
        "/auth/register",
        {"email": "one@example.com", "password": PASSWORD},
        content_type="application/json",
    )
    assert api.status_code == 201

    statuses = []
    for n in range(2):
        statuses.append(
            client.post(
                "/accounts/signup/",
                {
                    "email": f"user{n}@example.com",
                    "password1": PASSWORD,
                    "password2": PASSWORD,
                },
            ).status_code
        )
        client.logout()  # signing up logs in; the next sign-up is a new visitor

    assert statuses == [302, 429]
    assert not User.objects.filter(email="user1@example.com").exists()


def test_the_login_page_says_why_when_a_page_sent_the_user_there(client):
    client.cookies["sessionid"] = "a-session-that-has-expired"
    response = client.get("/", follow=True)

    assert "/accounts/login/?next=/" in response.redirect_chain[-1][0]
    assert "your session has expired" in response.text


def test_a_first_time_visitor_is_asked_to_log_in_not_told_a_session_expired(client):
    response = client.get("/", follow=True)

    assert "/accounts/login/?next=/" in response.redirect_chain[-1][0]
    assert "Please log in to continue" in response.text
    assert "expired" not in response.text


def test_a_weak_password_is_flagged_even_when_the_second_box_differs(client):
    response = client.post(
        "/accounts/signup/",
        {"email": "erin@example.com", "password1": "short", "password2": "other"},
    )

    assert "This password is too short." in response.text
    assert "The two passwords differ." in response.text


def test_the_api_docs_page_links_back_to_the_app(client):
    response = client.get("/api/docs/")

    assert response.status_code == 200
    assert 'href="/"' in response.text
    assert "Back to SQLAgent" in response.text
