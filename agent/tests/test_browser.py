"""The whole service in a real headless Chromium, through Playwright.

The live server runs in a thread of this process, so the stub LLM server and
the `settings` overrides apply to it. On failure, a screenshot of every open
page is kept under test-artifacts/. (The README's screenshots come from
test_browser_answers.py, on the demo database.)
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from accounts.models import User
from agent.models import Thread, Turn, TurnStatus
from testsupport.browser import ANSWER_TIMEOUT_MS, XSS, log_in
from testsupport.fixtures import PASSWORD, READER, SQLITE_FILE
from testsupport.llm_stub import StubLLMServer

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_new_user_signs_up_asks_follows_up_downloads_and_logs_out(
    live_server: Any, new_page: Callable[[], Page], stub_llm: StubLLMServer, shop: Any
) -> None:
    base = live_server.url
    page = new_page()

    # Sign up: that logs in too.
    page.goto(f"{base}/accounts/signup/")
    expect(page).to_have_title("Sign up · SQLAgent")
    page.get_by_label("Email").fill("carol@example.com")
    page.get_by_label("Name").fill("Carol")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password again").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page).to_have_url(f"{base}/")
    expect(page.locator(".message.success")).to_contain_text("is ready")
    page.wait_for_load_state("load")
    expect(page.get_by_role("heading", level=1)).to_have_text("Chat")
    expect(page.locator("#session-status")).to_contain_text("no database connected")

    # Add the demo SQLite connection.
    page.get_by_role("link", name="Connections").click()
    page.get_by_role("link", name="Add a connection").click()
    expect(page).to_have_title("Add a connection · SQLAgent")
    page.get_by_label("Label").fill("Demo shop")
    page.get_by_label("Database type").select_option("sqlite")
    page.get_by_label("Database name").fill(SQLITE_FILE)
    page.get_by_role("button", name="Add connection").click()
    expect(page.locator(".message.success")).to_contain_text("“Demo shop” added")

    # Connect it to the session from the chat page.
    page.get_by_role("link", name="Chat").click()
    page.locator("#connect-form select").select_option(label="Demo shop")
    page.locator("#connect-form").get_by_role("button", name="Connect").click()
    expect(page.locator("#session-status")).to_contain_text("connected")
    expect(page.get_by_role("heading", level=1)).to_have_text("Chat with Demo shop")

    # Ask: the answer, the SQL and the table.
    page.get_by_label("Your question").fill("Which customers are in Germany?")
    page.get_by_role("button", name="Ask").click()
    first = page.locator(".turn").nth(0)
    expect(first).to_contain_text("Here is what I found", timeout=ANSWER_TIMEOUT_MS)
    expect(first.locator("pre.sql")).to_have_text(
        "SELECT id, name, country FROM customers WHERE country = 'Germany' ORDER BY id"
    )
    expect(first.locator("table.result tbody tr")).to_have_count(3)
    expect(first.locator("table.result")).to_contain_text("Ada Lovelace")
    expect(first.locator("table.result")).not_to_contain_text("Bruno Costa")

    # A follow-up lands below the first turn, in the same thread.
    page.get_by_label("Your question").fill("And how many customers are there?")
    page.get_by_role("button", name="Ask").click()
    expect(page.locator(".turn")).to_have_count(2, timeout=ANSWER_TIMEOUT_MS)
    second = page.locator(".turn").nth(1)
    expect(second.locator("pre.sql")).to_contain_text("COUNT(*)")
    expect(second.locator("table.result tbody td")).to_have_text("6")
    # The LLM saw the first question again when answering the second.
    assert any(
        "Which customers are in Germany?" in str(body.get("messages"))
        and "how many customers" in str(body.get("messages"))
        for body in stub_llm.requests
    )

    # At phone width nothing spills sideways.
    page.set_viewport_size({"width": 375, "height": 800})
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), (
        "the chat page scrolls sideways at phone width"
    )
    page.set_viewport_size({"width": 1100, "height": 900})
    # Download the first turn's rows as CSV.
    with page.expect_download() as download_info:
        first.get_by_role("link", name="Download CSV").click()
    download = download_info.value
    assert re.fullmatch(
        r"sqlagent-which-customers-are-in-germany-turn-\d+\.csv",
        download.suggested_filename,
    )
    csv_text = Path(download.path()).read_text()
    assert csv_text.splitlines() == [
        "id,name,country",
        "1,Ada Lovelace,Germany",
        "3,Chen Wei,Germany",
        "6,Fatima Zahra,Germany",
    ]

    # Disconnect: the conversation moves to History.
    page.get_by_role("button", name="Disconnect").click()
    expect(page.locator("#session-status")).to_contain_text("no database connected")
    expect(page.locator(".turn")).to_have_count(0)
    page.get_by_role("link", name="History").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Your conversations")
    page.get_by_role("link", name="Which customers are in Germany?").click()
    expect(page.locator(".turn")).to_have_count(2)
    expect(page.locator("#ask-form")).to_have_count(0)

    # Log out: the chat page sends us back to the login page.
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(f"{base}/accounts/login/")
    page.goto(f"{base}/")
    expect(page).to_have_url(f"{base}/accounts/login/?next=/")


def test_html_in_the_data_shows_as_text_and_never_runs(
    live_server: Any,
    new_page: Callable[[], Page],
    stub_llm: StubLLMServer,
    alice: Any,
    connected_session: Any,
) -> None:
    connected_session(alice, "sqlite")
    page = new_page()
    log_in(page, live_server.url, alice.email)

    page.get_by_label("Your question").fill("Show me the notes")
    page.get_by_role("button", name="Ask").click()

    table = page.locator(".turn table.result")
    expect(table).to_contain_text(XSS, timeout=ANSWER_TIMEOUT_MS)
    expect(page.locator(".turn .answer")).to_contain_text(XSS)
    expect(page.locator(".turn img")).to_have_count(0)
    # The `new_page` fixture fails the test if an alert() opened.


def test_an_admin_tests_a_connection_and_never_sees_its_password(
    live_server: Any, new_page: Callable[[], Page], alice: Any, make_connection: Any
) -> None:
    User.objects.create_superuser(email="admin@example.com", password=PASSWORD)
    connection = make_connection(alice, "postgresql", label="Alice warehouse")
    base = live_server.url
    page = new_page()

    page.goto(f"{base}/admin/")
    page.get_by_label("Email").fill("admin@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Site administration")).to_be_visible()

    page.goto(f"{base}/admin/connections/databaseconnection/")
    page.locator(f"input[name=_selected_action][value='{connection.id}']").check()
    page.locator("select[name=action]").select_option("test_connection")
    page.get_by_role("button", name="Go").click()
    expect(page.locator(".messagelist .success")).to_contain_text(
        "Alice warehouse: OK in"
    )
    assert READER["password"] not in page.content()

    page.goto(f"{base}/admin/connections/databaseconnection/{connection.id}/change/")
    password_input = page.locator("input[name=new_password]")
    expect(password_input).to_have_attribute("type", "password")
    expect(password_input).to_have_value("")
    html = page.content()
    assert READER["password"] not in html
    assert connection.password_encrypted not in html


def test_another_user_gets_404_on_the_first_users_pages(
    live_server: Any,
    new_page: Callable[[], Page],
    alice: Any,
    bob: Any,
    make_connection: Any,
) -> None:
    connection = make_connection(alice, "sqlite", label="Alice shop")
    thread = Thread.objects.create(
        id=uuid.uuid4(), user=alice, db_connection=connection, title="Alice question"
    )
    turn = Turn.objects.create(
        thread=thread,
        question="Alice question",
        answer="Alice answer",
        status=TurnStatus.OK,
        result={"columns": ["n"], "rows": [[1]], "row_count": 1, "truncated": False},
    )
    base = live_server.url
    pages = [
        f"/connections/{connection.id}/edit/",
        f"/connections/{connection.id}/delete/",
        f"/history/{thread.id}/",
    ]
    alice_page = new_page()
    log_in(alice_page, base, alice.email)
    bob_page = new_page()
    log_in(bob_page, base, bob.email)

    for path in pages:
        assert alice_page.goto(base + path).status == 200, path
        response = bob_page.goto(base + path)
        assert response.status == 404, path
        expect(bob_page.locator("body")).not_to_contain_text("Alice")
    assert alice_page.request.get(f"{base}/turns/{turn.id}/csv/").status == 200
    assert bob_page.request.get(f"{base}/turns/{turn.id}/csv/").status == 404
    bob_page.goto(f"{base}/history/")
    expect(bob_page.locator("main")).not_to_contain_text("Alice question")
    bob_page.goto(f"{base}/connections/")
    expect(bob_page.locator("main")).not_to_contain_text("Alice shop")
