"""POST /ask with `Accept: text/event-stream`, and POST /ask/{turn_id}/cancel: the
real ChatOpenAI client streaming from the OpenAI-compatible stub server."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from django.core.cache import cache
from django.db import connection as app_db

from agent.cancellation import CANCEL_POLL_S, cancel_key
from agent.models import Turn, TurnStatus
from testsupport.llm_stub import StubReply, scripted_responder

# The agent finishes its turn in a worker thread: it must see committed rows.
pytestmark = pytest.mark.django_db(transaction=True)

GERMANY_SQL = (
    "SELECT id, name, country FROM customers WHERE country = 'Germany' ORDER BY id"
)


def _connect(client: Any, make_connection: Any, owner: Any, db_type: str) -> str:
    connection = make_connection(owner, db_type)
    response = client.post(f"/databases/connect_db/{connection.id}")
    assert response.status_code == 200
    return response.json()["session_id"]


def _ask_stream(client: Any, question: str) -> Any:
    return client.post(
        "/ask",
        {"question": question},
        format="json",
        HTTP_ACCEPT="text/event-stream",
    )


def _parse(lines: Iterator[bytes]) -> Iterator[tuple[str, Any]]:
    """Yield (event, data) from an SSE byte stream, skipping comments."""
    buffer = b""
    for chunk in lines:
        buffer += chunk
        while b"\n\n" in buffer:
            frame, buffer = buffer.split(b"\n\n", 1)
            name, data = "", ""
            for line in frame.decode().splitlines():
                if line.startswith("event: "):
                    name = line[len("event: ") :]
                elif line.startswith("data: "):
                    data = line[len("data: ") :]
            if name:
                yield name, json.loads(data)


def _events(response: Any) -> list[tuple[str, Any]]:
    return list(_parse(response.streaming_content))


def _wait_for_turn_end(turn_id: int, timeout_s: float = 10.0) -> Turn:
    deadline = time.monotonic() + timeout_s
    while True:
        turn = Turn.objects.get(pk=turn_id)
        if turn.status != TurnStatus.RUNNING or time.monotonic() > deadline:
            return turn
        time.sleep(0.05)


@pytest.mark.parametrize("db_type", ["postgresql", "mysql", "sqlite"])
def test_a_streamed_ask_sends_turn_step_query_rows_tokens_then_done(
    alice_client, alice, make_connection, llm_stub, db_type
):
    session_id = _connect(alice_client, make_connection, alice, db_type)

    response = _ask_stream(alice_client, "Which customers live in Germany?")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/event-stream")
    assert response["Cache-Control"] == "no-cache"
    assert response["X-Accel-Buffering"] == "no"
    events = _events(response)
    names = [name for name, _ in events]
    assert names[:4] == ["turn", "step", "query", "rows"]
    assert set(names[4:-1]) == {"token"}
    assert len(names[4:-1]) > 3  # the answer arrives word by word
    assert names[-1] == "done"
    turn = Turn.objects.get()
    assert events[0][1] == {"turn_id": turn.id, "thread_id": session_id}
    assert events[1][1] == {"tool": "run_query", "sql": GERMANY_SQL}
    query = events[2][1]
    assert (query["sql"], query["row_count"], query["truncated"], query["error"]) == (
        GERMANY_SQL,
        3,
        False,
        None,
    )
    assert events[3][1] == {
        "columns": ["id", "name", "country"],
        "rows": [
            [1, "Ada Lovelace", "Germany"],
            [3, "Chen Wei", "Germany"],
            [6, "Fatima Zahra", "Germany"],
        ],
        "row_count": 3,
        "truncated": False,
    }
    answer = "".join(data["text"] for name, data in events if name == "token")
    done = events[-1][1]
    assert answer == done["answer"] == turn.answer
    assert "Ada Lovelace" in answer
    assert done["turn_id"] == turn.id
    assert done["llm"]["calls"] == 2
    assert done["llm"]["prompt_tokens"] > 0
    assert turn.status == TurnStatus.OK
    # The model was asked to stream.
    assert all(body.get("stream") for body in llm_stub.requests)


def test_the_done_body_equals_the_json_answer_for_the_same_script(
    alice_client, alice, make_connection, llm_stub
):
    _connect(alice_client, make_connection, alice, "sqlite")
    question = "Which customers live in Germany?"

    streamed = _events(_ask_stream(alice_client, question))[-1][1]
    plain = alice_client.post("/ask", {"question": question}, format="json").json()

    def comparable(body: dict[str, Any]) -> dict[str, Any]:
        # What differs between two runs of one script: ids and timings; the
        # second prompt also replays the first turn as history.
        body = {**body, "turn_id": None, "duration_ms": None}
        body["queries"] = [{**q, "duration_ms": None} for q in body["queries"]]
        body["llm"] = {**body["llm"], "prompt_tokens": None}
        return body

    assert set(streamed) == set(plain)
    assert comparable(streamed) == comparable(plain)
    assert streamed["llm"]["completion_tokens"] == plain["llm"]["completion_tokens"]


def test_a_describe_step_names_its_tables_and_list_tables_is_told(
    alice_client, alice, make_connection, llm_stub
):
    llm_stub.responder = scripted_responder(
        [
            StubReply(tool_calls=[("list_tables", {})]),
            StubReply(tool_calls=[("describe_tables", {"table_names": ["orders"]})]),
            StubReply(content="Orders have a total."),
        ]
    )
    _connect(alice_client, make_connection, alice, "postgresql")

    events = _events(_ask_stream(alice_client, "What is in orders?"))

    steps = [data for name, data in events if name == "step"]
    assert steps == [
        {"tool": "list_tables"},
        {"tool": "describe_tables", "table_names": ["orders"]},
    ]
    assert events[-1][0] == "done"
    assert events[-1][1]["answer"] == "Orders have a total."


def test_a_refused_query_streams_its_reason_and_the_agent_goes_on(
    alice_client, alice, make_connection, llm_stub
):
    llm_stub.responder = scripted_responder(
        [
            StubReply(tool_calls=[("run_query", {"sql": "DELETE FROM customers"})]),
            StubReply(content="I can only read."),
        ]
    )
    _connect(alice_client, make_connection, alice, "mysql")

    events = _events(_ask_stream(alice_client, "Delete every customer"))

    names = [name for name, _ in events]
    assert "rows" not in names
    query = next(data for name, data in events if name == "query")
    assert query["sql"] == "DELETE FROM customers"
    assert query["error"].startswith("Refused:")
    assert names[-1] == "done"
    assert events[-1][1]["queries"][0]["error"] == query["error"]


@pytest.mark.parametrize("db_type", ["postgresql", "mysql", "sqlite"])
def test_an_llm_failure_mid_stream_sends_an_error_event_and_stores_a_failed_turn(
    alice_client, alice, make_connection, llm_stub, db_type
):
    llm_stub.responder = scripted_responder(
        [
            StubReply(tool_calls=[("run_query", {"sql": GERMANY_SQL})]),
            StubReply(status=500, error="model crashed"),
            StubReply(status=500, error="model crashed"),
        ]
    )
    _connect(alice_client, make_connection, alice, db_type)

    events = _events(_ask_stream(alice_client, "Who lives in Germany?"))

    names = [name for name, _ in events]
    assert names[:4] == ["turn", "step", "query", "rows"]
    assert names[-1] == "error"
    assert events[-1][1] == {
        "detail": "The language model answered with an error (HTTP 500).",
        "code": "llm_unavailable",
    }
    turn = Turn.objects.get()
    assert turn.status == TurnStatus.ERROR
    assert turn.error_code == "llm_unavailable"
    assert [q["sql"] for q in turn.queries] == [GERMANY_SQL]


def test_a_slowly_streaming_reply_stops_at_the_ask_budget(
    alice_client, alice, make_connection, llm_stub, settings
):
    """Chunks arriving faster than the read timeout never trip it; the budget does."""
    settings.LLM_ASK_BUDGET_S = 1.0
    settings.LLM_TIMEOUT_S = 30
    llm_stub.chunk_delay_s = 0.2
    llm_stub.responder = scripted_responder(
        [StubReply(content=" ".join(["word"] * 40))]
    )
    _connect(alice_client, make_connection, alice, "sqlite")

    events = _events(_ask_stream(alice_client, "Say many words"))

    assert events[-1][0] == "error"
    assert events[-1][1]["code"] == "llm_timeout"
    assert [name for name, _ in events].count("token") < 40
    turn = _wait_for_turn_end(events[0][1]["turn_id"])
    assert turn.status == TurnStatus.ERROR
    assert turn.error_code == "llm_timeout"


def test_errors_before_the_stream_starts_are_plain_json_with_their_status(
    alice_client, alice, make_connection, llm_stub
):
    no_database = _ask_stream(alice_client, "Anything?")
    assert no_database.status_code == 409
    assert no_database["Content-Type"] == "application/json"
    assert no_database.json()["code"] == "no_database_connected"

    _connect(alice_client, make_connection, alice, "sqlite")
    blank = _ask_stream(alice_client, "   ")
    assert blank.status_code == 400
    assert blank["Content-Type"] == "application/json"
    assert "question" in blank.json()
    assert not Turn.objects.exists()


def test_an_anonymous_streamed_ask_is_401_json(anon_client):
    response = _ask_stream(anon_client, "Anything?")

    assert response.status_code == 401
    assert response["Content-Type"] == "application/json"


def test_a_client_that_disconnects_leaves_a_cancelled_turn_and_no_more_llm_calls(
    alice_client, alice, make_connection, llm_stub
):
    llm_stub.responder = scripted_responder(
        [
            StubReply(tool_calls=[("list_tables", {})]),
            StubReply(tool_calls=[("run_query", {"sql": GERMANY_SQL})]),
            StubReply(content="Never read."),
        ]
    )
    llm_stub.delay_s = 0.5
    _connect(alice_client, make_connection, alice, "sqlite")
    response = _ask_stream(alice_client, "Who lives in Germany?")
    events = _parse(response.streaming_content)

    assert next(events)[0] == "turn"
    assert next(events) == ("step", {"tool": "list_tables"})
    response.close()  # what the WSGI server does when the client has gone

    turn = _wait_for_turn_end(Turn.objects.get().id)
    assert turn.status == TurnStatus.CANCELLED
    assert turn.error_code == "cancelled"
    time.sleep(0.6)
    # The run stopped at its next step: the query it would have run never ran.
    assert turn.queries == []
    assert len(llm_stub.requests) <= 2
    assert not any(t.name.startswith("ask-") for t in threading.enumerate())


def test_the_owner_cancels_a_running_ask_and_the_turn_is_stored_cancelled(
    alice_client, alice, make_connection, llm_stub
):
    llm_stub.responder = scripted_responder(
        [
            StubReply(tool_calls=[("run_query", {"sql": GERMANY_SQL})]),
            StubReply(content="Never read."),
        ]
    )
    llm_stub.delay_s = 0.5
    _connect(alice_client, make_connection, alice, "postgresql")
    response = _ask_stream(alice_client, "Who lives in Germany?")
    events = _parse(response.streaming_content)
    turn_id = next(events)[1]["turn_id"]

    cancel = alice_client.post(f"/ask/{turn_id}/cancel")

    assert cancel.status_code == 202
    assert cancel.json() == {
        "turn_id": turn_id,
        "status": "running",
        "cancel_requested": True,
    }
    rest = list(events)
    assert rest[-1] == (
        "error",
        {
            "detail": "The question was cancelled before it was answered.",
            "code": "cancelled",
        },
    )
    turn = Turn.objects.get(pk=turn_id)
    assert turn.status == TurnStatus.CANCELLED
    assert turn.error_code == "cancelled"
    assert cache.get(cancel_key(turn_id)) == 1
    again = alice_client.post(f"/ask/{turn_id}/cancel")
    assert again.status_code == 202
    assert again.json()["status"] == "cancelled"
    assert again.json()["cancel_requested"] is False


def test_a_cancel_flag_set_by_another_process_stops_a_plain_json_ask(
    alice_client, alice, make_connection, llm_stub
):
    # Another worker process can only reach this run through the shared cache.
    def respond(body: dict[str, Any]) -> StubReply:
        try:
            cache.set(cancel_key(Turn.objects.get().id), 1)
        finally:
            app_db.close()  # the stub's thread, not the app's
        return StubReply(tool_calls=[("run_query", {"sql": GERMANY_SQL})])

    llm_stub.responder = respond
    llm_stub.delay_s = CANCEL_POLL_S + 0.1
    _connect(alice_client, make_connection, alice, "sqlite")

    response = alice_client.post("/ask", {"question": "Germany?"}, format="json")

    assert response.status_code == 409
    assert response.json()["code"] == "cancelled"
    turn = Turn.objects.get()
    assert turn.status == TurnStatus.CANCELLED
    assert turn.queries == []


def test_bob_gets_404_cancelling_alices_turn(
    alice_client, bob_client, alice, make_connection, llm_stub
):
    _connect(alice_client, make_connection, alice, "sqlite")
    turn_id = alice_client.post("/ask", {"question": "Germany?"}, format="json").json()[
        "turn_id"
    ]

    assert bob_client.post(f"/ask/{turn_id}/cancel").status_code == 404
    assert bob_client.post("/ask/999999/cancel").status_code == 404
    assert cache.get(cancel_key(turn_id)) is None


def test_an_anonymous_cancel_is_401(anon_client):
    assert anon_client.post("/ask/1/cancel").status_code == 401


def test_the_schema_documents_the_event_stream_and_the_cancel_endpoint(client):
    schema = yaml.safe_load(client.get("/api/schema/").content)

    ask = schema["paths"]["/ask"]["post"]
    assert set(ask["responses"]["200"]["content"]) == {
        "application/json",
        "text/event-stream",
    }
    for event in ("turn", "step", "query", "rows", "token", "done", "error"):
        assert f"`{event}`" in ask["description"]
    cancel = schema["paths"]["/ask/{turn_id}/cancel"]["post"]
    assert set(cancel["responses"]) == {"202", "401", "404"}


def test_a_client_gone_right_after_the_turn_event_leaves_no_running_turn(
    alice_client, alice, make_connection, llm_stub
):
    _connect(alice_client, make_connection, alice, "sqlite")
    response = _ask_stream(alice_client, "Who lives in Germany?")
    events = _parse(response.streaming_content)
    assert next(events)[0] == "turn"

    response.close()

    turn = Turn.objects.get()
    assert turn.status == TurnStatus.CANCELLED
    assert llm_stub.requests == []


def test_a_stream_closed_before_its_first_event_leaves_a_cancelled_turn(
    alice_client, alice, make_connection, llm_stub
):
    _connect(alice_client, make_connection, alice, "sqlite")
    response = _ask_stream(alice_client, "Who lives in Germany?")

    response.close()

    turn = Turn.objects.get()
    assert turn.status == TurnStatus.CANCELLED
    assert turn.error_code == "cancelled"
    assert llm_stub.requests == []


SLOW_SQL = {
    "postgresql": "SELECT count(*) AS n FROM generate_series(1, 300000000) AS g",
    "sqlite": (
        "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c "
        "WHERE i < 300000000) SELECT count(*) AS n FROM c"
    ),
}


@pytest.mark.parametrize("db_type", ["postgresql", "sqlite"])
def test_stop_cancels_a_running_query_on_the_database(
    alice_client, alice, make_connection, llm_stub, settings, db_type
):
    settings.QUERY_TIMEOUT_S = 60
    llm_stub.responder = scripted_responder(
        [
            StubReply(tool_calls=[("run_query", {"sql": SLOW_SQL[db_type]})]),
            StubReply(content="Never read."),
        ]
    )
    _connect(alice_client, make_connection, alice, db_type)
    response = _ask_stream(alice_client, "Count to a very large number")
    events = _parse(response.streaming_content)
    turn_id = next(events)[1]["turn_id"]
    assert next(events)[0] == "step"
    time.sleep(0.5)  # the query is running now

    stopped = time.monotonic()
    assert alice_client.post(f"/ask/{turn_id}/cancel").status_code == 202
    rest = list(events)

    # The query ended well before its 60 s limit: the database was told to stop.
    assert time.monotonic() - stopped < 5
    query = next(data for name, data in rest if name == "query")
    assert query["error"]
    assert rest[-1][1]["code"] == "cancelled"
    turn = Turn.objects.get(pk=turn_id)
    assert turn.status == TurnStatus.CANCELLED
    assert turn.queries[0]["error"] == query["error"]
    assert len(llm_stub.requests) == 1


def test_a_keep_alive_comment_goes_out_while_the_model_thinks(
    alice_client, alice, make_connection, llm_stub, settings
):
    settings.ASK_STREAM_HEARTBEAT_S = 0.1
    llm_stub.delay_s = 0.5
    _connect(alice_client, make_connection, alice, "sqlite")

    raw = b"".join(_ask_stream(alice_client, "Germany?").streaming_content)

    assert raw.startswith(b"event: turn\n")
    assert b"\n\n: keep-alive\n\n" in raw
    assert b"event: done\n" in raw


def test_masked_hidden_values_reach_the_stream_only_as_tokens(
    alice_client, alice, make_connection, llm_stub
):
    llm_stub.responder = scripted_responder(
        [
            StubReply(
                tool_calls=[("run_query", {"sql": "SELECT name, email FROM customers"})]
            ),
            StubReply(content="Here they are."),
        ]
    )
    connection = make_connection(
        alice, "postgresql", masked_columns=["customers.email"], masked_hidden=True
    )
    response = alice_client.post(f"/databases/connect_db/{connection.id}")
    assert response.status_code == 200

    raw = b"".join(_ask_stream(alice_client, "Names and emails?").streaming_content)

    events = list(_parse(iter([raw])))
    rows = next(data for name, data in events if name == "rows")["rows"]
    assert rows[0][1].startswith("⟪mask:")
    assert b"@" not in raw  # no e-mail address anywhere in the stream
