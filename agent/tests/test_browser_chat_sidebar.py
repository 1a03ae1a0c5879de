"""The chat's conversation sidebar (by date, search, rename), Retry and
edit-and-resend of the last question, and the keyboard shortcuts."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from agent.models import Thread, Turn, TurnStatus
from testsupport.browser import ANSWER_TIMEOUT_MS, log_in
from testsupport.llm_stub import StubLLMServer, StubReply, scripted_responder

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def answering_llm(settings: Any) -> Iterator[StubLLMServer]:
    script = [StubReply(content="No query needed: hello.")] * 4
    with StubLLMServer(responder=scripted_responder(script)) as stub:
        settings.OPENAI_BASE_URL = stub.base_url
        settings.OPENAI_API_KEY = "sk-test"
        settings.LLM_MAX_RETRIES = 0
        yield stub


def _thread(user: Any, title: str, question: str, **extra: Any) -> Thread:
    thread = Thread.objects.create(
        id=extra.pop("id", uuid.uuid4()), user=user, title=title, **extra
    )
    Turn.objects.create(
        thread=thread, question=question, answer="An answer.", status=TurnStatus.OK
    )
    return thread


def test_the_sidebar_lists_searches_and_renames_conversations(
    live_server: Any, new_page: Callable[[], Page], alice: Any, connected_session: Any
) -> None:
    session = connected_session(alice, "sqlite")
    _thread(alice, "Customers in Germany", "Who lives in Germany?")
    _thread(alice, "Revenue by month", "Revenue per month?")
    current = _thread(
        alice,
        "Current one",
        "How many orders?",
        id=session.id,
        db_connection=session.db_connection,
    )
    page = new_page()
    log_in(page, live_server.url, alice.email)
    sidebar = page.locator("#conversations")

    expect(sidebar.locator(".thread-group").first).to_have_text("Today")
    expect(sidebar.locator(".thread-item")).to_have_count(3)
    # The sidebar sits beside the conversation, not above it.
    side = sidebar.bounding_box()
    turns = page.locator("#turns").bounding_box()
    assert side is not None
    assert turns is not None
    assert side["x"] > turns["x"] + turns["width"] - 1
    schema = page.locator("#schema-panel").bounding_box()
    assert schema is not None
    assert schema["x"] > turns["x"] + turns["width"] - 1

    page.keyboard.press("Control+k")
    expect(page.locator("#thread-search")).to_be_focused()
    page.keyboard.type("germ")
    expect(sidebar.locator(".thread-item:visible")).to_have_count(1)
    expect(sidebar.locator(".thread-item:visible")).to_contain_text(
        "Customers in Germany"
    )

    page.locator("#thread-search").fill("")
    item = sidebar.locator(".thread-item.current")
    item.get_by_text("Rename").click()
    item.get_by_label("New title").fill("Orders this year")
    item.get_by_role("button", name="Save").click()
    expect(page).to_have_url(f"{live_server.url}/")
    expect(page.locator("#conversations .thread-item.current")).to_contain_text(
        "Orders this year"
    )
    current.refresh_from_db()
    assert current.title == "Orders this year"


def test_retry_edit_and_the_up_key_resend_the_last_question(
    live_server: Any,
    new_page: Callable[[], Page],
    alice: Any,
    connected_session: Any,
    answering_llm: StubLLMServer,
) -> None:
    session = connected_session(alice, "sqlite")
    _thread(
        alice,
        "Hi",
        "First question?",
        id=session.id,
        db_connection=session.db_connection,
    )
    page = new_page()
    log_in(page, live_server.url, alice.email)
    box = page.get_by_label("Your question")

    box.fill("Second question?")
    box.press("Enter")
    expect(page.locator(".turn[data-status=ok]")).to_have_count(
        2, timeout=ANSWER_TIMEOUT_MS
    )
    # The sidebar is brought up to date with the stored turn.
    expect(page.locator("#conversations .thread-item.current")).to_have_count(1)
    # Only the last question offers Retry and Edit.
    expect(page.locator(".resend:visible")).to_have_count(1)
    last = page.locator(".turn").last
    expect(last.locator(".question")).to_contain_text("Second question?")

    last.get_by_role("button", name="Edit and resend").click()
    expect(box).to_have_value("Second question?")
    expect(box).to_be_focused()
    box.fill("")
    box.press("ArrowUp")
    expect(box).to_have_value("Second question?")
    box.fill("")

    page.locator(".turn").last.get_by_role("button", name="Retry").click()
    expect(page.locator(".turn[data-status=ok]")).to_have_count(
        3, timeout=ANSWER_TIMEOUT_MS
    )
    assert [t.question for t in Turn.objects.order_by("id")][-2:] == [
        "Second question?",
        "Second question?",
    ]
