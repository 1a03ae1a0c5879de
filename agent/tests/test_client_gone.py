"""A plain (non-streamed) ask whose HTTP client closed its connection stops at the
agent's next step instead of paying for LLM calls nobody will read."""

from __future__ import annotations

import json
import logging
import socket
import struct
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from agent.cancellation import ClientWatch, client_closed
from agent.exceptions import AskCancelled
from agent.models import Turn, TurnStatus
from agent.services import thread_ask
from testsupport.fixtures import PASSWORD, connection_fields
from testsupport.llm_stub import StubLLMServer, StubReply, keyword_responder
from testsupport.serving import (
    Client,
    Gunicorn,
    app_database_migrate,
    database_url_derived,
    serving_env,
)

GERMANY_SQL = (
    "SELECT id, name, country FROM customers WHERE country = 'Germany' ORDER BY id"
)


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    """The server's end of a connection, and the client's."""
    server, client = socket.socketpair()
    yield server, client
    server.close()
    client.close()


# --- looking at the socket -------------------------------------------------------


def test_a_client_that_closed_its_end_is_gone(pair):
    server, client = pair

    client.close()

    assert client_closed(server) is True


def test_a_client_waiting_for_its_answer_is_still_there(pair):
    server, _client = pair

    assert client_closed(server) is False


def test_a_waiting_client_is_told_apart_at_once_even_on_a_socket_with_a_timeout(
    pair,
):
    server, _client = pair
    server.settimeout(5)
    started = time.monotonic()

    assert client_closed(server) is False
    assert time.monotonic() - started < 0.5


def test_bytes_from_the_client_mean_it_is_still_there_and_are_left_unread(pair):
    server, client = pair
    client.sendall(b"GET /next HTTP/1.1\r\n")

    assert client_closed(server) is False
    assert server.recv(3) == b"GET"


def test_a_client_that_reset_the_connection_is_gone():
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname())
        server, _ = listener.accept()
        # Linger 0: close() sends a reset instead of an orderly end.
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        client.close()
        time.sleep(0.05)
        try:
            assert client_closed(server) is True
        finally:
            server.close()


def test_what_cannot_be_looked_at_counts_as_still_there_and_never_raises(pair):
    server, _client = pair
    server.close()

    assert client_closed(server) is False
    assert client_closed(object()) is False


def test_without_a_gunicorn_socket_the_client_is_never_gone():
    watch = ClientWatch({"wsgi.input": None})

    assert watch() is False
    assert watch() is False


def test_the_socket_is_looked_at_no_more_often_than_asked(pair):
    server, client = pair
    watch = ClientWatch({"gunicorn.socket": server}, every_s=60)
    assert watch() is False

    client.close()

    # Within the interval the last answer stands; a fresh watch looks.
    assert watch() is False
    assert ClientWatch({"gunicorn.socket": server}, every_s=60)() is True


def test_once_gone_the_client_stays_gone(pair):
    server, client = pair
    watch = ClientWatch({"gunicorn.socket": server}, every_s=0)
    client.close()
    assert watch() is True

    server.close()  # even once the socket is no use any more

    assert watch() is True


# --- the ask stops ------------------------------------------------------------


def test_an_ask_whose_client_goes_away_stops_before_its_next_step(
    db, alice, connected_session, llm_stub, caplog
):
    llm_stub.responder = _tool_call_then_answer()
    connected_session(alice, "sqlite")

    # Gone while the model was answering its first call.
    def client_gone() -> bool:
        return len(llm_stub.requests) >= 1

    with caplog.at_level(logging.INFO, logger="agent"), pytest.raises(AskCancelled):
        thread_ask(
            user=alice, question="Who lives in Germany?", client_gone=client_gone
        )

    turn = Turn.objects.get()
    assert turn.status == TurnStatus.CANCELLED
    assert turn.error_code == "cancelled"
    # The query the model asked for never ran, and it was never called again.
    assert turn.queries == []
    assert len(llm_stub.requests) == 1
    assert f"ask client went away turn={turn.pk}" in caplog.messages


def test_the_ask_api_stops_when_its_gunicorn_socket_says_the_client_left(
    db, alice, alice_client, connected_session, llm_stub, pair
):
    connected_session(alice, "sqlite")
    server, client = pair
    client.close()

    response = alice_client.post(
        "/ask",
        {"question": "Who lives in Germany?"},
        format="json",
        **{"gunicorn.socket": server},
    )

    assert response.status_code == 409
    assert response.json()["code"] == "cancelled"
    assert Turn.objects.get().status == TurnStatus.CANCELLED
    assert llm_stub.requests == []


def test_the_ask_api_answers_a_client_that_is_still_there(
    db, alice, alice_client, connected_session, llm_stub, pair
):
    connected_session(alice, "sqlite")
    server, _client = pair

    response = alice_client.post(
        "/ask",
        {"question": "Who lives in Germany?"},
        format="json",
        **{"gunicorn.socket": server},
    )

    assert response.status_code == 200, response.json()
    assert Turn.objects.get().status == TurnStatus.OK


def test_the_chat_page_form_stops_when_its_client_left(
    db, alice, alice_page, connected_session, llm_stub, pair
):
    connected_session(alice, "sqlite")
    server, client = pair
    client.close()

    alice_page.post(
        "/", {"question": "Who lives in Germany?"}, **{"gunicorn.socket": server}
    )

    assert Turn.objects.get().status == TurnStatus.CANCELLED
    assert llm_stub.requests == []


def _tool_call_then_answer() -> Any:
    def respond(body: dict[str, Any]) -> StubReply:
        if body["messages"][-1]["role"] == "tool":
            return StubReply(content="Ada, Chen and Fatima.")
        return StubReply(tool_calls=[("run_query", {"sql": GERMANY_SQL})])

    return respond


# --- under gunicorn, for real -------------------------------------------------


@pytest.mark.slow
def test_under_gunicorn_a_hung_up_ask_ends_cancelled_with_fewer_llm_calls(
    shop_databases, tmp_path
):
    with StubLLMServer(responder=keyword_responder(), delay_s=2.0) as stub:
        env = serving_env(
            database_url=database_url_derived("client_gone"),
            sqlite_dir=shop_databases["sqlite_dir"],
            llm_base_url=stub.base_url,
            # One slot: the next ask only runs if the stopped one gave it back.
            ASK_MAX_CONCURRENT="1",
            ASK_QUEUE_TIMEOUT_S="1",
            LOG_LEVEL="INFO",
        )
        app_database_migrate(env)
        with Gunicorn(env, workers=1, threads=4, log_dir=tmp_path) as server:
            api = Client(server.url)
            api.register_and_login(f"gone-{uuid.uuid4().hex[:8]}@example.com", PASSWORD)
            session_id = api.connect(connection_fields("sqlite"))

            # The model takes 2 s to ask for a query; the client hangs up at 0.5 s.
            _post_and_hang_up(server.port, api.token, after_s=0.5)
            turn = _last_turn_once_ended(api, session_id)
            interrupted_calls = len(stub.requests)

            stub.delay_s = 0
            answered = api.post("/ask", {"question": "Who lives in Germany?"})
            uninterrupted_calls = len(stub.requests) - interrupted_calls

            log = server.log_tail(lines=400)

    assert (turn["status"], turn["error_code"]) == ("cancelled", "cancelled")
    assert turn["queries"] == []
    assert answered.status_code == 200, answered.text
    # The call under way when the client left (none on a machine slow enough
    # to reach the agent after 0.5 s), never the one after the query.
    assert interrupted_calls <= 1
    assert interrupted_calls < uninterrupted_calls == 2
    # On a machine slow enough that the client left before the ask took its
    # slot, the ask never started: it says so instead.
    assert (
        f"ask client went away turn={turn['turn_id']}" in log
        or f"ask client went away while queued turn={turn['turn_id']}" in log
    )


def _post_and_hang_up(port: int, token: str, *, after_s: float) -> None:
    """Send a plain JSON POST /ask, then close the connection unanswered."""
    body = json.dumps({"question": "Who lives in Germany?"}).encode()
    head = (
        "POST /ask HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{port}\r\n"
        f"Authorization: Bearer {token}\r\n"
        "Content-Type: application/json\r\n"
        "Accept: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        "\r\n"
    )
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(head.encode() + body)
        time.sleep(after_s)


def _last_turn_once_ended(api: Client, session_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while True:
        response = api.get(f"/threads/{session_id}")
        turns = response.json().get("turns", []) if response.status_code == 200 else []
        if turns and turns[-1]["status"] != "running":
            return turns[-1]
        assert time.monotonic() < deadline, f"the turn is still running: {turns}"
        time.sleep(0.1)
