"""POST /ask and the thread API end to end: the real ChatOpenAI client over HTTP
against an OpenAI-compatible stub server on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import threading
import uuid

import pytest
from django.db import connection as app_db
from rest_framework import serializers

from agent.models import Turn, TurnStatus
from agent.serializers import AskOutputSerializer
from connections.models import DatabaseConnection
from testsupport.fixtures import LLM_STUB_API_KEY
from testsupport.llm_stub import (
    StubReply,
    keyword_responder,
    scripted_responder,
)

pytestmark = pytest.mark.django_db

API_KEY = LLM_STUB_API_KEY


def _connect(client, make_connection, owner, db_type):
    connection = make_connection(owner, db_type)
    response = client.post(f"/databases/connect_db/{connection.id}")
    assert response.status_code == 200
    return response.json()["session_id"]


@pytest.mark.parametrize("db_type", ["postgresql", "mysql", "sqlite"])
def test_ask_answers_with_the_sql_and_the_rows(
    alice_client, alice, make_connection, llm_stub, db_type
):
    session_id = _connect(alice_client, make_connection, alice, db_type)

    response = alice_client.post(
        "/ask", {"question": "Which customers live in Germany?"}, format="json"
    )

    assert response.status_code == 200
    body = response.json()
    assert body["session_id"] == body["thread_id"] == session_id
    assert body["question"] == "Which customers live in Germany?"
    assert "Ada Lovelace" in body["answer"]
    assert body["queries"] == [
        {
            "sql": "SELECT id, name, country FROM customers WHERE country = 'Germany' "
            "ORDER BY id",
            "row_count": 3,
            "truncated": False,
            "duration_ms": body["queries"][0]["duration_ms"],
            "error": None,
        }
    ]
    assert body["result"] == {
        "columns": ["id", "name", "country"],
        "rows": [
            [1, "Ada Lovelace", "Germany"],
            [3, "Chen Wei", "Germany"],
            [6, "Fatima Zahra", "Germany"],
        ],
        "row_count": 3,
        "truncated": False,
    }
    assert body["llm"]["model"] == "stub-model"
    assert body["llm"]["calls"] == 2
    assert body["llm"]["prompt_tokens"] > 0
    assert body["turn_id"] == Turn.objects.get().id
    # The real client sent the tools with exactly these names.
    tools = {t["function"]["name"] for t in llm_stub.requests[0]["tools"]}
    assert tools == {
        "list_tables",
        "describe_tables",
        "run_query",
        "find_values",
        "choose_chart",
    }
    assert llm_stub.requests[0]["messages"][0]["role"] == "system"


def test_decimals_and_dates_come_back_as_predictable_json(
    alice_client, alice, make_connection, llm_stub
):
    _connect(alice_client, make_connection, alice, "postgresql")
    llm_stub.responder = keyword_responder(
        rules=[("orders", "SELECT total, created FROM orders WHERE id = 1")]
    )

    body = alice_client.post("/ask", {"question": "first orders"}, format="json").json()

    assert body["result"]["rows"] == [["120.50", "2026-01-05"]]


def test_a_follow_up_sends_the_earlier_question_sql_and_answer_over_http(
    alice_client, alice, make_connection, llm_stub
):
    _connect(alice_client, make_connection, alice, "sqlite")
    alice_client.post("/ask", {"question": "list customers in Europe"}, format="json")

    response = alice_client.post(
        "/ask", {"question": "and how many of those are in Germany?"}, format="json"
    )

    assert response.status_code == 200
    messages = llm_stub.requests[-2]["messages"]
    contents = [str(m.get("content")) for m in messages]
    assert "list customers in Europe" in contents
    assert any(
        "SELECT id, name, country FROM customers" in c and "Answer:" in c
        for c in contents
    )
    assert contents[-1] == "and how many of those are in Germany?"


def test_thread_id_in_the_body_is_ignored(
    alice_client, alice, make_connection, llm_stub
):
    session_id = _connect(alice_client, make_connection, alice, "sqlite")
    response = alice_client.post(
        "/ask",
        {"question": "customers?", "thread_id": "00000000-0000-0000-0000-000000000000"},
        format="json",
    )
    assert response.json()["thread_id"] == session_id


def test_ask_without_a_connected_database_is_409(alice_client, llm_stub):
    response = alice_client.post("/ask", {"question": "Anything?"}, format="json")
    assert response.status_code == 409
    assert response.json()["detail"] == (
        "No database connected for this session. Please connect a database first."
    )


def test_ask_without_an_llm_configured_is_503_saying_what_to_set(
    alice_client, alice, make_connection, settings
):
    settings.OPENAI_API_KEY = ""
    settings.OPENAI_BASE_URL = ""
    _connect(alice_client, make_connection, alice, "sqlite")

    response = alice_client.post("/ask", {"question": "Anything?"}, format="json")

    assert response.status_code == 503
    assert "OPENAI_API_KEY" in response.json()["detail"]
    assert "OPENAI_BASE_URL" in response.json()["detail"]
    assert alice_client.get("/databases/session-status").status_code == 200


@pytest.mark.parametrize(
    "body", [{}, {"question": ""}, {"question": "   "}, {"question": "x" * 5000}]
)
def test_empty_or_overlong_questions_are_400(alice_client, body, llm_stub):
    response = alice_client.post("/ask", body, format="json")
    assert response.status_code == 400
    assert "question" in response.json()


def test_ask_anonymous_is_401(anon_client):
    assert anon_client.post("/ask", {"question": "x"}, format="json").status_code == 401


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_unreachable_llm_is_502_and_the_turn_is_stored_with_its_error(
    alice_client, alice, make_connection, settings
):
    settings.OPENAI_BASE_URL = f"http://127.0.0.1:{_closed_port()}/v1"
    settings.OPENAI_API_KEY = API_KEY
    settings.LLM_MAX_RETRIES = 0
    _connect(alice_client, make_connection, alice, "sqlite")

    response = alice_client.post("/ask", {"question": "customers?"}, format="json")

    assert response.status_code == 502
    assert "could not be reached" in response.json()["detail"]
    assert API_KEY not in response.content.decode()
    turn = Turn.objects.get()
    assert turn.status == TurnStatus.ERROR
    assert turn.error_code == "llm_unavailable"


def test_an_unexpected_failure_is_500_with_a_stable_code_and_the_turn_stored(
    alice_client, alice, make_connection, llm_stub, monkeypatch
):
    from agent import llm

    _connect(alice_client, make_connection, alice, "sqlite")

    def broken(**kwargs):
        raise RuntimeError("a bug in a library")

    monkeypatch.setattr(llm, "agent_answer", broken)

    response = alice_client.post("/ask", {"question": "customers?"}, format="json")

    assert response.status_code == 500
    assert response.json()["code"] == "ask_failed"
    assert "a bug in a library" not in response.content.decode()
    turn = Turn.objects.get()
    assert turn.status == TurnStatus.ERROR
    assert turn.error_code == "ask_failed"


def test_an_unreachable_llm_is_logged_at_warning_with_its_reason(
    alice_client, alice, make_connection, settings, caplog
):
    settings.OPENAI_BASE_URL = f"http://127.0.0.1:{_closed_port()}/v1"
    settings.OPENAI_API_KEY = API_KEY
    settings.LLM_MAX_RETRIES = 0
    _connect(alice_client, make_connection, alice, "sqlite")

    response = alice_client.post("/ask", {"question": "customers?"}, format="json")

    assert "OPENAI_BASE_URL" not in response.json()["detail"]
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any("reason=unreachable" in m and "OPENAI_BASE_URL" in m for m in warnings)
    assert all(API_KEY not in m for m in warnings)


def test_an_llm_failing_after_its_retries_is_502(
    alice_client, alice, make_connection, llm_stub
):
    _connect(alice_client, make_connection, alice, "sqlite")
    llm_stub.fail_next(5, status=500)

    response = alice_client.post("/ask", {"question": "customers?"}, format="json")

    assert response.status_code == 502
    assert "HTTP 500" in response.json()["detail"]
    assert Turn.objects.get().status == TurnStatus.ERROR


def test_an_llm_answering_429_then_recovering_is_retried_and_stored_once(
    alice_client, alice, make_connection, llm_stub
):
    _connect(alice_client, make_connection, alice, "sqlite")
    llm_stub.fail_next(1, status=429)

    response = alice_client.post("/ask", {"question": "customers?"}, format="json")

    assert response.status_code == 200
    assert Turn.objects.count() == 1
    assert Turn.objects.get().status == TurnStatus.OK


def test_a_slow_llm_times_out_with_504(
    alice_client, alice, make_connection, llm_stub, settings
):
    settings.LLM_TIMEOUT_S = 0.5
    settings.LLM_MAX_RETRIES = 0
    llm_stub.delay_s = 2
    _connect(alice_client, make_connection, alice, "sqlite")

    response = alice_client.post("/ask", {"question": "customers?"}, format="json")

    assert response.status_code == 504
    assert Turn.objects.get().error_code == "llm_timeout"


def test_a_target_database_gone_down_is_502(
    alice_client, alice, make_connection, llm_stub
):
    _connect(alice_client, make_connection, alice, "postgresql")
    # As if the server moved away: the cached engine is rebuilt and cannot connect.
    DatabaseConnection.objects.update(port=_closed_port())

    response = alice_client.post("/ask", {"question": "customers?"}, format="json")

    assert response.status_code == 502
    assert response.json()["code"] == "database_unavailable"
    assert Turn.objects.get().status == TurnStatus.ERROR


def test_threads_list_newest_first_and_show_their_turns(
    alice_client, alice, make_connection, llm_stub
):
    first = _connect(alice_client, make_connection, alice, "sqlite")
    alice_client.post("/ask", {"question": "customers?"}, format="json")
    alice_client.post("/databases/disconnect-session")
    second = _connect(alice_client, make_connection, alice, "sqlite")
    alice_client.post("/ask", {"question": "orders?"}, format="json")

    threads = alice_client.get("/threads").json()
    assert [t["thread_id"] for t in threads] == [second, first]
    assert threads[1]["title"] == "customers?"

    detail = alice_client.get(f"/threads/{first}")
    assert detail.status_code == 200
    turns = detail.json()["turns"]
    assert [t["question"] for t in turns] == ["customers?"]
    assert turns[0]["status"] == "ok"
    assert turns[0]["queries"][0]["sql"].startswith("SELECT")


def test_bob_gets_404_for_alices_thread(
    alice_client, bob_client, alice, make_connection, llm_stub
):
    session_id = _connect(alice_client, make_connection, alice, "sqlite")
    alice_client.post("/ask", {"question": "customers?"}, format="json")

    assert bob_client.get(f"/threads/{session_id}").status_code == 404
    assert bob_client.get("/threads/not-a-uuid").status_code == 404
    assert bob_client.get("/threads").json() == []


@pytest.mark.django_db(transaction=True)
def test_two_users_asking_at_once_see_only_their_own_database(
    alice, bob, alice_client, bob_client, make_connection, llm_stub
):
    llm_stub.responder = keyword_responder(
        rules=[("marker", "SELECT engine FROM db_marker")]
    )
    _connect(alice_client, make_connection, alice, "postgresql")
    _connect(bob_client, make_connection, bob, "mysql")
    answers: dict[str, list] = {"alice": [], "bob": []}

    def ask(name, client):
        try:
            for _ in range(3):
                body = client.post(
                    "/ask", {"question": "marker?"}, format="json"
                ).json()
                answers[name].append(body["result"]["rows"])
        finally:
            app_db.close()

    threads = [
        threading.Thread(target=ask, args=("alice", alice_client)),
        threading.Thread(target=ask, args=("bob", bob_client)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert answers["alice"] == [[["postgresql"]]] * 3
    assert answers["bob"] == [[["mysql"]]] * 3
    alice_history = alice_client.get("/threads").json()
    bob_history = bob_client.get("/threads").json()
    assert {t["thread_id"] for t in alice_history}.isdisjoint(
        {t["thread_id"] for t in bob_history}
    )


def test_a_scripted_final_answer_without_queries_has_no_result(
    alice_client, alice, make_connection, llm_stub
):
    _connect(alice_client, make_connection, alice, "sqlite")
    llm_stub.responder = scripted_responder(
        [StubReply(content="Hello! Ask me about your data.")]
    )

    body = alice_client.post("/ask", {"question": "hi"}, format="json").json()

    assert body["answer"] == "Hello! Ask me about your data."
    assert body["queries"] == []
    assert body["result"] is None
    assert body["llm"]["calls"] == 1


@pytest.mark.parametrize(
    "outcome",
    [
        {
            "status": TurnStatus.OK,
            "queries": [
                {
                    "sql": "SELECT name, total, paid FROM orders",
                    "row_count": 3,
                    "truncated": True,
                    "duration_ms": 1.5,
                    "error": None,
                },
            ],
            "result": {
                "columns": ["name", "total", "paid"],
                "rows": [["Ada", "120.50", True], ("Chen", None, False), [None, 1, 0]],
                "row_count": 3,
                "truncated": True,
            },
        },
        {
            "status": TurnStatus.ERROR,
            "queries": [
                {
                    "sql": "DROP TABLE orders",
                    "row_count": 0,
                    "truncated": False,
                    "duration_ms": 0.0,
                    "error": "Refused: not a SELECT.",
                },
            ],
            "result": None,
            "duration_ms": None,
        },
    ],
)
def test_the_ask_body_is_what_its_schema_serializers_fields_produce(outcome):
    turn = Turn(
        id=7,
        thread_id=uuid.uuid4(),
        question="Which orders are paid?",
        answer="Two of them.",
        model="stub-model",
        llm_calls=2,
        prompt_tokens=2763,
        completion_tokens=31,
        **{"duration_ms": 12.25, **outcome},
    )
    serializer = AskOutputSerializer(turn)

    generic = serializers.Serializer.to_representation(serializer, turn)

    assert serializer.data == generic
    assert json.dumps(serializer.data) == json.dumps(generic)
