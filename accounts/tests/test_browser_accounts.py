"""Sign-up and the tokens page in headless Chromium: a weak password is flagged
beside a mismatch, signing up logs in, a first visitor is not told a session
expired; a token can be copied, its MCP line wraps, a reload does not create a
second one, and Revoke asks first."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from accounts.models import PersonalAccessToken, User
from testsupport.browser import log_in
from testsupport.fixtures import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _no_sideways_scroll(page: Page) -> bool:
    return bool(
        page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    )


def test_a_first_visitor_is_asked_to_log_in_without_talk_of_an_expired_session(
    live_server: Any, new_page: Callable[[], Page]
) -> None:
    page = new_page()
    page.goto(f"{live_server.url}/")

    expect(page).to_have_url(f"{live_server.url}/accounts/login/?next=/")
    expect(page.locator("main")).to_contain_text("Please log in to continue")
    expect(page.locator("main")).not_to_contain_text("expired")


def test_sign_up_flags_a_weak_password_beside_a_mismatch_then_logs_in(
    live_server: Any, new_page: Callable[[], Page]
) -> None:
    page = new_page()
    page.goto(f"{live_server.url}/accounts/signup/")
    page.get_by_label("Email").fill("carol@example.com")
    page.get_by_label("Password", exact=True).fill("short")
    page.get_by_label("Password again").fill("shorter")
    page.get_by_role("button", name="Create account").click()

    expect(page.locator("#field-password1 .error")).to_contain_text("too short")
    expect(page.locator("#field-password2 .error")).to_have_text(
        "The two passwords differ."
    )

    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password again").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()

    expect(page).to_have_url(f"{live_server.url}/")
    expect(page.locator("footer")).to_contain_text("Signed in as carol@example.com")
    assert User.objects.filter(email="carol@example.com").exists()


def test_a_new_token_can_be_copied_and_a_reload_does_not_create_another(
    live_server: Any, new_page: Callable[[], Page], alice: Any
) -> None:
    page = new_page()
    page.context.grant_permissions(
        ["clipboard-read", "clipboard-write"], origin=live_server.url
    )
    log_in(page, live_server.url, alice.email)
    page.goto(f"{live_server.url}/accounts/tokens/")
    page.get_by_label("Name").fill("Claude Desktop")
    page.get_by_role("button", name="Create token").click()

    value = page.locator("#token-value").input_value()
    assert value.startswith("sqa_")
    page.locator("#token-created").get_by_role("button", name="Copy").first.click()
    assert page.evaluate("navigator.clipboard.readText()") == value
    expect(page.locator("#mcp-config")).to_contain_text(value)

    # At phone width the MCP line wraps inside its card.
    page.set_viewport_size({"width": 390, "height": 844})
    assert _no_sideways_scroll(page)
    page.set_viewport_size({"width": 1100, "height": 900})

    page.reload()
    expect(page.locator("#tokens tbody tr")).to_have_count(1)
    expect(page.locator("#token-created")).to_have_count(0)
    assert PersonalAccessToken.objects.filter(owner=alice).count() == 1


def test_revoke_asks_for_confirmation_first(
    live_server: Any, new_page: Callable[[], Page], alice: Any
) -> None:
    from accounts.services import token_create

    token = token_create(owner=alice, name="Old script", scope="ask").token
    page = new_page()
    log_in(page, live_server.url, alice.email)
    page.goto(f"{live_server.url}/accounts/tokens/")
    row = page.locator(f"#token-{token.id}")

    row.get_by_text("Revoke", exact=True).click()
    expect(row.locator(".confirm-box")).to_contain_text("Revoke “Old script”?")
    token.refresh_from_db()
    assert token.revoked_at is None
    row.get_by_role("button", name="Yes, revoke").click()

    expect(page.locator(".message.success")).to_contain_text("revoked")
    token.refresh_from_db()
    assert token.revoked_at is not None
