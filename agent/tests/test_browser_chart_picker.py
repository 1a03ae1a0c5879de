"""The chart picker in headless Chromium: "top products (name, category,
revenue)" gets bars by default; picking a line and then bars again redraws the
chart each time, and the choice is remembered on the turn across a reload."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from agent.models import Thread, Turn, TurnStatus
from testsupport.browser import docs_screenshot, log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TOP_PRODUCTS = {
    "columns": ["name", "category", "revenue"],
    "column_types": ["text", "text", "decimal"],
    "rows": [
        ["Laptop", "Computers", "1200.00"],
        ["Phone", "Phones", "800.00"],
        ["Desk", "Furniture", "300.00"],
        ["Lamp", "Furniture", "45.50"],
    ],
    "row_count": 4,
    "truncated": False,
}


def _top_products_turn(session: Any) -> Turn:
    from agent.charts import chart_for

    thread = Thread.objects.create(
        id=session.id, user=session.user, db_connection=session.db_connection
    )
    return Turn.objects.create(
        thread=thread,
        question="Top products by revenue",
        answer="The laptop leads.",
        status=TurnStatus.OK,
        queries=[{"sql": "SELECT 1", "row_count": 4, "error": None}],
        result=TOP_PRODUCTS,
        chart=chart_for(TOP_PRODUCTS),
    )


def test_the_picker_turns_bars_into_a_line_and_back_and_remembers_it(
    live_server: Any, new_page: Callable[[], Page], alice: Any, connected_session: Any
) -> None:
    turn = _top_products_turn(connected_session(alice, "sqlite"))
    page = new_page()
    log_in(page, live_server.url, alice.email)
    block = page.locator(f"#turn-{turn.id}")
    chart = block.locator(".chart")

    # Bars by default, one per product, although the rows carry a category too.
    expect(chart.locator("g.mark-rect path")).to_have_count(4)
    picker = block.locator(".chart-picker")
    expect(picker.get_by_label("Chart")).to_have_value("bar")

    picker.get_by_label("Chart").select_option("line")
    expect(chart.locator("g.mark-line path")).to_have_count(1)
    docs_screenshot(page, "chart-picker.png", block)
    expect(chart.locator("g.mark-rect path")).to_have_count(0)
    turn.refresh_from_db()
    assert turn.chart["usermeta"]["choice"]["type"] == "line"

    page.reload()
    expect(block.locator(".chart g.mark-line path")).to_have_count(1)
    expect(block.get_by_label("Chart")).to_have_value("line")

    block.get_by_label("Chart").select_option("bar")
    expect(block.locator(".chart g.mark-rect path")).to_have_count(4)
    turn.refresh_from_db()
    assert turn.chart["mark"]["type"] == "bar"

    # "Table" shows the rows and no chart; the downloads are labelled buttons.
    block.get_by_label("Chart").select_option("table")
    expect(block.locator("table.result")).to_be_visible()
    expect(block.locator(".chart")).to_be_hidden()
    block.get_by_label("Chart").select_option("barh")
    expect(block.get_by_role("button", name="Download PNG")).to_be_visible()
    expect(block.get_by_role("button", name="Download SVG")).to_be_visible()


def test_the_chart_in_dark_mode_has_no_box_of_its_own(
    live_server: Any, browser: Browser, alice: Any, connected_session: Any
) -> None:
    turn = _top_products_turn(connected_session(alice, "sqlite"))
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, color_scheme="dark"
    )
    try:
        page = context.new_page()
        log_in(page, live_server.url, alice.email)
        chart = page.locator(f"#turn-{turn.id} .chart")
        expect(chart.locator("g.mark-rect path")).to_have_count(4)
        background = chart.locator("svg.marks").evaluate(
            "svg => getComputedStyle(svg).backgroundColor"
        )
        fill = (
            chart.locator("svg.marks rect.background").evaluate(
                "rect => rect.getAttribute('fill') || getComputedStyle(rect).fill"
            )
            if chart.locator("svg.marks rect.background").count()
            else "none"
        )
        label = chart.locator("g.mark-text text, g.role-axis-label text").first
        colour = label.evaluate("t => t.getAttribute('fill')")
        overflow = page.evaluate(
            "document.documentElement.scrollWidth <= window.innerWidth"
        )
    finally:
        context.close()

    assert background in ("rgba(0, 0, 0, 0)", "transparent")
    assert fill in ("none", "transparent", "rgba(0, 0, 0, 0)")
    # Axis labels are light on the dark card, not the light theme's dark grey.
    assert colour
    assert colour.lower() not in ("#000", "#000000", "black", "#333")
    assert overflow
