"""The text protocol (LLM_TOOL_PROTOCOL=text, or auto's switch): one SQL
statement in a ```sql block runs through the same guard, bounds and privacy
rules as a tool call, and every earlier guarantee holds; the real ChatOpenAI
client against the OpenAI-compatible stub."""

from __future__ import annotations

import io
import json
import logging
import time
from typing import Any

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.db import connection as app_db

from agent import cancellation
from agent.cancellation import cancel_key
from agent.llm.text_protocol import protocol_memory
from agent.models import Turn, TurnStatus
from testsupport.fixtures import CUSTOMERS, ENGINES, shop_snapshot
from testsupport.llm_shapes import shaped_responder
from testsupport.llm_stub import StubReply, scripted_responder

pytestmark = pytest.mark.django_db

GERMANY_SQL = (
    "SELECT id, name, country FROM customers WHERE country = 'Germany' ORDER BY id"
)
EMAILS = [row[3] for row in CUSTOMERS]
NAMES = [row[1] for row in CUSTOMERS]


@pytest.fixture(autouse=True)
def _protocols_forgotten():
    protocol_memory.forget()
    yield
    protocol_memory.forget()


def _connect(client: Any, make_connection: Any, owner: Any, db_type: str, **kw: Any):
    connection = make_connection(owner, db_type, **kw)
    assert client.post(f"/databases/connect_db/{connection.id}").status_code == 200


def _sql(sql: str) -> StubReply:
    return StubReply(content=f"```sql\n{sql}\n```")


def _ask(client: Any, question: str = "Which customers live in Germany?") -> Any:
    return client.post("/ask", {"question": question}, format="json")


@pytest.mark.parametrize("db_type", ENGINES)
def test_text_mode_offers_no_tools_and_answers_from_the_rows_it_showed(
    alice_client, alice, make_connection, llm_stub, settings, db_type
):
    settings.LLM_TOOL_PROTOCOL = "text"
    llm_stub.responder = shaped_responder("sql_block")
    _connect(alice_client, make_connection, alice, db_type)

    response = _ask(alice_client)

    assert response.status_code == 200, response.json()
    body = response.json()
    assert [q["sql"] for q in body["queries"]] == [GERMANY_SQL]
    assert body["result"]["row_count"] == 3
    assert "Ada Lovelace" in body["answer"]
    assert body["llm"]["calls"] == 2
    assert all("tools" not in request for request in llm_stub.requests)
    system = llm_stub.requests[0]["messages"][0]
    assert system["role"] == "system"
    assert "```sql" in system["content"]
    # The model was shown the rows as a user message, never a tool message.
    shown = llm_stub.requests[1]["messages"]
    assert {m["role"] for m in shown} <= {"system", "user", "assistant"}
    assert "Ada Lovelace" in shown[-1]["content"]
    turn = Turn.objects.get()
    assert (turn.protocol, turn.grounded, turn.status) == ("text", True, "ok")


@pytest.mark.parametrize("db_type", ENGINES)
def test_text_mode_refuses_a_write_and_the_database_is_unchanged(
    alice_client, alice, make_connection, llm_stub, settings, db_type, shop
):
    settings.LLM_TOOL_PROTOCOL = "text"
    llm_stub.responder = scripted_responder(
        [
            _sql("DELETE FROM customers"),
            _sql("SELECT COUNT(*) AS n FROM customers"),
            StubReply(content="There are 6 customers."),
        ]
    )
    _connect(alice_client, make_connection, alice, db_type)
    before = shop_snapshot(db_type, shop["sqlite_dir"])

    response = _ask(alice_client, "Delete the customers, then count them")

    assert response.status_code == 200, response.json()
    queries = response.json()["queries"]
    assert queries[0]["sql"] == "DELETE FROM customers"
    assert queries[0]["error"].startswith("Refused")
    assert queries[1]["error"] is None
    assert response.json()["result"]["rows"] == [[6]]
    told = llm_stub.requests[1]["messages"][-1]["content"]
    assert "did not run" in told
    assert "Refused" in told
    assert shop_snapshot(db_type, shop["sqlite_dir"]) == before


@pytest.mark.parametrize("db_type", ENGINES)
def test_text_mode_on_the_schema_tier_sends_no_value_to_the_model(
    alice_client, alice, make_connection, llm_stub, settings, db_type
):
    settings.LLM_TOOL_PROTOCOL = "text"
    llm_stub.responder = scripted_responder(
        [
            _sql("SELECT name, email FROM customers ORDER BY id"),
            StubReply(content="See the table."),
        ]
    )
    _connect(alice_client, make_connection, alice, db_type, privacy="schema")

    response = _ask(alice_client, "Every customer and their email")

    assert response.status_code == 200, response.json()
    assert response.json()["result"]["rows"][0] == ["Ada Lovelace", EMAILS[0]]
    sent = "\n".join(json.dumps(r, ensure_ascii=False) for r in llm_stub.requests)
    assert [v for v in [*NAMES, *EMAILS, "Germany"] if v in sent] == []
    assert "6 row(s)" in sent


def test_text_mode_keeps_to_the_step_limit(
    alice_client, alice, make_connection, llm_stub, settings
):
    settings.LLM_TOOL_PROTOCOL = "text"
    settings.AGENT_MAX_STEPS = 4
    llm_stub.responder = lambda body: _sql("SELECT nope FROM nowhere")
    _connect(alice_client, make_connection, alice, "sqlite")

    response = _ask(alice_client)

    assert response.status_code == 422
    assert response.json()["code"] == "agent_step_limit"
    assert Turn.objects.get().status == TurnStatus.ERROR


def test_text_mode_keeps_to_the_ask_budget(
    alice_client, alice, make_connection, llm_stub, settings
):
    settings.LLM_TOOL_PROTOCOL = "text"
    settings.LLM_ASK_BUDGET_S = 1.5
    llm_stub.delay_s = 1.0
    llm_stub.responder = shaped_responder("sql_block")
    _connect(alice_client, make_connection, alice, "sqlite")

    response = _ask(alice_client)

    assert response.status_code == 504
    assert response.json()["code"] == "llm_timeout"


# The stub's thread reads the running turn: it must see committed rows.
@pytest.mark.django_db(transaction=True)
def test_stop_ends_a_text_mode_ask_before_its_query_runs(
    alice_client, alice, make_connection, llm_stub, settings
):
    settings.LLM_TOOL_PROTOCOL = "text"

    def respond(body: dict[str, Any]) -> StubReply:
        try:
            turn_id = Turn.objects.get().id
            cache.set(cancel_key(turn_id), 1)
        finally:
            app_db.close()  # the stub's thread, not the app's
        # Reply once the ask has seen its Stop (bounded): whether the model
        # call is abandoned first or its SQL reaches the tool, nothing runs.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            event = cancellation._running.get(turn_id)
            if event is None or event.wait(0.05):
                break
        return _sql(GERMANY_SQL)

    llm_stub.responder = respond
    _connect(alice_client, make_connection, alice, "sqlite")

    response = _ask(alice_client)

    assert response.status_code == 409
    assert response.json()["code"] == "cancelled"
    turn = Turn.objects.get()
    assert (turn.status, turn.queries) == (TurnStatus.CANCELLED, [])


def test_a_text_mode_answer_without_a_query_is_nudged_once_then_ungrounded(
    alice_client, alice, make_connection, llm_stub, settings
):
    settings.LLM_TOOL_PROTOCOL = "text"
    llm_stub.responder = scripted_responder(
        [StubReply(content="Probably three."), StubReply(content="Three, I think.")]
    )
    _connect(alice_client, make_connection, alice, "sqlite")

    response = _ask(alice_client)

    assert response.status_code == 200
    assert response.json()["answer"] == "Three, I think."
    nudge = llm_stub.requests[1]["messages"][-1]["content"]
    assert "```sql" in nudge
    assert "run_query" not in nudge
    assert Turn.objects.get().grounded is False


def test_auto_remembers_a_server_that_refuses_tools_and_says_so(
    alice_client, alice, make_connection, llm_stub, caplog
):
    llm_stub.responder = shaped_responder("refuses_tools")
    _connect(alice_client, make_connection, alice, "sqlite")

    with caplog.at_level(logging.WARNING, logger="agent.llm"):
        first = _ask(alice_client)
    second = _ask(alice_client)

    assert first.status_code == second.status_code == 200
    assert second.json()["result"]["row_count"] == 3
    # The first ask learnt it (one refused request); the second never offers tools.
    offered = ["tools" in r for r in llm_stub.requests]
    assert offered == [True, False, False, False, False]
    assert "llm protocol switched to text" in caplog.text
    assert "reason=server_refuses_tools" in caplog.text
    out = io.StringIO()
    call_command("llm_status", stdout=out)
    assert "text" in out.getvalue()
    assert "server_refuses_tools" in out.getvalue()


def test_auto_switches_to_text_after_replies_that_never_call_a_tool(
    alice_client, alice, make_connection, llm_stub, settings
):
    settings.LLM_TEXT_PROTOCOL_AFTER = 2
    llm_stub.responder = shaped_responder("sql_block")
    _connect(alice_client, make_connection, alice, "sqlite")

    answers = [_ask(alice_client) for _ in range(3)]

    assert [a.status_code for a in answers] == [200, 200, 200]
    assert all(a.json()["result"]["row_count"] == 3 for a in answers)
    # Two asks offered tools and got SQL as text (run, then answered in text);
    # the third never offers them.
    offered = ["tools" in r for r in llm_stub.requests]
    assert offered == [True, False, True, False, False, False]
    assert Turn.objects.filter(protocol="text").count() == 3


def test_native_mode_never_runs_sql_written_as_text(
    alice_client, alice, make_connection, llm_stub, settings
):
    settings.LLM_TOOL_PROTOCOL = "native"
    llm_stub.responder = shaped_responder("sql_block")
    _connect(alice_client, make_connection, alice, "sqlite")

    response = _ask(alice_client)

    assert response.status_code == 200
    assert response.json()["queries"] == []
    assert all("tools" in r for r in llm_stub.requests)
    assert Turn.objects.get().protocol == "native"


def test_the_ask_response_and_the_thread_say_which_protocol_answered(
    alice_client, alice, make_connection, llm_stub, settings
):
    settings.LLM_TOOL_PROTOCOL = "text"
    llm_stub.responder = shaped_responder("sql_block")
    _connect(alice_client, make_connection, alice, "sqlite")

    response = _ask(alice_client)

    assert response.json()["llm"]["protocol"] == "text"


def test_an_unknown_protocol_setting_is_refused_saying_what_to_set(
    alice_client, alice, make_connection, llm_stub, settings
):
    settings.LLM_TOOL_PROTOCOL = "telepathy"
    _connect(alice_client, make_connection, alice, "sqlite")

    response = _ask(alice_client)

    assert response.status_code == 503
    assert "LLM_TOOL_PROTOCOL='telepathy'" in response.json()["detail"]


def test_auto_keeps_tools_for_a_model_that_writes_its_calls_as_text(
    alice_client, alice, make_connection, llm_stub, settings
):
    settings.LLM_TEXT_PROTOCOL_AFTER = 2
    llm_stub.responder = shaped_responder("hermes")
    _connect(alice_client, make_connection, alice, "sqlite")

    answers = [_ask(alice_client) for _ in range(3)]

    assert all(a.json()["result"]["row_count"] == 3 for a in answers)
    assert all("tools" in r for r in llm_stub.requests)
    assert protocol_memory.switches() == []


def test_a_switch_is_shown_by_llm_status_in_another_process_too(
    alice_client, alice, make_connection, llm_stub, monkeypatch
):
    from agent.llm import text_protocol

    llm_stub.responder = shaped_responder("refuses_tools")
    _connect(alice_client, make_connection, alice, "sqlite")
    assert _ask(alice_client).status_code == 200

    # `manage.py llm_status` runs in a process of its own, which switched nothing.
    monkeypatch.setattr(
        text_protocol, "protocol_memory", text_protocol.ProtocolMemory()
    )
    out = io.StringIO()
    call_command("llm_status", stdout=out)

    assert "gpt-4.1-mini: switched to text mode (server_refuses_tools" in out.getvalue()


@pytest.mark.parametrize("db_type", ENGINES)
def test_text_mode_masks_masked_columns_from_the_model(
    alice_client, alice, make_connection, llm_stub, settings, db_type
):
    settings.LLM_TOOL_PROTOCOL = "text"
    llm_stub.responder = scripted_responder(
        [
            _sql("SELECT name, email AS contact FROM customers ORDER BY id"),
            StubReply(content="See the table."),
        ]
    )
    _connect(alice_client, make_connection, alice, db_type, masked_columns=["*email*"])

    response = _ask(alice_client, "Every customer's contact")

    assert response.status_code == 200, response.json()
    assert EMAILS[0] in response.json()["result"]["rows"][0]
    sent = "\n".join(json.dumps(r, ensure_ascii=False) for r in llm_stub.requests)
    assert "@example.com" not in sent
    assert "⟪mask:" in sent
    assert "Ada Lovelace" in sent


def test_text_mode_shows_the_model_no_more_rows_than_its_bound(
    alice_client, alice, make_connection, llm_stub, settings
):
    settings.LLM_TOOL_PROTOCOL = "text"
    settings.LLM_RESULT_MAX_ROWS = 2
    llm_stub.responder = scripted_responder(
        [
            _sql("SELECT name FROM customers ORDER BY id"),
            StubReply(content="Six customers."),
        ]
    )
    _connect(alice_client, make_connection, alice, "sqlite")

    response = _ask(alice_client, "Every customer")

    assert response.json()["result"]["row_count"] == 6
    shown = llm_stub.requests[1]["messages"][-1]["content"]
    assert "Bruno Costa" in shown
    assert "Chen Wei" not in shown


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("db_type", ENGINES)
def test_a_streamed_text_mode_ask_on_schema_sends_no_value_to_the_model(
    alice_client, alice, make_connection, llm_stub, settings, db_type
):
    settings.LLM_TOOL_PROTOCOL = "text"
    llm_stub.responder = scripted_responder(
        [
            _sql("SELECT * FROM customers ORDER BY id"),
            StubReply(content="Six customers; see the table."),
        ]
    )
    _connect(
        alice_client,
        make_connection,
        alice,
        db_type,
        privacy="schema",
        masked_columns=["*email*"],
        masked_hidden=True,
    )

    response = alice_client.post(
        "/ask",
        {"question": "Show every customer"},
        format="json",
        HTTP_ACCEPT="text/event-stream",
    )
    streamed = b"".join(response.streaming_content).decode()

    assert "event: done" in streamed
    assert "Ada Lovelace" in streamed
    assert [e for e in EMAILS if e in streamed] == []
    sent = "\n".join(json.dumps(b, ensure_ascii=False) for b in llm_stub.requests)
    assert len(llm_stub.requests) == 2
    assert [v for v in (*NAMES, *EMAILS) if v in sent] == []
    assert Turn.objects.get().protocol == "text"
