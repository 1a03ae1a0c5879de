"""No wait runs while an ask holds its CPU slot, on every path an ask takes.

`capacity.waits_checked` records every known wait point, every statement on a
user's database and every socket read (the model's HTTP client) that happens
while the current ask holds a CPU slot; a new wait left unreleased shows up.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from accounts.services import token_create
from agent.models import Turn, TurnStatus
from connections.engines import engine_create
from sqlagent_project import capacity
from testsupport.llm_stub import StubReply, scripted_responder

pytestmark = pytest.mark.django_db(transaction=True)


def _script(llm_stub: Any) -> None:
    """A model that lists, describes and queries (every kind of database read),
    then answers."""
    llm_stub.responder = scripted_responder(
        [
            StubReply(tool_calls=[("list_tables", {})]),
            StubReply(tool_calls=[("describe_tables", {"table_names": ["orders"]})]),
            StubReply(
                tool_calls=[
                    ("run_query", {"sql": "SELECT country FROM customers LIMIT 3"})
                ]
            ),
            StubReply(content="Three countries."),
        ]
    )


@pytest.fixture
def connected(alice, alice_client, make_connection, settings):
    settings.ASK_CPU_SLOTS = 1
    connection = make_connection(alice, "postgresql")
    response = alice_client.post(f"/databases/connect_db/{connection.id}")
    assert response.status_code == 200
    return connection


def _plain(alice_client: Any, alice: Any) -> None:
    response = alice_client.post("/ask", {"question": "Countries?"}, format="json")
    assert response.status_code == 200, response.content


def _stream(alice_client: Any, alice: Any) -> None:
    response = alice_client.post(
        "/ask",
        {"question": "Countries?"},
        format="json",
        HTTP_ACCEPT="text/event-stream",
    )
    raw = b"".join(response.streaming_content)
    assert b"event: done" in raw, raw[-300:]


def _mcp(alice_client: Any, alice: Any) -> None:
    client = APIClient()
    token = token_create(owner=alice, name="claude", scope="ask").value
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    call = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": "ask", "arguments": {"question": "Countries?"}},
    }
    response = client.post(
        "/mcp",
        json.dumps(call),
        content_type="application/json",
        HTTP_ACCEPT="application/json, text/event-stream",
    )
    assert response.json()["result"]["isError"] is False, response.json()


def _page(alice_client: Any, alice: Any) -> None:
    page = Client()
    page.force_login(alice)
    response = page.post("/", {"question": "Countries?"})
    assert response.status_code == 302, response.content[-300:]


def _ask_sql(alice_client: Any, alice: Any) -> None:
    response = alice_client.post(
        "/ask/sql", {"sql": "SELECT country FROM customers LIMIT 3"}, format="json"
    )
    assert response.status_code == 200, response.content


@pytest.mark.parametrize("path", [_plain, _stream, _mcp, _page, _ask_sql])
def test_no_wait_holds_the_cpu_slot_on_any_ask_path(
    alice, alice_client, connected, llm_stub, path
):
    _script(llm_stub)

    with capacity.waits_checked() as held:
        path(alice_client, alice)

    assert held == []
    turn = Turn.objects.get()
    assert turn.status == TurnStatus.OK
    assert capacity._cpu_slots.get()._value == 1  # the slot came back


def test_a_wait_left_unreleased_is_caught(connected, settings):
    """The check itself: a user-database read made holding the slot, and a
    known wait point reached holding it, are both recorded."""
    engine = engine_create(connected, pooled=False)
    try:
        with capacity.waits_checked() as held, capacity.ask_cpu_turns():
            with engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1")
            capacity.wait_check("a new wait")
            with capacity.cpu_released(), engine.connect() as conn:
                conn.exec_driver_sql("SELECT 2")
    finally:
        engine.dispose()

    assert any("SELECT 1" in what for what in held), held
    assert "a new wait" in held
    assert not any("SELECT 2" in what for what in held), held


def _turn_finished() -> Turn:
    """Wait (bounded) for the ask's worker thread to store its turn."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        turn = Turn.objects.get()
        if turn.status != TurnStatus.RUNNING:
            return turn
        time.sleep(0.05)
    raise AssertionError("the ask never finished")


def _slots_back() -> int:
    """The free CPU slots once every ask thread has given its slot back."""
    deadline = time.monotonic() + 10
    while capacity._cpu_slots.get()._value != 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    return capacity._cpu_slots.get()._value


@pytest.mark.parametrize("events_read", [0, 1, 2])
def test_an_abandoned_stream_gives_its_cpu_slot_back(
    alice_client, connected, llm_stub, events_read
):
    """A reader that leaves a stream unread, or after its first events, stops
    the ask; whichever thread ends it, the process's slot comes back."""
    _script(llm_stub)
    response = alice_client.post(
        "/ask",
        {"question": "Countries?"},
        format="json",
        HTTP_ACCEPT="text/event-stream",
    )
    chunks = iter(response.streaming_content)
    for _ in range(events_read):
        next(chunks)
    response.close()

    turn = _turn_finished()

    assert turn.status in {TurnStatus.OK, TurnStatus.CANCELLED}
    assert _slots_back() == 1
