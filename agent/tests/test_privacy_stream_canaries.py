"""Canaries on the streamed ask (POST /ask with Accept: text/event-stream): the
same tools run, so no stored value reaches the LLM under `schema`, masked values
only as tokens, and with `masked_hidden` the streamed rows carry tokens too."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from testsupport.fixtures import CUSTOMERS, ENGINES
from testsupport.llm_stub import StubReply, scripted_responder

# The agent finishes its turn in a worker thread: it must see committed rows.
pytestmark = pytest.mark.django_db(transaction=True)

EMAILS = [row[3] for row in CUSTOMERS]
NAMES = [row[1] for row in CUSTOMERS]


def _events(response: Any) -> list[tuple[str, Any]]:
    buffer = b""
    events: list[tuple[str, Any]] = []
    chunks: Iterator[bytes] = iter(response.streaming_content)
    for chunk in chunks:
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
                events.append((name, json.loads(data)))
    return events


@pytest.mark.parametrize("db_type", ENGINES)
def test_a_streamed_ask_on_schema_sends_no_value_and_streams_hidden_tokens(
    alice_client, alice, make_connection, llm_stub, db_type
):
    llm_stub.responder = scripted_responder(
        [
            StubReply(tool_calls=[("describe_tables", {"table_names": ["customers"]})]),
            StubReply(
                tool_calls=[
                    ("run_query", {"sql": "SELECT * FROM customers ORDER BY id"})
                ]
            ),
            StubReply(content="Six customers; see the table."),
        ]
    )
    connection = make_connection(
        alice,
        db_type,
        privacy="schema",
        masked_columns=["*email*"],
        masked_hidden=True,
    )
    connected = alice_client.post(f"/databases/connect_db/{connection.id}")
    assert connected.status_code == 200

    response = alice_client.post(
        "/ask",
        {"question": "Show every customer"},
        format="json",
        HTTP_ACCEPT="text/event-stream",
    )
    events = _events(response)

    assert response.status_code == 200
    streamed = json.dumps(events, ensure_ascii=False)
    # The user gets the rows (names) but the hidden column only as tokens.
    assert "Ada Lovelace" in streamed
    assert "⟪mask:" in streamed
    assert [e for e in EMAILS if e in streamed] == []
    sent = "\n".join(json.dumps(b, ensure_ascii=False) for b in llm_stub.requests)
    assert len(llm_stub.requests) == 3
    assert [v for v in (*NAMES, *EMAILS) if v in sent] == []
