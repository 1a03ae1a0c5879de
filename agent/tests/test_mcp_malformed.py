"""/mcp refuses malformed requests with JSON-RPC errors: ids that are not ids, and
NUL characters no database stores; /ask and /ask/sql refuse NUL with a 400."""

from __future__ import annotations

import json
from typing import Any

import pytest
from rest_framework.test import APIClient

from accounts.services import token_create
from agent.models import Turn

pytestmark = pytest.mark.django_db


def _post(token: str, body: Any) -> Any:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client.post(
        "/mcp",
        json.dumps(body),
        content_type="application/json",
        HTTP_ACCEPT="application/json, text/event-stream",
    )


@pytest.fixture
def sql_token(alice: Any) -> str:
    return token_create(owner=alice, name="ide", scope="sql").value


@pytest.mark.parametrize(
    "request_id", [{"a": 1}, [1], 1.5, 2.0, True, False, None], ids=repr
)
@pytest.mark.parametrize("method", ["tools/list", "ping", "tools/call"])
def test_a_request_whose_id_is_not_a_string_or_integer_is_an_invalid_request(
    sql_token, request_id, method
):
    body = {"jsonrpc": "2.0", "id": request_id, "method": method}
    if method == "tools/call":
        body["params"] = {"name": "list_connections", "arguments": {}}

    response = _post(sql_token, body)

    assert response.status_code == 400
    assert response.json()["id"] is None
    assert response.json()["error"]["code"] == -32600


@pytest.mark.parametrize("request_id", ["abc", 0, -7, 2**53])
def test_string_and_integer_ids_are_answered_with_the_same_id(sql_token, request_id):
    response = _post(sql_token, {"jsonrpc": "2.0", "id": request_id, "method": "ping"})

    assert response.status_code == 200
    assert response.json() == {"jsonrpc": "2.0", "id": request_id, "result": {}}


def test_a_message_without_an_id_is_still_a_notification(sql_token):
    response = _post(sql_token, {"jsonrpc": "2.0", "method": "notifications/x"})

    assert response.status_code == 202


@pytest.mark.parametrize(
    ("tool", "arguments"),
    [
        ("ask", {"question": "Who lives in\x00 Germany?"}),
        ("run_sql", {"sql": "SELECT 1\x00"}),
        ("describe_schema", {"table_names": ["customers\x00"]}),
    ],
)
def test_a_nul_character_in_tool_arguments_is_a_tool_error_not_a_500(
    alice, sql_token, connected_session, llm_stub, tool, arguments
):
    connected_session(alice, "postgresql")
    body = {
        "jsonrpc": "2.0",
        "id": 9,
        "method": "tools/call",
        "params": {"name": tool, "arguments": arguments},
    }

    response = _post(sql_token, body)

    assert response.status_code == 200
    result = response.json()["result"]
    assert result["isError"] is True
    assert result["content"][0]["text"] == (
        "invalid_arguments: NUL characters are not allowed."
    )
    assert Turn.objects.count() == 0
    assert llm_stub.requests == []


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/ask", {"question": "Who lives in\x00 Germany?"}),
        ("/ask/sql", {"sql": "SELECT 1\x00"}),
    ],
)
def test_a_nul_character_in_an_ask_is_a_400(
    alice, alice_client, connected_session, llm_stub, path, body
):
    connected_session(alice, "postgresql")

    response = alice_client.post(path, body, format="json")

    assert response.status_code == 400
    field = next(iter(body))
    assert response.json()[field] == ["Null characters are not allowed."]
    assert Turn.objects.count() == 0
