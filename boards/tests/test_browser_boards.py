"""Boards in headless Chromium: pin an answer from the chat to a new board, add
a row to the database, and the board's tile shows it on the next refresh."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from agent.user_sql import thread_run_sql
from boards.models import Tile
from testsupport.browser import docs_screenshot, log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SALES_FILE = "boards-browser.sqlite3"
SQL = "SELECT region, SUM(amount) AS total FROM sales GROUP BY region ORDER BY region"


def test_a_pinned_tile_refreshes_from_the_database_after_a_row_is_added(
    live_server: Any,
    new_page: Callable[[], Page],
    alice: Any,
    bob: Any,
    connected_session: Any,
    sqlite_dir: Path,
) -> None:
    path = sqlite_dir / SALES_FILE
    path.unlink(missing_ok=True)
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE sales (region TEXT, amount INTEGER)")
        db.executemany(
            "INSERT INTO sales VALUES (?, ?)", [("North", 10), ("South", 20)]
        )
    connected_session(alice, "sqlite", database_name=SALES_FILE)
    turn = thread_run_sql(user=alice, sql=SQL)
    page = new_page()
    log_in(page, live_server.url, alice.email)

    stored = page.locator(f"#turn-{turn.id}")
    stored.get_by_text("Pin to a board").click()
    stored.get_by_label("New board name").fill("Weekly sales")
    stored.get_by_role("button", name="Pin").click()
    expect(page.locator(".message.success")).to_contain_text("Pinned to “Weekly sales”")

    page.get_by_role("link", name="Boards").click()
    page.get_by_role("link", name="Weekly sales").click()
    tile = page.locator(f"#tile-{Tile.objects.get().id}")
    expect(tile.locator("h2")).to_have_text(turn.question)
    expect(tile.locator(".chart g.mark-rect path")).to_have_count(2)
    expect(tile.locator("table.result tbody tr")).to_have_count(2)
    first_refresh = tile.locator("time").get_attribute("datetime")

    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO sales VALUES ('West', 5)")
    page.get_by_role("link", name="Refresh now").click()

    tile = page.locator(f"#tile-{Tile.objects.get().id}")
    expect(tile.locator(".chart g.mark-rect path")).to_have_count(3)
    expect(tile.locator("table.result")).to_contain_text("West")
    docs_screenshot(page, "board.png")
    assert tile.locator("time").get_attribute("datetime") >= (first_refresh or "")

    # Another user gets a 404 for the board.
    other = new_page()
    log_in(other, live_server.url, bob.email)
    response = other.goto(f"{live_server.url}/boards/{Tile.objects.get().board_id}/")
    assert response is not None
    assert response.status == 404
