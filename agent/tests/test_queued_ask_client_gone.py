"""An ask queued for an ask slot whose client went away never starts: it leaves the
queue as soon as the client is gone, or at the latest when its slot comes free."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from agent.models import Turn, TurnStatus
from sqlagent_project import capacity

QUESTION = {"question": "Who lives in Germany?"}


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    """The server's end of a connection (what gunicorn hands over), and the client's."""
    server, client = socket.socketpair()
    yield server, client
    server.close()
    client.close()


@pytest.fixture
def one_slot(settings: object) -> None:
    settings.ASK_MAX_CONCURRENT = 1  # type: ignore[attr-defined]
    settings.ASK_QUEUE_TIMEOUT_S = 20  # type: ignore[attr-defined]


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
    # been written yet to tell, only the client's socket says so.
    client.close()
    rest = b"".join(chunks)
    response.close()

    assert b"event: error" in rest
    assert b'"code": "cancelled"' in rest
    assert Turn.objects.get().status == TurnStatus.CANCELLED
    assert llm_stub.requests == []
