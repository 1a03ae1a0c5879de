"""An ask queued for an ask slot whose client went away never starts: it leaves the
queue as soon as the client is gone, or at the latest when its slot comes free."""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from agent.cancellation import CLIENT_CHECK_S
from agent.models import Turn, TurnStatus
from sqlagent_project import capacity
from testsupport.fixtures import PASSWORD, connection_fields
from testsupport.llm_stub import StubLLMServer, keyword_responder
from testsupport.serving import (
    Client,
    Gunicorn,
    app_database_migrate,
    database_url_derived,
    serving_env,
)

QUESTION = {"question": "Who lives in Germany?"}


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    """The server's end of a connection (what gunicorn hands over), and the client's."""
    server, client = socket.socketpair()
    yield server, client
    server.close()
    client.close()


@pytest.fixture
def one_slot(settings: Any) -> None:
    settings.ASK_MAX_CONCURRENT = 1
    settings.ASK_QUEUE_TIMEOUT_S = 20


def _ask(client, server, *, streamed: bool):
    accept = "text/event-stream" if streamed else "application/json"
    return client.post(
        "/ask",
        QUESTION,
        format="json",
        HTTP_ACCEPT=accept,
        **{"gunicorn.socket": server},
    )


@pytest.mark.parametrize("streamed", [False, True], ids=["plain", "streamed"])
def test_a_queued_ask_leaves_the_queue_when_its_client_goes_away(
    db, one_slot, alice, alice_client, connected_session, llm_stub, pair, streamed
):
    connected_session(alice, "sqlite")
    server, client = pair
    # The client hangs up half a second into its wait for the one slot.
    threading.Timer(0.5, client.close).start()
    started = time.monotonic()

    with capacity.ask_slot_take():
        response = _ask(alice_client, server, streamed=streamed)
        waited = time.monotonic() - started

    assert response.status_code == 409
    assert response.json()["code"] == "cancelled"
    # Gone from the queue at once, not when the queue timeout (20 s) ran out.
    assert waited < 5
    turn = Turn.objects.get()
    assert (turn.status, turn.error_code) == (TurnStatus.CANCELLED, "cancelled")
    assert llm_stub.requests == []


@pytest.mark.parametrize("streamed", [False, True], ids=["plain", "streamed"])
def test_an_ask_whose_client_left_before_its_slot_came_free_never_starts(
    db, one_slot, alice, alice_client, connected_session, llm_stub, pair, streamed
):
    connected_session(alice, "sqlite")
    server, client = pair
    client.close()

    response = _ask(alice_client, server, streamed=streamed)

    assert response.status_code == 409
    assert Turn.objects.get().status == TurnStatus.CANCELLED
    assert llm_stub.requests == []
    # The slot it took on its way out was given back.
    with capacity.ask_slot_take():
        pass


def test_a_queued_ask_whose_client_stays_gets_the_slot_when_it_frees(
    db, one_slot, alice, alice_client, connected_session, llm_stub, pair
):
    connected_session(alice, "sqlite")
    server, _client = pair
    held = capacity.ask_slot_take()
    threading.Timer(0.5, held.release).start()

    response = _ask(alice_client, server, streamed=False)

    assert response.status_code == 200, response.json()
    assert Turn.objects.get().status == TurnStatus.OK


@pytest.mark.django_db(transaction=True)
def test_a_stream_whose_client_goes_away_once_it_started_stops_before_the_model(
    alice, alice_client, connected_session, llm_stub, pair
):
    connected_session(alice, "sqlite")
    server, client = pair
    response = _ask(alice_client, server, streamed=True)
    chunks = iter(response.streaming_content)
    assert b"event: turn" in next(chunks)

    # Gone before the run starts (the next read starts it): no heartbeat has
    # been written yet to tell, only the client's socket says so. (A look at the
    # socket is reused for CLIENT_CHECK_S: wait that out.)
    client.close()
    time.sleep(CLIENT_CHECK_S + 0.1)
    rest = b"".join(chunks)
    response.close()

    assert b"event: error" in rest
    assert b'"code": "cancelled"' in rest
    assert Turn.objects.get().status == TurnStatus.CANCELLED
    assert llm_stub.requests == []


@pytest.mark.slow
def test_under_gunicorn_queued_streamed_asks_of_departed_clients_never_run(
    shop_databases, tmp_path
):
    # One ask slot, held by a slow plain ask; five streamed asks queue behind it
    # and their clients hang up. None of them may reach the model afterwards.
    with StubLLMServer(responder=keyword_responder(), delay_s=2.0) as stub:
        env = serving_env(
            database_url=database_url_derived("queued_gone"),
            sqlite_dir=shop_databases["sqlite_dir"],
            llm_base_url=stub.base_url,
            ASK_MAX_CONCURRENT="1",
            ASK_QUEUE_TIMEOUT_S="30",
        )
        app_database_migrate(env)
        with Gunicorn(env, workers=1, threads=8, log_dir=tmp_path) as server:
            api = Client(server.url)
            email = f"queue-{uuid.uuid4().hex[:8]}@example.com"
            api.register_and_login(email, PASSWORD)
            session_id = api.connect(connection_fields("sqlite"))
            holder = threading.Thread(target=api.post, args=("/ask", QUESTION))
            holder.start()
            time.sleep(0.5)  # the holder has the slot
            for _ in range(5):
                _stream_and_hang_up(server.port, api.token, after_s=0.5)
            holder.join(timeout=60)
            turns = api.get(f"/threads/{session_id}").json()["turns"]

    statuses = sorted(turn["status"] for turn in turns)
    assert statuses == ["cancelled"] * 5 + ["ok"], statuses
    # The holder's two model calls, nobody else's.
    assert len(stub.requests) == 2


def _stream_and_hang_up(port: int, token: str, *, after_s: float) -> None:
    """POST a streamed /ask, then close the connection before any answer."""
    body = json.dumps(QUESTION).encode()
    head = (
        "POST /ask HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{port}\r\n"
        f"Authorization: Bearer {token}\r\n"
        "Content-Type: application/json\r\n"
        "Accept: text/event-stream\r\n"
        f"Content-Length: {len(body)}\r\n"
        "\r\n"
    )
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(head.encode() + body)
        time.sleep(after_s)
