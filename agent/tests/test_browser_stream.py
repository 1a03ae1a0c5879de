"""The chat page answering live, in headless Chromium, against a stub LLM that is
slow on purpose: steps arrive in order, the answer grows, Stop cancels."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from agent.models import Turn, TurnStatus
from testsupport.browser import ANSWER_TIMEOUT_MS, log_in
from testsupport.llm_stub import StubLLMServer, StubReply, scripted_responder

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SQL = "SELECT id, name, country FROM customers WHERE country = 'Germany' ORDER BY id"
ANSWER = "Three customers live in Germany: Ada Lovelace, Chen Wei and Fatima Zahra."


@pytest.fixture
def slow_llm(settings: Any) -> Iterator[StubLLMServer]:
    script = [
        StubReply(tool_calls=[("list_tables", {})]),
        StubReply(tool_calls=[("describe_tables", {"table_names": ["customers"]})]),
        StubReply(tool_calls=[("run_query", {"sql": SQL})]),
        StubReply(content=ANSWER),
    ]
    stub = StubLLMServer(
        responder=scripted_responder(script), delay_s=0.6, chunk_delay_s=0.08
    )
    with stub:
        settings.OPENAI_BASE_URL = stub.base_url
        settings.OPENAI_API_KEY = "sk-test"
        settings.LLM_MAX_RETRIES = 0
        yield stub


def test_the_chat_page_shows_steps_in_order_and_the_answer_word_by_word(
    live_server: Any,
    new_page: Callable[[], Page],
    slow_llm: StubLLMServer,
    alice: Any,
    connected_session: Any,
) -> None:
    connected_session(alice, "postgresql")
    page = new_page()
    log_in(page, live_server.url, alice.email)

    page.get_by_label("Your question").fill("Who lives in Germany?")
    page.get_by_role("button", name="Ask").click()

    live = page.locator(".turn.live")
    # The question shows at once, before the model has said anything.
    expect(live.locator(".question")).to_contain_text("Who lives in Germany?")
    steps = live.locator(".steps .step")
    # The first ask of a server builds its agent: allow for a slow machine.
    expect(steps).to_have_count(1, timeout=ANSWER_TIMEOUT_MS)
    expect(steps.nth(0)).to_have_text("Listing the tables")
    expect(steps).to_have_count(2)
    expect(steps.nth(1)).to_have_text("Reading the columns of customers")
    expect(steps).to_have_count(3)
    expect(steps.nth(2).locator("code")).to_have_text(SQL)
    expect(steps.nth(2)).to_contain_text("3 rows")
    expect(live.locator(".live-rows table")).to_contain_text("Chen Wei")
    # The answer grows: seen part-way, then whole.
    answer = live.locator(".answer")
    expect(answer).to_contain_text("Three customers")
    partial = answer.text_content() or ""
    assert 0 < len(partial) < len(ANSWER)
    # Once done, the stored turn (Markdown, table, chart) replaces the live card.
    turn = Turn.objects.get()
    stored = page.locator(f"#turn-{turn.id}")
    expect(stored.locator(".answer")).to_have_text(ANSWER, timeout=10_000)
    expect(page.locator(".turn.live")).to_have_count(0)
    assert Turn.objects.get().status == TurnStatus.OK
    expect(page.get_by_label("Your question")).to_be_enabled()


def test_stop_cancels_the_ask_and_the_turn_is_stored_cancelled(
    live_server: Any,
    new_page: Callable[[], Page],
    slow_llm: StubLLMServer,
    alice: Any,
    connected_session: Any,
) -> None:
    connected_session(alice, "sqlite")
    page = new_page()
    log_in(page, live_server.url, alice.email)

    page.get_by_label("Your question").fill("Who lives in Germany?")
    page.get_by_role("button", name="Ask").click()
    live = page.locator(".turn.live")
    expect(live.locator(".steps .step")).to_have_count(1, timeout=ANSWER_TIMEOUT_MS)
    live.get_by_role("button", name="Stop").click()

    turn = Turn.objects.get()
    stored = page.locator(f"#turn-{turn.id}")
    expect(stored).to_contain_text("cancelled", timeout=10_000)
    assert Turn.objects.get().status == TurnStatus.CANCELLED
    requests_at_stop = len(slow_llm.requests)
    time.sleep(1.0)
    assert len(slow_llm.requests) == requests_at_stop <= 2


def test_escape_stops_a_streaming_answer(
    live_server: Any,
    new_page: Callable[[], Page],
    slow_llm: StubLLMServer,
    alice: Any,
    connected_session: Any,
) -> None:
    connected_session(alice, "mysql")
    page = new_page()
    log_in(page, live_server.url, alice.email)

    page.get_by_label("Your question").fill("Who lives in Germany?")
    page.get_by_role("button", name="Ask").click()
    expect(page.locator(".turn.live .steps .step")).to_have_count(
        1, timeout=ANSWER_TIMEOUT_MS
    )
    page.keyboard.press("Escape")

    turn = Turn.objects.get()
    expect(page.locator(f"#turn-{turn.id}")).to_contain_text(
        "cancelled", timeout=10_000
    )
    assert Turn.objects.get().status == TurnStatus.CANCELLED


def test_without_javascript_the_ask_form_still_posts(
    live_server: Any,
    browser: Any,
    slow_llm: StubLLMServer,
    alice: Any,
    connected_session: Any,
) -> None:
    slow_llm.delay_s = 0
    connected_session(alice, "sqlite")
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        log_in(page, live_server.url, alice.email)
        page.get_by_label("Your question").fill("Who lives in Germany?")
        page.get_by_role("button", name="Ask").click()
        turn = Turn.objects.get()
        expect(page.locator(f"#turn-{turn.id} .answer")).to_have_text(ANSWER)
    finally:
        context.close()
