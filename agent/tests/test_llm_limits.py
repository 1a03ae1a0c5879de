"""Model output is bounded (max_tokens sent) and a reply cut at the cap is flagged."""

from __future__ import annotations

import pytest

from testsupport.llm_stub import StubReply, scripted_responder

pytestmark = pytest.mark.django_db


def _ask(client, connection, question):
    client.post(f"/databases/connect_db/{connection.id}")
    return client.post("/ask", {"question": question}, format="json").json()


def test_every_model_call_carries_the_token_cap(
    alice_client, alice, make_connection, llm_stub, settings
):
    settings.LLM_MAX_TOKENS = 321
    _ask(alice_client, make_connection(alice, "sqlite"), "How many customers?")

    caps = {
        r.get("max_tokens", r.get("max_completion_tokens")) for r in llm_stub.requests
    }
    assert caps == {321}


def test_an_answer_stopped_at_the_cap_is_flagged_cut_off(
    alice_client, alice, make_connection, llm_stub
):
    llm_stub.responder = scripted_responder(
        [
            StubReply(
                tool_calls=[("run_query", {"sql": "SELECT COUNT(*) FROM orders"})]
            ),
            StubReply(content="There are six orders, and the", finish_reason="length"),
        ]
    )

    body = _ask(alice_client, make_connection(alice, "sqlite"), "How many orders?")

    assert body["cut_off"] is True
    assert body["grounded"] is True
    thread = alice_client.get(f"/threads/{body['thread_id']}").json()
    assert thread["turns"][-1]["cut_off"] is True


def test_a_complete_answer_is_not_flagged(
    alice_client, alice, make_connection, llm_stub
):
    body = _ask(alice_client, make_connection(alice, "sqlite"), "How many customers?")
    assert body["cut_off"] is False


def test_a_request_over_the_context_window_says_the_prompt_was_too_long(
    alice_client, alice, make_connection, llm_stub
):
    llm_stub.responder = scripted_responder(
        [
            StubReply(
                status=400,
                error="This model's maximum context length is 8192 tokens.",
            )
        ]
        * 3
    )

    body = _ask(alice_client, make_connection(alice, "sqlite"), "How many orders?")

    assert body["code"] == "prompt_too_long"
    assert "context window" in body["detail"]


def test_a_failed_ask_keeps_its_sql_and_token_usage(
    alice_client, alice, make_connection, llm_stub
):
    from agent.models import Turn

    llm_stub.responder = scripted_responder(
        [
            StubReply(
                tool_calls=[("run_query", {"sql": "SELECT COUNT(*) FROM orders"})]
            ),
            *[StubReply(status=500, error="model crashed")] * 3,
        ]
    )

    body = _ask(alice_client, make_connection(alice, "sqlite"), "How many orders?")

    assert body["code"] == "llm_unavailable"
    turn = Turn.objects.get()
    assert turn.status == "error"
    assert [q["sql"] for q in turn.queries] == ["SELECT COUNT(*) FROM orders"]
    assert turn.llm_calls == 1
    assert turn.prompt_tokens > 0


def test_one_time_budget_bounds_the_whole_ask_retries_included(
    alice_client, alice, make_connection, llm_stub, settings
):
    """Each call alone is within LLM_TIMEOUT_S; together they are not: the ask
    ends when its budget does, and no call starts after it."""
    import time

    from agent.models import Turn

    settings.LLM_TIMEOUT_S = 30
    settings.LLM_MAX_RETRIES = 2
    settings.LLM_ASK_BUDGET_S = 1.5
    llm_stub.delay_s = 1.0
    llm_stub.responder = scripted_responder(
        [
            StubReply(
                tool_calls=[("run_query", {"sql": "SELECT COUNT(*) FROM orders"})]
            ),
            StubReply(content="Six orders."),
        ]
    )

    started = time.monotonic()
    body = _ask(alice_client, make_connection(alice, "sqlite"), "How many orders?")
    elapsed = time.monotonic() - started

    assert body["code"] == "llm_timeout"
    assert "1.5 s" in body["detail"]
    # Without the budget: the second call's retries alone would take 3 x 1 s.
    assert elapsed < 1.5 + 1.0 + 1.5  # the budget, the last call's back-off
    assert len(llm_stub.requests) == 2
    turn = Turn.objects.get()
    assert turn.status == "error"
    assert [q["sql"] for q in turn.queries] == ["SELECT COUNT(*) FROM orders"]


def test_history_is_cut_to_fit_the_context_window(
    alice_client, alice, make_connection, llm_stub, settings
):
    """Older turns are dropped, the latest kept: the request fits the context."""
    connection = make_connection(alice, "sqlite")
    for n in range(4):
        _ask(alice_client, connection, f"How many customers? ({n}) " + "x " * 300)
    llm_stub.requests.clear()
    first = llm_stub.requests
    settings.LLM_MAX_TOKENS = 100
    settings.LLM_CONTEXT_TOKENS = 2000 + 100  # schema and rules fit; ~1.5 turns
    settings.SCHEMA_PROMPT_TOKEN_BUDGET = 300

    response = alice_client.post("/ask", {"question": "And now?"}, format="json")

    assert response.status_code == 200, response.json()
    sent = "\n".join(str(m.get("content")) for m in first[0]["messages"])
    assert "(3)" in sent
    assert "(0)" not in sent


def test_a_question_that_cannot_fit_the_context_is_refused_before_any_call(
    alice_client, alice, make_connection, llm_stub, settings
):
    settings.LLM_CONTEXT_TOKENS = 1500
    settings.LLM_MAX_TOKENS = 100
    settings.SCHEMA_PROMPT_TOKEN_BUDGET = 300

    body = _ask(
        alice_client, make_connection(alice, "sqlite"), "How many? " + "y " * 1900
    )

    assert body.get("code"), body
    assert body["code"] == "prompt_too_long"
    assert "tokens" in body["detail"]
    assert llm_stub.requests == []
