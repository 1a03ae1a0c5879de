"""The access tokens page: create (value shown once), list, revoke; no JavaScript."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from accounts.models import PersonalAccessToken
from accounts.services import token_create

pytestmark = pytest.mark.django_db


def test_the_layout_links_to_the_tokens_page(alice_page: Client) -> None:
    response = alice_page.get("/accounts/tokens/")
    assert response.status_code == 200
    assert 'href="/accounts/tokens/" aria-current="page">Tokens</a>' in response.text
    assert "No tokens yet." in response.text


def test_creating_a_token_shows_its_value_once_with_an_mcp_snippet(
    alice_page: Client, alice: Any
) -> None:
    posted = alice_page.post(
        "/accounts/tokens/",
        {"name": "Claude Desktop", "scope": "sql", "expires_in_days": "30"},
    )
    response = alice_page.get(posted["Location"])
    token = PersonalAccessToken.objects.get(owner=alice)
    value = response.context["created"]["value"]

    assert posted.status_code == 302
    assert response.status_code == 200
    assert value.startswith(f"sqa_{token.prefix}_")
    assert f'value="{value}"' in response.text
    assert '"url": "http://testserver/mcp"' in response.text
    assert token.scope == "sql"
    assert token.expires_at is not None
    assert "no-store" in response["Cache-Control"]
    again = alice_page.get("/accounts/tokens/")
    assert value not in again.text
    assert f"sqa_{token.prefix}_…" in again.text


def test_an_invalid_token_form_is_shown_again_with_its_errors(
    alice_page: Client,
) -> None:
    response = alice_page.post("/accounts/tokens/", {"name": "", "scope": "root"})
    assert response.status_code == 400
    assert PersonalAccessToken.objects.count() == 0
    assert "This field is required." in response.text


def test_revoking_from_the_page_marks_the_token_revoked(
    alice_page: Client, alice: Any
) -> None:
    token = token_create(owner=alice, name="laptop", scope="ask").token
    response = alice_page.post(f"/accounts/tokens/{token.pk}/revoke/", follow=True)
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert "Token “laptop” revoked." in response.text


def test_bob_gets_404_revoking_alices_token_from_the_page(
    bob_page: Client, alice: Any
) -> None:
    token = token_create(owner=alice, name="laptop", scope="ask").token
    response = bob_page.post(f"/accounts/tokens/{token.pk}/revoke/")
    token.refresh_from_db()
    assert response.status_code == 404
    assert token.revoked_at is None


def test_the_tokens_page_needs_a_login_and_a_csrf_token(alice: Any) -> None:
    anonymous = Client()
    assert anonymous.get("/accounts/tokens/").status_code == 302
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(alice)
    response = strict.post("/accounts/tokens/", {"name": "x", "scope": "ask"})
    assert response.status_code == 403
    assert PersonalAccessToken.objects.count() == 0


def test_the_admin_lists_tokens_without_their_secrets(
    admin_client: Client, alice: Any
) -> None:
    created = token_create(owner=alice, name="laptop", scope="ask")
    response = admin_client.get("/admin/accounts/personalaccesstoken/")
    assert response.status_code == 200
    assert "laptop" in response.text
    assert created.value not in response.text
    assert created.token.digest not in response.text


def test_an_admin_can_revoke_tokens_in_bulk(admin_client: Client, alice: Any) -> None:
    token = token_create(owner=alice, name="laptop", scope="ask").token
    response = admin_client.post(
        "/admin/accounts/personalaccesstoken/",
        {"action": "revoke", "_selected_action": [token.pk]},
    )
    token.refresh_from_db()
    assert response.status_code == 302
    assert token.revoked_at is not None
