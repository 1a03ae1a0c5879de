"""In a real headless Chromium: an admin makes a team, adds a viewer by email,
shares a database with the team, and the viewer asks on it without seeing its
settings or an Edit SQL control; an owner shares a connection of their own from
its edit page."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from testsupport.browser import ANSWER_TIMEOUT_MS, log_in
from testsupport.fixtures import SQLITE_FILE
from testsupport.llm_stub import StubLLMServer

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_admin_shares_a_connection_and_a_viewer_asks_on_it(
    live_server: Any,
    new_page: Callable[[], Page],
    stub_llm: StubLLMServer,
    shop: Any,
    alice: Any,
    carol: Any,
) -> None:
    base = live_server.url
    admin = new_page()
    log_in(admin, base, alice.email)

    # The admin creates a team and adds carol as a viewer.
    admin.get_by_role("link", name="Teams").click()
    admin.get_by_label("Team name").fill("Data")
    admin.get_by_role("button", name="Create team").click()
    expect(admin.locator("#your-role")).to_have_text("admin")
    form = admin.locator("#add-member-form")
    form.get_by_label("Email").fill(carol.email)
    form.get_by_label("Role").select_option("viewer")
    form.get_by_role("button", name="Add member").click()
    expect(admin.locator(f"#member-{carol.id}")).to_contain_text(carol.email)

    # ... and shares a database with the team from the connection form.
    admin.get_by_role("link", name="Share a database with the team").click()
    admin.get_by_label("Label").fill("Company shop")
    admin.get_by_label("Database type").select_option("sqlite")
    admin.get_by_label("Database name").fill(SQLITE_FILE)
    # The team page's link chose the team already.
    expect(
        admin.get_by_label("Share with team").locator("option:checked")
    ).to_have_text("Data")
    admin.get_by_role("button", name="Add connection").click()
    expect(admin.locator(".message.success")).to_contain_text("“Company shop” added")
    expect(admin.locator("#connections")).to_contain_text("team: Data")

    # The viewer finds it, connects and asks; no settings, no Edit SQL.
    viewer = new_page()
    log_in(viewer, base, carol.email)
    viewer.get_by_role("link", name="Connections").click()
    row = viewer.locator("#connections tr", has_text="Company shop")
    expect(row).to_contain_text("managed by the team's admins")
    expect(row.get_by_role("link", name="Edit")).to_have_count(0)
    row.get_by_role("button", name="Connect").click()
    expect(viewer.get_by_role("heading", level=1)).to_have_text(
        "Chat with Company shop"
    )
    viewer.get_by_label("Your question").fill("Which customers are in Germany?")
    viewer.get_by_role("button", name="Ask").click()
    turn = viewer.locator(".turn").nth(0)
    expect(turn).to_contain_text("Here is what I found", timeout=ANSWER_TIMEOUT_MS)
    expect(turn.locator("table.result")).to_contain_text("Ada Lovelace")
    expect(turn.locator("details.edit-sql")).to_have_count(0)

    # Shared with the team, the answer opens for the admin too.
    turn.get_by_role("button", name="Share with team").click()
    expect(viewer.get_by_role("heading", level=1)).to_have_text("Shared answer")
    shared_url = viewer.url
    admin.goto(shared_url)
    expect(admin.locator(".turn")).to_contain_text("Ada Lovelace")


def test_an_owner_shares_their_own_connection_from_its_edit_page(
    live_server: Any,
    new_page: Callable[[], Page],
    make_connection: Callable[..., Any],
    alice: Any,
    carol: Any,
    team: Any,
) -> None:
    base = live_server.url
    make_connection(alice, "sqlite", label="Old shop")
    owner = new_page()
    log_in(owner, base, alice.email)

    owner.get_by_role("link", name="Connections").click()
    owner.locator("#connections tr", has_text="Old shop").get_by_role(
        "link", name="Edit"
    ).click()
    expect(
        owner.get_by_label("Share with team").locator("option:checked")
    ).to_have_text("No: only me")
    owner.get_by_label("Share with team").select_option(label="Data")
    owner.get_by_role("button", name="Save").click()
    expect(owner.locator(".message.success")).to_contain_text("“Old shop” saved")
    expect(owner.locator("#connections tr", has_text="Old shop")).to_contain_text(
        "team: Data"
    )

    # A member of the team now finds it, without its settings.
    viewer = new_page()
    log_in(viewer, base, carol.email)
    viewer.get_by_role("link", name="Connections").click()
    row = viewer.locator("#connections tr", has_text="Old shop")
    expect(row).to_contain_text("managed by the team's admins")
