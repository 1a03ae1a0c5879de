"""The knowledge and evaluation pages: owner only, forms that add knowledge."""

from __future__ import annotations

import uuid

import pytest

from agent.models import Thread, Turn, TurnStatus
from knowledge.models import (
    EvaluationResult,
    EvaluationRun,
    Example,
    Instruction,
    Outcome,
    RunStatus,
)

pytestmark = pytest.mark.django_db


def test_the_knowledge_page_adds_an_instruction_and_refuses_a_write_example(
    alice_page, alice, make_connection
):
    connection = make_connection(alice, "sqlite")
    url = f"/knowledge/{connection.id}/"

    alice_page.post(url, {"action": "instruction", "text": "amt is in cents"})
    response = alice_page.post(
        url,
        {"action": "example", "question": "Wipe", "sql": "DELETE FROM orders"},
        follow=True,
    )

    assert Instruction.objects.get().text == "amt is in cents"
    assert not Example.objects.exists()
    page = response.content.decode()
    assert "amt is in cents" in page
    assert "Run evaluation" in page


def test_another_users_knowledge_page_is_a_404(bob_page, alice, make_connection):
    connection = make_connection(alice, "sqlite")
    assert bob_page.get(f"/knowledge/{connection.id}/").status_code == 404
    assert bob_page.get(f"/knowledge/{connection.id}/runs/").status_code == 404


def test_the_run_page_shows_each_questions_diff(alice_page, alice, make_connection):
    connection = make_connection(alice, "sqlite")
    run = EvaluationRun.objects.create(
        connection=connection,
        status=RunStatus.DONE,
        total=1,
        done=1,
        accuracy=0.0,
        ci_low=0.0,
        ci_high=0.79,
    )
    EvaluationResult.objects.create(
        run=run,
        position=1,
        question="How many orders?",
        gold_sql="SELECT COUNT(*) FROM orders",
        generated_sql="SELECT COUNT(*) FROM customers",
        outcome=Outcome.WRONG_ROWS,
        gold_rows=[[6]],
        returned_rows=[[7]],
    )

    page = alice_page.get(f"/knowledge/{connection.id}/runs/{run.id}/")

    text = page.content.decode()
    assert "SELECT COUNT(*) FROM customers" in text
    assert "Wrong rows" in text
    assert "[[7]]" in text
    runs = alice_page.get(f"/knowledge/{connection.id}/runs/").content.decode()
    assert f"#{run.id}" in runs


def test_an_answered_turn_offers_thumbs_up_and_down(alice_page, alice, make_connection):
    connection = make_connection(alice, "sqlite")
    thread = Thread.objects.create(
        id=uuid.uuid4(), user=alice, db_connection=connection
    )
    Turn.objects.create(
        thread=thread, question="How many?", answer="6", status=TurnStatus.OK
    )

    page = alice_page.get(f"/history/{thread.id}/").content.decode()

    assert 'aria-label="Good answer"' in page
    assert f"/threads/{thread.id}/turns/" in page
