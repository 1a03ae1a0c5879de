"""The connection pages in headless Chromium: SQLite hides the server fields, a
failed test keeps the password typed, a superuser fails its test as Connect
would refuse it, the list shows each privacy tier, a long label wraps, and a
SQLite path gets an error a person can act on."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from connections.models import DatabaseConnection
from testsupport.browser import log_in
from testsupport.fixtures import TARGET_DB

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SERVER_FIELDS = ("host", "port", "username", "password")


def _add_page(page: Page, base_url: str, email: str) -> None:
    log_in(page, base_url, email)
    page.goto(f"{base_url}/connections/add/")
    page.wait_for_load_state("load")


def _fill_postgres(page: Page, *, username: str, password: str) -> None:
    page.get_by_label("Database type").select_option("postgresql")
    page.get_by_label("Host").fill("127.0.0.1")
    page.get_by_label("Port").fill("5432")
    page.get_by_label("Database name").fill(TARGET_DB)
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password", exact=True).fill(password)


def test_sqlite_hides_the_server_fields(
    live_server: Any, new_page: Callable[[], Page], alice: Any
) -> None:
    page = new_page()
    _add_page(page, live_server.url, alice.email)

    page.get_by_label("Database type").select_option("sqlite")
    for name in SERVER_FIELDS:
        expect(page.locator(f"#field-{name}")).to_be_hidden()
    page.get_by_label("Database type").select_option("postgresql")
    for name in SERVER_FIELDS:
        expect(page.locator(f"#field-{name}")).to_be_visible()


def test_a_failed_test_keeps_the_password_typed(
    live_server: Any, new_page: Callable[[], Page], alice: Any, shop: Any
) -> None:
    page = new_page()
    _add_page(page, live_server.url, alice.email)
    _fill_postgres(page, username="sqlagent_reader", password="wrong-pw-123")
    page.get_by_role("button", name="Add connection").click()

    expect(page.locator(".form-errors")).to_contain_text("Not saved: the test failed.")
    expect(page.get_by_label("Password", exact=True)).to_have_value("wrong-pw-123")
    assert not DatabaseConnection.objects.exists()


def test_a_superuser_fails_its_test_as_connect_would_refuse_it(
    live_server: Any, new_page: Callable[[], Page], alice: Any, shop: Any
) -> None:
    page = new_page()
    _add_page(page, live_server.url, alice.email)
    _fill_postgres(page, username="postgres", password="")
    page.get_by_role("button", name="Add connection").click()

    errors = page.locator(".form-errors")
    expect(errors).to_contain_text("Not saved: the test failed.")
    expect(errors).to_contain_text("superuser")
    expect(errors).to_contain_text("read-only role")
    assert not DatabaseConnection.objects.exists()


def test_a_sqlite_path_gets_an_error_a_person_can_act_on(
    live_server: Any, new_page: Callable[[], Page], alice: Any
) -> None:
    page = new_page()
    _add_page(page, live_server.url, alice.email)
    page.get_by_label("Database type").select_option("sqlite")
    page.get_by_label("Database name").fill("/etc/shop.sqlite3")
    page.get_by_role("button", name="Add connection").click()

    expect(page.locator("#field-database_name .error")).to_contain_text(
        "Enter only the SQLite file's name (for example shop.sqlite3)"
    )


def test_the_list_shows_privacy_tiers_and_a_long_label_wraps(
    live_server: Any,
    new_page: Callable[[], Page],
    alice: Any,
    make_connection: Any,
    connected_session: Any,
) -> None:
    long_label = "Q" * 100
    make_connection(alice, "sqlite", label=long_label, privacy="schema")
    connected_session(alice, "sqlite", label="Shop")
    page = new_page()
    log_in(page, live_server.url, alice.email)

    # The chat's Switch menu cuts the label instead of growing with it.
    option = page.locator("#connect-form select option").first
    expect(option).to_have_text("Q" * 39 + "…")
    page.goto(f"{live_server.url}/connections/")
    table = page.locator("#connections")
    expect(table).to_contain_text("schema only")
    expect(table).to_contain_text("rows")
    for width in (1100, 390):
        page.set_viewport_size({"width": width, "height": 900})
        assert page.evaluate(
            "document.documentElement.scrollWidth <= window.innerWidth"
        ), f"the connections page scrolls sideways at {width} px"
