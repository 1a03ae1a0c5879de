"""The knowledge page in a real headless Chromium: edit, delete and import."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from knowledge import services
from knowledge.models import Example, Instruction
from testsupport.browser import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

JSONL = (
    b'{"question": "How many customers?", "sql": "SELECT COUNT(*) FROM customers"}\n'
    b'{"question": "Broken", "sql": \n'
    b'{"question": "Orders by total", "sql": "SELECT * FROM orders ORDER BY total"}\n'
)


def test_a_user_edits_an_instruction_deletes_an_example_and_imports_a_file(
    live_server: Any, new_page: Callable[[], Page], alice: Any, make_connection: Any
) -> None:
    connection = make_connection(alice, "sqlite", label="Alice shop")
    instruction = services.instruction_create(connection=connection, text="amt: cents")
    example = services.example_create(
        connection=connection,
        question="Customers in Germany",
        sql="SELECT name FROM customers WHERE country = 'Germany'",
    )
    base = live_server.url
    page = new_page()
    log_in(page, base, alice.email)
    page.goto(f"{base}/knowledge/{connection.id}/")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Alice shop")

    # Edit the instruction on its own page and come back to the list.
    page.locator(f"#instruction-{instruction.id}").get_by_role(
        "link", name="Edit"
    ).click()
    page.get_by_label("Instruction").fill("Amounts are in euro cents")
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".message.success")).to_have_text("Instruction saved.")
    expect(page.locator("#instructions")).to_contain_text("Amounts are in euro cents")
    expect(page.locator("#instructions")).not_to_contain_text("amt: cents")

    # Delete the example, through its confirm page.
    page.locator(f"#example-{example.id}").get_by_role("link", name="Delete").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Delete this verified example?"
    )
    page.get_by_role("button", name="Delete").click()
    expect(page.locator(".message.success")).to_contain_text("deleted")
    expect(page.locator("#examples")).not_to_contain_text("Customers in Germany")

    # Import a JSONL file with one bad line through the upload input.
    page.get_by_label("File").set_input_files(
        {"name": "examples.jsonl", "mimeType": "application/jsonl", "buffer": JSONL}
    )
    page.get_by_role("button", name="Import").click()
    report = page.locator("#import-report")
    expect(report).to_contain_text(
        "Imported 2 verified example(s); 1 line(s) not imported."
    )
    expect(page.locator("#import-errors tbody tr")).to_have_count(1)
    expect(page.locator("#import-errors")).to_contain_text("Line 2")
    expect(page.locator("#import-errors")).to_contain_text("not valid JSON")

    page.get_by_role("link", name="Back to the knowledge page").click()
    examples = page.locator("#examples tbody tr")
    expect(examples).to_have_count(2)
    expect(examples.nth(0)).to_contain_text("How many customers?")
    expect(examples.nth(1)).to_contain_text("Orders by total")

    assert Instruction.objects.get().text == "Amounts are in euro cents"
    assert list(Example.objects.values_list("question", "source")) == [
        ("How many customers?", "import"),
        ("Orders by total", "import"),
    ]
