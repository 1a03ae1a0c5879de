"""The page's download buttons export the turn's SQL run again: an Excel file
read back with openpyxl holds every row, also one added after the answer."""

from __future__ import annotations

import io
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from playwright.sync_api import Page

from agent.user_sql import thread_run_sql
from testsupport.browser import log_in
from testsupport.fixtures import SQLITE_FILE

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

EXPORT_FILE = "export-browser.sqlite3"


def test_download_excel_holds_every_row_of_the_sql_run_again(
    live_server: Any,
    new_page: Callable[[], Page],
    alice: Any,
    connected_session: Any,
    shop: Any,
) -> None:
    path = Path(shop["sqlite_dir"]) / EXPORT_FILE
    path.write_bytes((Path(shop["sqlite_dir"]) / SQLITE_FILE).read_bytes())
    connected_session(alice, "sqlite", database_name=EXPORT_FILE)
    turn = thread_run_sql(user=alice, sql="SELECT id, name FROM customers ORDER BY id")
    with sqlite3.connect(path) as db:
        db.execute(
            "INSERT INTO customers (id, name, country, email) "
            """VALUES (7, '=HYPERLINK("x")', 'Peru', 'g@example.com')"""
        )
    page = new_page()
    log_in(page, live_server.url, alice.email)

    stored = page.locator(f"#turn-{turn.id}")
    with page.expect_download() as download_info:
        stored.get_by_role("link", name="Download Excel").click()
    download = download_info.value

    assert download.suggested_filename.endswith(f"-turn-{turn.id}.xlsx")
    sheet = load_workbook(io.BytesIO(Path(download.path()).read_bytes())).active
    rows = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert rows[0] == ["id", "name"]
    assert [row[0] for row in rows[1:]] == [1, 2, 3, 4, 5, 6, 7]
    assert rows[1] == [1, "Ada Lovelace"]
    assert rows[-1] == [7, '=HYPERLINK("x")']
    assert sheet.cell(row=8, column=2).data_type == "s"
