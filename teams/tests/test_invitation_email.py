"""An invitation for an email with no account is emailed (a real SMTP server on
loopback): who invited them, to which team, and the sign-up link. A mail server
that fails loses nothing: the invitation is kept and the answer says so."""

from __future__ import annotations

from email.header import decode_header, make_header
from email.message import Message
from typing import Any

import pytest
from django.test import Client

from teams.models import Invitation
from testsupport.serving import free_port

pytestmark = pytest.mark.django_db

SITE = "https://sqlagent.example.com"


def _invite(client: Any, team: Any, email: str = "dave@example.com") -> Any:
    return client.post(
        f"/teams/{team.id}/members", {"email": email, "role": "analyst"}, format="json"
    )


def _subject(message: Message) -> str:
    return " ".join(str(make_header(decode_header(message["Subject"]))).split())


def _body(message: Message) -> str:
    payload = message.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode(message.get_content_charset() or "utf-8")


def test_an_invitation_is_emailed_with_who_which_team_and_the_signup_link(
    alice_client, alice, team, smtp_inbox, settings
):
    settings.SITE_URL = SITE
    alice.name = "Alice"
    alice.save(update_fields=["name"])

    response = _invite(alice_client, team, "Dave@Example.com")

    assert response.status_code == 201
    assert (response.json()["pending"], response.json()["emailed"]) == (True, True)
    [message] = smtp_inbox
    assert message["To"] == "dave@example.com"
    assert _subject(message) == "You are invited to the team “Data” on SQLAgent"
    body = _body(message)
    assert "Alice (alice@example.com) invited you to the team “Data”" in body
    assert "with the role analyst" in body
    assert f"{SITE}/accounts/signup/?email=dave%40example.com" in body
    # No secret of any kind: nothing but what a stranger may read.
    for secret in (settings.SECRET_KEY, "Bearer", "sqa_", "password"):
        assert secret not in body


def test_the_signup_link_opens_the_form_with_the_invited_address(client):
    page = client.get("/accounts/signup/?email=dave%40example.com").content.decode()

    assert 'value="dave@example.com"' in page


def test_a_registered_user_is_added_and_no_email_is_sent(
    alice_client, team, mallory, smtp_inbox
):
    response = _invite(alice_client, team, mallory.email)

    assert response.status_code == 201
    assert (response.json()["pending"], response.json()["emailed"]) == (False, False)
    assert smtp_inbox == []


def test_a_mail_server_that_fails_loses_no_invitation(
    alice_client, team, settings, caplog
):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = free_port()  # nothing listens: refused at once
    settings.EMAIL_HOST_PASSWORD = "smtp-secret-0123"

    response = _invite(alice_client, team)

    assert response.status_code == 201
    assert (response.json()["pending"], response.json()["emailed"]) == (True, False)
    assert Invitation.objects.filter(team=team, email="dave@example.com").exists()
    assert "invitation email not sent" in caplog.text
    assert "smtp-secret-0123" not in caplog.text


def test_a_team_name_cannot_add_a_header_to_the_email(alice_client, team, smtp_inbox):
    team.name = "Data\nBcc: mallory@example.com"
    team.save(update_fields=["name"])

    response = _invite(alice_client, team)

    assert response.json()["emailed"] is True
    [message] = smtp_inbox
    assert message["Bcc"] is None
    assert _subject(message) == (
        "You are invited to the team “Data Bcc: mallory@example.com” on SQLAgent"
    )


def test_inviting_again_emails_again(alice_client, team, smtp_inbox):
    assert _invite(alice_client, team).json()["emailed"] is True
    assert _invite(alice_client, team).json()["emailed"] is True

    assert len(smtp_inbox) == 2
    assert Invitation.objects.filter(team=team).count() == 1


def _page(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_team_page_says_whether_the_invitation_was_emailed(
    alice, team, smtp_inbox, settings
):
    page = _page(alice)
    form = {"email": "dave@example.com", "role": "viewer"}

    sent = page.post(f"/teams/{team.id}/members/add/", form, follow=True)

    assert "emailed the sign-up link" in sent.content.decode()
    assert len(smtp_inbox) == 1
    settings.EMAIL_PORT = free_port()
    failed = page.post(
        f"/teams/{team.id}/members/add/",
        {**form, "email": "erin@example.com"},
        follow=True,
    )
    assert "the email could not be sent" in failed.content.decode()
    assert Invitation.objects.filter(email="erin@example.com").exists()
