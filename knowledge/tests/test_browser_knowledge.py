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


def test_the_add_forms_are_styled_a_refused_example_keeps_its_fields_and_golden_questions_show(  # noqa: E501
    live_server: Any, new_page: Callable[[], Page], alice: Any, make_connection: Any
) -> None:
    from knowledge.models import GoldenQuestion, GoldenSet

    connection = make_connection(alice, "sqlite", label="Alice shop")
    golden = GoldenSet.objects.create(connection=connection, name="smoke")
    GoldenQuestion.objects.create(
        golden_set=golden, question="How many customers?", sql="SELECT COUNT(*) FROM c"
    )
    page = new_page()
    log_in(page, live_server.url, alice.email)
    page.goto(f"{live_server.url}/knowledge/{connection.id}/")

    # The inline inputs look like every other input and are wide enough to read.
    instruction = page.get_by_label("New instruction")
    assert instruction.evaluate("e => getComputedStyle(e).borderTopStyle") == "solid"
    box = instruction.bounding_box()
    assert box is not None
    assert box["width"] > 300

    # A refused example comes back with what was typed.
    form = page.locator("#add-example")
    form.get_by_label("Question").fill("Wipe the orders")
    form.get_by_label("SQL").fill("DELETE FROM orders")
    form.get_by_role("button", name="Add example").click()
    expect(page.locator(".message.error").first).to_be_visible()
    expect(page.locator("#add-example").get_by_label("Question")).to_have_value(
        "Wipe the orders"
    )
    expect(page.locator("#add-example").get_by_label("SQL")).to_have_value(
        "DELETE FROM orders"
    )
    assert not Example.objects.exists()

    # A golden set's questions can be read.
    row = page.locator(f"#golden-set-{golden.id}")
    row.get_by_text("1 question").click()
    expect(row).to_contain_text("How many customers?")
    expect(row.locator("pre.sql")).to_have_text("SELECT COUNT(*) FROM c")
    # ... and edited.
    row.get_by_role("link", name="Edit").click()
    page.get_by_label("Question").fill("How many customers are there?")
    page.get_by_label("SQL").fill("SELECT COUNT(*) FROM customers")
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".message.success")).to_have_text("Golden question saved.")
    row = page.locator(f"#golden-set-{golden.id}")
    row.get_by_text("1 question").click()
    expect(row).to_contain_text("How many customers are there?")


def test_evaluation_results_show_rows_as_tables_with_outcome_colours(
    live_server: Any, new_page: Callable[[], Page], alice: Any, make_connection: Any
) -> None:
    from knowledge.models import EvaluationResult, EvaluationRun, Outcome, RunStatus

    connection = make_connection(alice, "sqlite")
    run = EvaluationRun.objects.create(
        connection=connection, status=RunStatus.RUNNING, total=2, done=2
    )
    for position, outcome, returned in (
        (1, Outcome.CORRECT, [[6]]),
        (2, Outcome.WRONG_ROWS, [[7]]),
    ):
        EvaluationResult.objects.create(
            run=run,
            position=position,
            question=f"Question {position}",
            gold_sql="SELECT COUNT(*) FROM orders",
            generated_sql="SELECT COUNT(*) FROM orders",
            outcome=outcome,
            gold_rows=[[6]],
            returned_rows=returned,
        )
    run.status = RunStatus.DONE
    run.save()
    page = new_page()
    log_in(page, live_server.url, alice.email)
    page.goto(f"{live_server.url}/knowledge/{connection.id}/runs/{run.id}/")

    # No "Model , prompt version ." with empty values.
    expect(page.locator("#summary")).not_to_contain_text("prompt version .")
    wrong = page.locator("#result-2")
    expect(wrong.locator("table.rows")).to_have_count(2)
    expect(wrong.locator("tr.differs")).to_have_count(2)
    assert "[[" not in (wrong.text_content() or "")
    right_colour = page.locator("#result-1").evaluate(
        "e => getComputedStyle(e).borderLeftColor"
    )
    wrong_colour = wrong.evaluate("e => getComputedStyle(e).borderLeftColor")
    assert right_colour != wrong_colour
