"""Seeing the answer in a real headless Chromium: the demo database's revenue per
month as a line chart, the chart/table toggle and downloads, a sortable and paged
table, Edit SQL, the schema panel, suggested questions, dark mode and phone width.

With UPDATE_DOCS_SCREENSHOT=1 the README's screenshots of the chart, the table and
the schema panel are refreshed.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.core.management import call_command
from playwright.sync_api import Browser, Page, expect

from accounts.models import User
from agent.models import Turn, TurnSource, TurnStatus
from testsupport.browser import ANSWER_TIMEOUT_MS, ROOT, docs_screenshot, log_in
from testsupport.fixtures import PASSWORD
from testsupport.llm_stub import StubLLMServer, StubReply, keyword_responder

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DOCS = ROOT / "sqlagent_project" / "static" / "docs"
DEMO_EMAIL = "demo@sqlagent.local"
MONTHLY_REVENUE = (
    "SELECT strftime('%Y-%m', o.order_date) AS month, "
    "ROUND(SUM(i.quantity * i.unit_price), 2) AS revenue "
    "FROM orders o JOIN order_items i ON i.order_id = o.id "
    "WHERE o.status <> 'cancelled' GROUP BY month ORDER BY month"
)
ALL_ORDERS = "SELECT id, order_date, status FROM orders ORDER BY id"


@pytest.fixture
def demo(settings: Any) -> Iterator[StubLLMServer]:
    """The demo from `make run` (seed_demo), with a stub LLM that knows two SQLs."""
    call_command("seed_demo", stdout=open(os.devnull, "w"))  # noqa: SIM115
    user = User.objects.get(email=DEMO_EMAIL)
    user.set_password(PASSWORD)
    user.save()
    rules = [(r"revenue", MONTHLY_REVENUE), (r"orders", ALL_ORDERS)]
    with StubLLMServer(responder=_summarising(keyword_responder(rules))) as stub:
        settings.OPENAI_BASE_URL = stub.base_url
        settings.OPENAI_API_KEY = "sk-test"
        yield stub


def _summarising(responder: Any) -> Any:
    """Answer as a model would after its query: a sentence in Markdown."""

    def respond(body: dict[str, Any]) -> StubReply:
        last = body["messages"][-1]
        if last.get("role") == "tool":
            count = re.match(r"(\d+) row", str(last.get("content", "")))
            rows = count.group(1) if count else "the"
            return StubReply(
                content=f"I found **{rows} rows**: they are in the table below, "
                "and in a chart when they form one."
            )
        return responder(body)

    return respond


def _ask(page: Page, question: str) -> None:
    box = page.get_by_label("Your question")
    box.fill(question)
    page.get_by_role("button", name="Ask").click()


def _screenshot(page: Page, name: str, locator: Any = None) -> None:
    if os.environ.get("UPDATE_DOCS_SCREENSHOT") == "1":
        target = locator if locator is not None else page
        target.screenshot(path=str(DOCS / name))


def test_revenue_per_month_is_a_line_chart_with_a_table_and_downloads(
    live_server: Any, new_page: Callable[[], Page], demo: StubLLMServer
) -> None:
    page = new_page()
    log_in(page, live_server.url, DEMO_EMAIL)
    # seed_demo left the demo session connected: the first question just works.
    expect(page.locator("#session-status")).to_contain_text("connected")
    expect(page.locator(".suggestions button").first).to_be_visible()
    expect(page.get_by_label("Your question")).to_be_focused()

    _ask(page, "What is the revenue per month?")

    turn = page.locator(".turn").last
    chart = turn.locator(".chart")
    expect(chart.locator("svg.marks")).to_be_visible(timeout=ANSWER_TIMEOUT_MS)
    # Vega draws the series as one line path with points on it.
    expect(chart.locator("g.mark-line path")).to_have_count(1)
    assert chart.locator("g.mark-symbol path").count() >= 10
    _screenshot(page, "chart.png", turn)
    _screenshot(page, "chat.png")

    # The toggle shows the table instead, and back.
    turn.get_by_role("button", name="Table").click()
    expect(turn.locator("table.result")).to_be_visible()
    expect(chart).to_be_hidden()
    expect(turn.locator("th").first).to_contain_text("month")
    turn.get_by_role("button", name="Chart").click()
    expect(chart).to_be_visible()

    # PNG and SVG downloads from labelled buttons under the chart.
    for label, suffix in (("Download PNG", ".png"), ("Download SVG", ".svg")):
        with page.expect_download() as download:
            turn.get_by_role("button", name=label).click()
        assert download.value.suggested_filename.endswith(suffix)


def test_the_table_sorts_and_pages_over_every_stored_row(
    live_server: Any, new_page: Callable[[], Page], demo: StubLLMServer
) -> None:
    page = new_page()
    log_in(page, live_server.url, DEMO_EMAIL)

    _ask(page, "List all orders")

    turn = page.locator(".turn").last
    table = turn.locator("table.result")
    expect(table).to_be_visible(timeout=ANSWER_TIMEOUT_MS)
    # 1,000 rows stored (the row cap), 25 on a page: the page stays short.
    expect(table.locator("tbody tr")).to_have_count(25)
    expect(turn.locator(".page-label")).to_have_text("Rows 1\u201325 of 1000")
    expect(table.locator("td.num").first).to_have_text("1")
    expect(turn.locator(".badge.warn")).to_have_text("truncated")

    turn.get_by_role("button", name="Next").click()
    expect(turn.locator(".page-label")).to_have_text("Rows 26\u201350 of 1000")
    expect(table.locator("tbody tr").first.locator("td").first).to_have_text("26")

    # Sorting by id descending puts the largest stored id first, on page one.
    header = table.get_by_role("button", name="id")
    header.click()
    header.click()
    expect(table.locator("th").first).to_have_attribute("aria-sort", "descending")
    expect(turn.locator(".page-label")).to_have_text("Rows 1\u201325 of 1000")
    expect(table.locator("tbody tr").first.locator("td").first).to_have_text("1000")
    _screenshot(page, "table.png", turn)


def test_edit_sql_runs_as_a_new_turn_and_a_refused_edit_shows_its_reason(
    live_server: Any, new_page: Callable[[], Page], demo: StubLLMServer
) -> None:
    page = new_page()
    log_in(page, live_server.url, DEMO_EMAIL)
    _ask(page, "List all orders")
    first = page.locator(".turn").last
    expect(first.locator("table.result")).to_be_visible(timeout=ANSWER_TIMEOUT_MS)

    first.get_by_text("Edit SQL").click()
    editor = first.locator("textarea[name=sql]")
    expect(editor).to_have_value(ALL_ORDERS)
    editor.fill("SELECT status, COUNT(*) AS n FROM orders GROUP BY status")
    first.get_by_role("button", name="Run").click()

    edited = page.locator(".turn").last
    expect(edited.locator(".question")).to_have_text("You ran SQL")
    expect(edited.locator(".chart svg.marks")).to_be_visible()
    stored = Turn.objects.order_by("-id").first()
    assert stored.source == TurnSource.SQL
    assert stored.status == TurnStatus.OK
    assert stored.llm_calls == 0

    edited.get_by_text("Edit SQL").click()
    edited.locator("textarea[name=sql]").fill("DELETE FROM orders")
    edited.get_by_role("button", name="Run").click()

    expect(page.locator(".message.error")).to_contain_text("Only a single")
    refused = Turn.objects.order_by("-id").first()
    # The page comes back to the refused turn, which says why.
    reason = page.locator(f"#turn-{refused.id} p.error[role=alert]")
    expect(reason).to_contain_text("Only a single")
    expect(reason).to_be_in_viewport()
    assert refused.status == TurnStatus.ERROR
    assert refused.error_code == "sql_refused"


def test_the_schema_panel_searches_describes_and_inserts_a_table_name(
    live_server: Any, new_page: Callable[[], Page], demo: StubLLMServer
) -> None:
    page = new_page()
    log_in(page, live_server.url, DEMO_EMAIL)
    panel = page.locator("#schema-panel")
    expect(panel.locator(".schema-status")).to_have_text("4 tables")

    panel.get_by_label("Find a table").fill("order")
    expect(panel.locator(".schema-list > li")).to_have_count(2)
    panel.locator("summary", has_text="order_items").first.click()
    expect(panel.get_by_text("→ orders.id")).to_be_visible()
    _screenshot(page, "schema.png", panel)
    panel.get_by_role("button", name="Insert orders into the question").click()

    expect(page.get_by_label("Your question")).to_have_value("orders")
    expect(page.get_by_label("Your question")).to_be_focused()


def test_dark_mode_and_phone_width_render_the_chart(
    live_server: Any, browser: Browser, demo: StubLLMServer
) -> None:
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, color_scheme="dark"
    )
    page = context.new_page()
    try:
        log_in(page, live_server.url, DEMO_EMAIL)
        _ask(page, "What is the revenue per month?")
        chart = page.locator(".turn").last.locator(".chart svg.marks")
        expect(chart).to_be_visible(timeout=ANSWER_TIMEOUT_MS)

        docs_screenshot(page, "dark-phone.png")
        background = page.evaluate("getComputedStyle(document.body).backgroundColor")
        box = chart.bounding_box()
    finally:
        context.close()

    assert background == "rgb(18, 21, 27)"
    assert box is not None
    assert 200 < box["width"] <= 390
