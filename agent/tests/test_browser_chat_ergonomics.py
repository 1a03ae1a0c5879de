"""The chat page as a new user meets it, in headless Chromium: it follows the
streaming answer (unless the user scrolls away), keeps the composer in view,
frees Ask at once on Stop, keeps a question that failed, says so for an empty
one, resets its counter, returns to a refused Edit SQL's turn, and shows turns
compactly with shipped icons."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from agent.models import Thread, Turn, TurnSource, TurnStatus
from testsupport.browser import ANSWER_TIMEOUT_MS, log_in
from testsupport.llm_stub import StubLLMServer, StubReply, scripted_responder

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SQL = "SELECT id, name, country FROM customers WHERE country = 'Germany' ORDER BY id"
LONG_ANSWER = " ".join(
    f"Sentence {n}: three customers live in Germany, Ada, Chen and Fatima."
    for n in range(1, 31)
)


def _stub(
    settings: Any,
    script: list[StubReply],
    *,
    delay_s: float,
    chunk_delay_s: float = 0.0,
) -> StubLLMServer:
    stub = StubLLMServer(
        responder=scripted_responder(script),
        delay_s=delay_s,
        chunk_delay_s=chunk_delay_s,
    )
    settings.OPENAI_BASE_URL = stub.base_url
    settings.OPENAI_API_KEY = "sk-test"
    settings.LLM_MAX_RETRIES = 0
    return stub


@pytest.fixture
def streaming_llm(settings: Any) -> Iterator[StubLLMServer]:
    """A model that queries once, then streams a long answer slowly."""
    script = [
        StubReply(tool_calls=[("run_query", {"sql": SQL})]),
        StubReply(content=LONG_ANSWER),
    ]
    with _stub(settings, script, delay_s=0.3, chunk_delay_s=0.02) as stub:
        yield stub


@pytest.fixture
def thinking_llm(settings: Any) -> Iterator[StubLLMServer]:
    """A model that takes 8 s over its first call: Stop lands while it thinks."""
    script = [StubReply(content="Too late.")]
    with _stub(settings, script, delay_s=8.0) as stub:
        yield stub


def _earlier_turns(session: Any, count: int = 6) -> list[Turn]:
    """Fill the conversation so the page is several screens tall."""
    thread = Thread.objects.create(
        id=session.id,
        user=session.user,
        db_connection=session.db_connection,
        title="Customers",
    )
    rows = [[n, f"Customer {n}", "Germany"] for n in range(1, 9)]
    return [
        Turn.objects.create(
            thread=thread,
            question=f"Earlier question {n}",
            answer=f"Earlier answer {n}.\n\n" + "A long paragraph. " * 40,
            status=TurnStatus.OK,
            queries=[
                {
                    "sql": SQL,
                    "row_count": 8,
                    "truncated": False,
                    "duration_ms": 1.0,
                    "error": None,
                }
            ],
            result={
                "columns": ["id", "name", "country"],
                "rows": rows,
                "row_count": len(rows),
                "truncated": False,
            },
        )
        for n in range(1, count + 1)
    ]


def _in_viewport(page: Page, selector: str) -> bool:
    return bool(
        page.evaluate(
            """(selector) => {
              const box = document.querySelector(selector).getBoundingClientRect();
              return box.bottom > 0 && box.top < window.innerHeight;
            }""",
            selector,
        )
    )


def test_the_page_follows_the_streaming_answer_and_keeps_the_composer_in_view(
    live_server: Any,
    new_page: Callable[[], Page],
    streaming_llm: StubLLMServer,
    alice: Any,
    connected_session: Any,
) -> None:
    _earlier_turns(connected_session(alice, "sqlite"))
    page = new_page()
    page.set_viewport_size({"width": 1100, "height": 700})
    log_in(page, live_server.url, alice.email)

    page.get_by_label("Your question").fill("Who lives in Germany?")
    page.get_by_role("button", name="Ask").click()
    answer = page.locator(".turn.live .answer")
    expect(answer).to_contain_text("Sentence 3:", timeout=ANSWER_TIMEOUT_MS)

    # The growing answer is on screen, and so is the question box below it.
    assert _in_viewport(page, ".turn.live .answer")
    expect(page.get_by_label("Your question")).to_be_in_viewport()
    box = page.evaluate(
        "document.querySelector('.turn.live').getBoundingClientRect().bottom"
    )
    composer_top = page.evaluate(
        "document.getElementById('composer').getBoundingClientRect().top"
    )
    assert box <= composer_top + 20


def test_the_page_stops_following_when_the_user_scrolls_away(
    live_server: Any,
    new_page: Callable[[], Page],
    streaming_llm: StubLLMServer,
    alice: Any,
    connected_session: Any,
) -> None:
    _earlier_turns(connected_session(alice, "sqlite"))
    page = new_page()
    page.set_viewport_size({"width": 1100, "height": 700})
    log_in(page, live_server.url, alice.email)

    page.get_by_label("Your question").fill("Who lives in Germany?")
    page.get_by_role("button", name="Ask").click()
    expect(page.locator(".turn.live .answer")).to_contain_text(
        "Sentence 2:", timeout=ANSWER_TIMEOUT_MS
    )
    page.evaluate("window.scrollTo(0, 0)")
    # The rest of the answer streams in; the user stays where they went.
    expect(page.locator(".turn .answer").last).to_contain_text(
        "Sentence 30:", timeout=ANSWER_TIMEOUT_MS
    )
    expect(page.locator(".turn.live")).to_have_count(0)
    assert page.evaluate("window.scrollY") == 0
    expect(page.get_by_label("Your question")).to_be_in_viewport()


def test_stop_frees_ask_at_once_while_the_model_is_still_thinking(
    live_server: Any,
    new_page: Callable[[], Page],
    thinking_llm: StubLLMServer,
    alice: Any,
    connected_session: Any,
) -> None:
    connected_session(alice, "sqlite")
    page = new_page()
    log_in(page, live_server.url, alice.email)
    ask = page.get_by_role("button", name="Ask")

    page.get_by_label("Your question").fill("Who lives in Germany?")
    ask.click()
    expect(page.locator(".turn.live[data-turn-id]")).to_have_count(
        1, timeout=ANSWER_TIMEOUT_MS
    )
    expect(ask).to_be_disabled()
    stopped_at = time.monotonic()
    page.locator(".turn.live").get_by_role("button", name="Stop").click()
    expect(ask).to_be_enabled(timeout=300)
    assert time.monotonic() - stopped_at < 1.0
    assert len(thinking_llm.requests) <= 1  # the model had not answered yet

    # The server abandons the model's request: the turn is stored cancelled
    # long before the model would have answered.
    turn = Turn.objects.get()
    expect(page.locator(f"#turn-{turn.id}")).to_contain_text("cancelled", timeout=5_000)
    assert Turn.objects.get().status == TurnStatus.CANCELLED
    assert time.monotonic() - stopped_at < 8.0


def test_the_counter_resets_after_an_ask_and_an_empty_question_is_explained(
    live_server: Any,
    new_page: Callable[[], Page],
    streaming_llm: StubLLMServer,
    alice: Any,
    connected_session: Any,
) -> None:
    connected_session(alice, "sqlite")
    page = new_page()
    log_in(page, live_server.url, alice.email)
    box = page.get_by_label("Your question")

    page.get_by_role("button", name="Ask").click()
    expect(page.locator("#ask-hint")).to_have_text(
        "Type a question first, then press Ask."
    )
    assert Turn.objects.count() == 0

    box.fill("Who lives in Germany?")
    expect(page.locator("#question-counter")).to_contain_text("21 / ")
    page.get_by_role("button", name="Ask").click()
    expect(page.locator("#question-counter")).to_contain_text("0 / ")
    expect(page.locator("#ask-hint")).to_be_hidden()
    expect(box).to_have_value("")
    # Once answered, the new conversation is listed in the sidebar.
    expect(page.locator("#conversations .thread-item.current")).to_contain_text(
        "Who lives in Germany?", timeout=ANSWER_TIMEOUT_MS
    )


def test_a_failed_ask_keeps_its_question(
    live_server: Any,
    new_page: Callable[[], Page],
    settings: Any,
    alice: Any,
    connected_session: Any,
) -> None:
    settings.OPENAI_API_KEY = ""
    settings.OPENAI_BASE_URL = ""
    connected_session(alice, "sqlite")
    page = new_page()
    log_in(page, live_server.url, alice.email)

    page.get_by_label("Your question").fill("Who lives in Germany?")
    page.get_by_role("button", name="Ask").click()

    expect(page.locator(".turn.error")).to_contain_text("No LLM is configured")
    expect(page.get_by_label("Your question")).to_have_value("Who lives in Germany?")
    expect(page.locator("#question-counter")).to_contain_text("21 / ")


def test_a_refused_edit_sql_returns_to_its_turn_not_the_top_of_the_page(
    live_server: Any,
    new_page: Callable[[], Page],
    alice: Any,
    connected_session: Any,
) -> None:
    last = _earlier_turns(connected_session(alice, "sqlite"))[-1]
    page = new_page()
    log_in(page, live_server.url, alice.email)

    turn = page.locator(f"#turn-{last.id}")
    turn.get_by_text("Edit SQL").click()
    turn.locator("textarea[name=sql]").fill("DELETE FROM customers")
    turn.get_by_role("button", name="Run").click()

    refused = Turn.objects.order_by("-id").first()
    assert refused.status == TurnStatus.ERROR
    assert refused.source == TurnSource.SQL
    expect(page).to_have_url(f"{live_server.url}/#turn-{refused.id}")
    stored = page.locator(f"#turn-{refused.id}")
    reason = stored.locator("p.error[role=alert]")
    expect(reason).to_contain_text("Only a single")
    expect(reason).to_be_in_viewport()
    assert page.evaluate("window.scrollY") > 1000


def test_turns_are_compact_and_rate_with_shipped_icons(
    live_server: Any,
    new_page: Callable[[], Page],
    alice: Any,
    connected_session: Any,
) -> None:
    last = _earlier_turns(connected_session(alice, "sqlite"), count=1)[-1]
    page = new_page()
    log_in(page, live_server.url, alice.email)
    turn = page.locator(f"#turn-{last.id}")

    # SQL and the comment box are folded until asked for.
    expect(turn.locator("pre.sql")).to_be_hidden()
    expect(turn.locator(".feedback-comment")).to_be_hidden()
    turn.locator("summary", has_text="SQL").first.click()
    expect(turn.locator("pre.sql")).to_be_visible()
    turn.locator("summary", has_text="Comment").click()
    expect(turn.locator(".feedback-comment")).to_be_visible()

    # The thumbs are the project's own SVG files, drawn whatever fonts exist.
    for label in ("Good answer", "Bad answer"):
        button = turn.get_by_role("button", name=label)
        expect(button).to_have_text("")
        image = button.locator(".icon-thumb").evaluate(
            "e => getComputedStyle(e).backgroundImage"
        )
        url = re.fullmatch(r'url\("(.+\.svg)"\)', image)
        assert url, image
        served = page.request.get(url.group(1))
        assert served.status == 200
        assert served.headers["content-type"].startswith("image/svg+xml")
    turn.get_by_role("button", name="Good answer").click()
    expect(turn.locator(".feedback-status")).to_have_text("Thanks for the feedback.")
