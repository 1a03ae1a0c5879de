"""A masked column's token in the answer reads as the real value on the owner's
page (the model's history keeps the token), unless masked values are hidden."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from agent.models import Thread, Turn, TurnStatus
from agent.privacy import PrivacyPolicy
from testsupport.browser import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_owner_reads_the_value_a_masked_token_stands_for(
    live_server: Any, new_page: Callable[[], Page], alice: Any, connected_session: Any
) -> None:
    session = connected_session(alice, "sqlite", masked_columns=["*email*"])
    token = PrivacyPolicy.for_connection(session.db_connection).token("ada@example.com")
    thread = Thread.objects.create(
        id=session.id, user=alice, db_connection=session.db_connection
    )
    turn = Turn.objects.create(
        thread=thread,
        question="What is Ada's email?",
        answer=f"Ada's email is {token}.",
        status=TurnStatus.OK,
        queries=[{"sql": "SELECT name, email FROM customers", "row_count": 1}],
        result={
            "columns": ["name", "email"],
            "rows": [["Ada Lovelace", "ada@example.com"]],
            "row_count": 1,
            "truncated": False,
        },
    )
    page = new_page()
    log_in(page, live_server.url, alice.email)

    answer = page.locator(f"#turn-{turn.id} .answer")
    expect(answer).to_have_text("Ada's email is ada@example.com.")
    turn.refresh_from_db()
    assert token in turn.answer
