"""Every page works under the strict Content-Security-Policy, in a real Chromium.

The `new_page` fixture fails a test on any violation the browser reports (the
page's `securitypolicyviolation` events and Chromium's console lines), so every
browser test checks the policy too; this one walks every kind of page: log in,
sign up, connections, chat with a chart, knowledge, tokens, the admin and the API
docs, and uses each page's own scripts.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.core.management import call_command
from playwright.sync_api import Page, expect

from accounts.models import User
from connections.models import DatabaseConnection
from testsupport.browser import ANSWER_TIMEOUT_MS, log_in
from testsupport.fixtures import PASSWORD
from testsupport.llm_stub import StubLLMServer, StubReply, keyword_responder

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DEMO_EMAIL = "demo@sqlagent.local"
MONTHLY_REVENUE = (
    "SELECT strftime('%Y-%m', o.order_date) AS month, "
    "ROUND(SUM(i.quantity * i.unit_price), 2) AS revenue "
    "FROM orders o JOIN order_items i ON i.order_id = o.id "
    "WHERE o.status <> 'cancelled' GROUP BY month ORDER BY month"
)
NONCE = re.compile(r"script-src 'self' 'nonce-([A-Za-z0-9_-]{22})'")


@pytest.fixture
def demo(settings: Any) -> Iterator[StubLLMServer]:
    """The demo database, and a stub model that answers with a chartable query."""
    call_command("seed_demo", stdout=open(os.devnull, "w"))  # noqa: SIM115
    user = User.objects.get(email=DEMO_EMAIL)
    user.set_password(PASSWORD)
    user.save()
    answer = keyword_responder([(r"revenue", MONTHLY_REVENUE)])

    def respond(body: dict[str, Any]) -> StubReply:
        if body["messages"][-1].get("role") == "tool":
            return StubReply(content="The revenue per month is in the chart.")
        return answer(body)

    with StubLLMServer(responder=respond) as stub:
        settings.OPENAI_BASE_URL = stub.base_url
        settings.OPENAI_API_KEY = "sk-test"
        yield stub


def _policy_of(response: Any) -> str:
    assert response is not None
    policy = response.headers.get("content-security-policy", "")
    assert NONCE.search(policy), policy
    return policy


def test_every_page_works_under_the_policy(
    live_server: Any, new_page: Callable[[], Page], demo: StubLLMServer
) -> None:
    base = live_server.url
    page = new_page()

    # Sign-up and log-in pages.
    _policy_of(page.goto(f"{base}/accounts/signup/"))
    expect(page.get_by_label("Password again")).to_be_visible()
    _policy_of(page.goto(f"{base}/accounts/login/"))
    log_in(page, base, DEMO_EMAIL)

    # Chat: a streamed answer with a Vega chart, its table toggle and menu.
    _policy_of(page.goto(f"{base}/"))
    page.wait_for_load_state("load")
    page.get_by_label("Your question").fill("What is the revenue per month?")
    page.get_by_role("button", name="Ask").click()
    turn = page.locator(".turn").last
    chart = turn.locator(".chart")
    expect(chart.locator("svg.marks")).to_be_visible(timeout=ANSWER_TIMEOUT_MS)
    expect(chart.locator("g.mark-line path")).to_have_count(1)
    turn.get_by_role("button", name="Table").click()
    expect(turn.locator("table.result")).to_be_visible()
    turn.get_by_role("button", name="Chart").click()
    with page.expect_download() as download:
        turn.get_by_role("button", name="Download SVG").click()
    assert download.value.suggested_filename.endswith(".svg")
    # A tooltip drawn by vega-tooltip, styled from the static file.
    chart.locator("g.mark-symbol path").first.hover()
    expect(page.locator("#vg-tooltip-element")).to_have_class(re.compile("visible"))

    # Connections: the list and the form.
    _policy_of(page.goto(f"{base}/connections/"))
    page.get_by_role("link", name="Add a connection").click()
    expect(page.get_by_label("Database type")).to_be_visible()

    # Knowledge of the demo connection.
    connection = DatabaseConnection.objects.get(owner__email=DEMO_EMAIL)
    _policy_of(page.goto(f"{base}/knowledge/{connection.pk}/"))
    expect(page.get_by_role("heading", level=1)).to_contain_text(connection.label)

    # Tokens: create one; the page shows it once.
    _policy_of(page.goto(f"{base}/accounts/tokens/"))
    page.get_by_label("Name").fill("csp check")
    page.get_by_role("button", name="Create token").click()
    expect(page.locator("#token-value")).to_have_value(re.compile(r"^sqa_"))

    # The API docs: Swagger UI draws every operation from the schema.
    _policy_of(page.goto(f"{base}/api/docs/"))
    expect(page.locator(".swagger-ui .opblock").first).to_be_visible(timeout=20_000)
    page.locator(".swagger-ui .opblock-summary").first.click()
    expect(page.locator(".swagger-ui .opblock-body").first).to_be_visible()


def test_the_admin_works_under_the_policy(
    live_server: Any, new_page: Callable[[], Page], alice: Any
) -> None:
    User.objects.create_superuser(email="admin@example.com", password=PASSWORD)
    base = live_server.url
    page = new_page()

    _policy_of(page.goto(f"{base}/admin/"))
    page.get_by_label("Email").fill("admin@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Site administration")).to_be_visible()

    # A change list with its actions, and a change form with its widgets.
    _policy_of(page.goto(f"{base}/admin/accounts/user/"))
    page.locator("#action-toggle").check()
    expect(page.locator(".action-counter")).to_contain_text("selected")
    _policy_of(page.goto(f"{base}/admin/accounts/user/{alice.pk}/change/"))
    expect(page.locator("input[name=email]")).to_have_value(alice.email)
    _policy_of(page.goto(f"{base}/admin/accounts/user/add/"))
    expect(page.locator("input[name=email]")).to_be_visible()
