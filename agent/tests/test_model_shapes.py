"""The shapes local model servers really send (tool calls as text, no tool
calling, tools refused, thoughts) answer with the rows of the intended query and
an answer free of thoughts, streamed and not, on all three engines: the real
ChatOpenAI client against the OpenAI-compatible stub on 127.0.0.1."""

from __future__ import annotations

import json
from typing import Any

import pytest

from agent.llm.text_protocol import protocol_memory
from agent.models import Turn, TurnStatus
from testsupport.llm_shapes import SHAPES, THOUGHT, shaped_responder
from testsupport.llm_stub import StubReply, scripted_responder
from testsupport.mcp import mcp_tool_call

# The streamed ask finishes its turn in a worker thread: it must see committed rows.
pytestmark = pytest.mark.django_db(transaction=True)

GERMANY_SQL = (
    "SELECT id, name, country FROM customers WHERE country = 'Germany' ORDER BY id"
)
GERMANY_ROWS = [
    [1, "Ada Lovelace", "Germany"],
    [3, "Chen Wei", "Germany"],
    [6, "Fatima Zahra", "Germany"],
]
MARKUP = ("<think>", "</think>", "<tool_call>", "[TOOL_CALLS]", "<|python_tag|>")


@pytest.fixture(autouse=True)
def _protocols_forgotten():
    protocol_memory.forget()
    yield
    protocol_memory.forget()


def _connect(client: Any, make_connection: Any, owner: Any, db_type: str) -> None:
    connection = make_connection(owner, db_type)
    assert client.post(f"/databases/connect_db/{connection.id}").status_code == 200


def _sse(response: Any) -> list[tuple[str, Any]]:
    events = []
    raw = b"".join(response.streaming_content).decode()
    for frame in raw.split("\n\n"):
        name = data = ""
        for line in frame.splitlines():
            if line.startswith("event: "):
                name = line[len("event: ") :]
            elif line.startswith("data: "):
                data = line[len("data: ") :]
        if name:
            events.append((name, json.loads(data)))
    return events


def _free_of_thoughts_and_calls(text: str) -> None:
    assert THOUGHT not in text
    assert "PRIVATE-THOUGHT" not in text
    for mark in MARKUP:
        assert mark not in text
    assert '"arguments"' not in text


@pytest.mark.parametrize("db_type", ["postgresql", "mysql", "sqlite"])
@pytest.mark.parametrize("shape", SHAPES)
def test_each_server_shape_answers_with_the_rows_of_the_intended_query(
    alice_client, alice, make_connection, llm_stub, db_type, shape
):
    llm_stub.responder = shaped_responder(shape)
    _connect(alice_client, make_connection, alice, db_type)

    response = alice_client.post(
        "/ask", {"question": "Which customers live in Germany?"}, format="json"
    )

    assert response.status_code == 200, response.json()
    body = response.json()
    assert [q["sql"] for q in body["queries"]] == [GERMANY_SQL]
    assert body["queries"][0]["error"] is None
    assert body["result"]["rows"] == GERMANY_ROWS
    assert "Ada Lovelace" in body["answer"]
    _free_of_thoughts_and_calls(body["answer"])
    turn = Turn.objects.get()
    assert turn.status == TurnStatus.OK
    assert turn.grounded is True
    assert turn.answer == body["answer"]
    expected = "text" if shape in ("sql_block", "refuses_tools") else "native"
    assert turn.protocol == expected
    if shape in ("think", "reasoning_field"):
        assert THOUGHT in turn.reasoning
        assert turn.reasoning_tokens > 0
    else:
        assert turn.reasoning == ""


@pytest.mark.parametrize("db_type", ["postgresql", "mysql", "sqlite"])
@pytest.mark.parametrize("shape", SHAPES)
def test_each_server_shape_streams_the_rows_and_an_answer_free_of_thoughts(
    alice_client, alice, make_connection, llm_stub, db_type, shape
):
    llm_stub.responder = shaped_responder(shape)
    _connect(alice_client, make_connection, alice, db_type)

    response = alice_client.post(
        "/ask",
        {"question": "Which customers live in Germany?"},
        format="json",
        HTTP_ACCEPT="text/event-stream",
    )

    assert response.status_code == 200
    events = _sse(response)
    names = [name for name, _ in events]
    assert names[-1] == "done", events[-1]
    assert [d["sql"] for n, d in events if n == "query"] == [GERMANY_SQL]
    rows = [d for n, d in events if n == "rows"]
    assert rows[0]["rows"] == GERMANY_ROWS
    tokens = "".join(d["text"] for n, d in events if n == "token")
    done = events[-1][1]
    _free_of_thoughts_and_calls(tokens)
    _free_of_thoughts_and_calls(done["answer"])
    assert "Ada Lovelace" in done["answer"]
    # The words streamed are the answer's (the SQL-only first reply is held back).
    assert tokens.strip().endswith(done["answer"].strip())
    turn = Turn.objects.get()
    assert turn.answer == done["answer"]
    assert turn.status == TurnStatus.OK


def test_a_written_call_that_cannot_be_read_with_certainty_runs_nothing(
    alice_client, alice, make_connection, llm_stub
):
    broken = (
        '<tool_call>{"name": "run_query", "arguments": {"sql": "SELECT 1"</tool_call>'
    )
    llm_stub.responder = scripted_responder(
        [StubReply(content=broken), StubReply(content="I could not query.")]
    )
    _connect(alice_client, make_connection, alice, "sqlite")

    response = alice_client.post(
        "/ask", {"question": "Which customers live in Germany?"}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["queries"] == []
    assert Turn.objects.get().grounded is False


def test_a_written_call_is_validated_exactly_as_a_native_one(
    alice_client, alice, make_connection, llm_stub
):
    wrong = {"name": "run_query", "arguments": {"query": "SELECT 1"}}
    llm_stub.responder = scripted_responder(
        [
            StubReply(tool_calls=[("run_query", {"query": "SELECT 1"})]),
            StubReply(content="Native done."),
            StubReply(content=f"<tool_call>{json.dumps(wrong)}</tool_call>"),
            StubReply(content="Text done."),
        ]
    )
    _connect(alice_client, make_connection, alice, "sqlite")

    native = alice_client.post("/ask", {"question": "Germany?"}, format="json")
    written = alice_client.post("/ask", {"question": "Germany again?"}, format="json")

    assert native.status_code == written.status_code == 200
    assert native.json()["queries"] == written.json()["queries"] == []
    told = [
        [m["content"] for m in r["messages"] if m["role"] == "tool"]
        for r in (llm_stub.requests[1], llm_stub.requests[3])
    ]
    assert "sql" in told[0][-1]
    assert "required" in told[0][-1].lower()
    assert told[1][-1] == told[0][-1]


def test_a_reply_of_only_thoughts_is_no_answer_and_is_asked_again(
    alice_client, alice, make_connection, llm_stub
):
    llm_stub.responder = scripted_responder(
        [
            StubReply(tool_calls=[("run_query", {"sql": GERMANY_SQL})]),
            StubReply(content=f"<think>{THOUGHT}</think>"),
            StubReply(content="Three customers live in Germany."),
        ]
    )
    _connect(alice_client, make_connection, alice, "sqlite")

    response = alice_client.post("/ask", {"question": "Germany?"}, format="json")

    assert response.status_code == 200
    assert response.json()["answer"] == "Three customers live in Germany."
    assert "gave no answer" in llm_stub.requests[2]["messages"][-1]["content"]
    turn = Turn.objects.get()
    assert THOUGHT in turn.reasoning
    assert turn.reasoning_tokens > 0


def test_mcp_gets_the_answer_without_the_thoughts(alice, connected_session, llm_stub):
    from accounts.services import token_create

    llm_stub.responder = shaped_responder("think")
    connected_session(alice, "sqlite")
    token = token_create(owner=alice, name="claude", scope="ask").value

    result = mcp_tool_call(token, "ask", {"question": "Which customers in Germany?"})

    assert result["isError"] is False, result
    _free_of_thoughts_and_calls(json.dumps(result))
    assert "Ada Lovelace" in result["structuredContent"]["answer"]


def test_the_admin_reads_the_thoughts_and_the_protocol(
    alice_client, alice, make_connection, llm_stub, admin_client
):
    llm_stub.responder = shaped_responder("think")
    _connect(alice_client, make_connection, alice, "sqlite")
    alice_client.post("/ask", {"question": "Germany?"}, format="json")
    turn = Turn.objects.get()

    page = admin_client.get(f"/admin/agent/turn/{turn.pk}/change/")

    assert page.status_code == 200
    assert THOUGHT in page.content.decode()
    assert "native" in page.content.decode()
