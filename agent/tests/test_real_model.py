"""A real model end to end: SmolLM2-135M-Instruct under llama.cpp's server (both
PyPI wheels, see testsupport/real_model.py) answering asks on the shop's SQLite
database, in the native (tools) and the text protocol.

A 135M model rarely writes good SQL: these tests prove that real model output
is read without errors and that every outcome is stored and flagged as it
should be, not that the answers are right. Skipped, saying why, when the
wheels cannot be installed.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.management import call_command

from agent.llm.text_protocol import protocol_memory
from agent.models import Turn, TurnStatus
from testsupport.real_model import RealModelUnavailable, llama_server

pytestmark = [pytest.mark.slow, pytest.mark.django_db]

# Outcomes a weak model may reach without anything being wrong with the service.
DOMAIN_ERRORS = {"agent_step_limit", "llm_timeout", "prompt_too_long"}
MARKUP = ("<think>", "</think>", "<tool_call>", "[TOOL_CALLS]", "<|python_tag|>")
QUESTIONS = ("How many customers are there?", "Which customers live in Germany?")


@pytest.fixture(scope="module")
def real_model_url() -> Iterator[str]:
    try:
        with llama_server() as url:
            yield url
    except RealModelUnavailable as exc:
        pytest.skip(f"no real model here: {exc}")


@pytest.fixture
def real_model(settings: Any, real_model_url: str) -> str:
    settings.OPENAI_BASE_URL = real_model_url
    settings.OPENAI_API_KEY = ""
    settings.OPENAI_MODEL = "smollm2-135m"
    settings.LLM_CONTEXT_TOKENS = 8192
    settings.LLM_MAX_TOKENS = 160
    settings.LLM_TIMEOUT_S = 120
    settings.LLM_ASK_BUDGET_S = 240
    settings.LLM_MAX_RETRIES = 0
    settings.AGENT_MAX_STEPS = 8
    protocol_memory.forget()
    return real_model_url


def _ask_and_check(client: Any, question: str, protocol: str) -> Turn:
    response = client.post("/ask", {"question": question}, format="json")
    body = response.json()
    turn = Turn.objects.filter(question=question).latest("id")
    if response.status_code == 200:
        assert turn.status == TurnStatus.OK
        assert body["answer"] == turn.answer
        for mark in MARKUP:
            assert mark not in turn.answer
        assert body["llm"]["protocol"] == protocol
    else:
        # Never a crash: a domain error the service names, stored on the turn.
        assert body["code"] in DOMAIN_ERRORS, body
        assert turn.status == TurnStatus.ERROR
        assert turn.error_code == body["code"]
    assert turn.llm_calls >= 1 or turn.status == TurnStatus.ERROR
    # Grounded exactly when a query succeeded.
    succeeded = any(q.get("sql") and not q.get("error") for q in turn.queries)
    assert turn.grounded is succeeded
    if turn.status == TurnStatus.OK:
        assert turn.protocol == protocol
    return turn


@pytest.mark.parametrize("protocol", ["native", "text"])
def test_a_real_model_answers_and_every_outcome_is_stored_and_flagged(
    alice_client, alice, make_connection, real_model, settings, protocol
):
    settings.LLM_TOOL_PROTOCOL = protocol
    connection = make_connection(alice, "sqlite")
    assert (
        alice_client.post(f"/databases/connect_db/{connection.id}").status_code == 200
    )

    turns = [_ask_and_check(alice_client, q, protocol) for q in QUESTIONS]

    assert len(turns) == len(QUESTIONS)
    if protocol == "text":
        sent = [q["sql"] for t in turns for q in t.queries]
        # Whatever SQL the model wrote went through the guard: each is recorded.
        assert all(isinstance(sql, str) and sql for sql in sent)


def test_llm_check_gives_a_verdict_on_the_real_model(real_model):
    out = io.StringIO()
    call_command("llm_check", stdout=out)

    text = out.getvalue()
    assert "Reachable: yes" in text
    assert "Streaming: yes" in text
    assert "Verdict: " in text
    assert "Context size: 8192 tokens (server)" in text
