"""Deeply nested or overlong SQL is refused with its reason on every path, never 500.

sqlglot's parser recurses once per level of nesting; before the lexer bounded
it, 50 parentheses (107 bytes) raised RecursionError through /ask/sql, /ask
(the model's SQL), knowledge examples and MCP run_sql.
"""

from __future__ import annotations

import json
from typing import Any

import anyio
import pytest
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from accounts.services import token_create
from agent.models import Turn
from knowledge.models import Example
from testsupport.fixtures import ENGINES
from testsupport.llm_stub import StubReply, scripted_responder

pytestmark = pytest.mark.django_db

DEEP = {
    "50 parentheses": "SELECT " + "(" * 50 + "1" + ")" * 50,
    "100 nested calls": "SELECT " + "abs(" * 100 + "1" + ")" * 100,
    "3000 NOTs": "SELECT 1 WHERE " + "NOT " * 3000 + "1 = 1",
    "3000 minuses": "SELECT " + "- " * 3000 + "1",
}
OVERLONG = "SELECT 1 AS a" + " " * 20_001


def _connect(client: Any, make_connection: Any, owner: Any, db_type: str) -> None:
    connection = make_connection(owner, db_type)
    response = client.post(f"/databases/connect_db/{connection.id}")
    assert response.status_code == 200


@pytest.mark.parametrize("db_type", ENGINES)
@pytest.mark.parametrize("shape", sorted(DEEP))
def test_deep_sql_on_ask_sql_is_a_400_with_the_reason(
    alice_client: Any, alice: Any, make_connection: Any, db_type: str, shape: str
):
    _connect(alice_client, make_connection, alice, db_type)

    response = alice_client.post("/ask/sql", {"sql": DEEP[shape]}, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "sql_refused"
    assert "nested more than" in response.json()["detail"]
    assert Turn.objects.get().error_code == "sql_refused"


@pytest.mark.parametrize("sql", [*DEEP.values(), OVERLONG], ids=[*DEEP, "overlong"])
def test_the_models_deep_or_overlong_sql_is_refused_and_the_model_told(
    alice_client: Any, alice: Any, make_connection: Any, llm_stub: Any, sql: str
):
    _connect(alice_client, make_connection, alice, "postgresql")
    llm_stub.responder = scripted_responder(
        [
            StubReply(tool_calls=[("run_query", {"sql": sql})]),
            StubReply(content="That query was refused."),
        ]
    )

    response = alice_client.post("/ask", {"question": "How deep?"}, format="json")

    assert response.status_code == 200
    body = response.json()
    assert body["answer"] == "That query was refused."
    error = body["queries"][0]["error"]
    assert error.startswith("Refused: ")
    assert "nested more than" in error or "at most 20000" in error
    told = llm_stub.requests[1]["messages"][-1]
    assert told["role"] == "tool"
    assert str(told["content"]).startswith("Refused: ")


@pytest.mark.parametrize("shape", sorted(DEEP))
def test_a_knowledge_example_with_deep_sql_is_a_400(
    alice_client: Any, alice: Any, make_connection: Any, shape: str
):
    connection = make_connection(alice, "mysql")

    response = alice_client.post(
        f"/databases/{connection.id}/knowledge/examples",
        {"question": "Deep", "sql": DEEP[shape]},
        format="json",
    )

    assert response.status_code == 400
    assert response.json()["code"] == "example_sql_refused"
    assert "nested more than" in response.json()["detail"]
    assert not Example.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_mcp_run_sql_with_deep_sql_is_a_refusal(
    live_server: Any, alice: Any, make_connection: Any
):
    connection = make_connection(alice, "sqlite")
    token = token_create(owner=alice, name="ide", scope="sql").value

    async def main() -> Any:
        headers = {"Authorization": f"Bearer {token}"}
        async with create_mcp_http_client(headers=headers) as http:
            transport = streamable_http_client(
                f"{live_server.url}/mcp", http_client=http
            )
            async with Client(transport) as client:
                await client.call_tool("connect", {"connection_id": connection.pk})
                return await client.call_tool("run_sql", {"sql": DEEP["3000 NOTs"]})

    result = anyio.run(main)

    assert result.is_error
    text = result.content[0].text
    assert text.startswith("sql_refused: ")
    assert "nested more than" in text
    assert "RecursionError" not in json.dumps(text)
