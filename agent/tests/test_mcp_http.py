"""/mcp at the HTTP level: authentication, transport details, rate limits, logs."""

from __future__ import annotations

import copy
import io
import json
import logging
import logging.config
import socket
from typing import Any

import pytest
from django.conf import settings as django_settings
from rest_framework.test import APIClient

from accounts.services import token_create, token_revoke
from agent.models import Turn, TurnStatus

pytestmark = pytest.mark.django_db

INITIALIZE: dict[str, Any] = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "test", "version": "1"},
    },
}
LIST_TOOLS = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}


def _client(value: str | None = None) -> APIClient:
    client = APIClient()
    if value is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {value}")
    return client


def _post(
    client: APIClient, body: Any, accept: str = "application/json, text/event-stream"
) -> Any:
    raw = body if isinstance(body, str) else json.dumps(body)
    return client.post("/mcp", raw, content_type="application/json", HTTP_ACCEPT=accept)


@pytest.fixture
def alice_token(alice: Any) -> str:
    return token_create(owner=alice, name="claude", scope="ask").value


def test_initialize_answers_the_clients_protocol_version(alice_token):
    response = _post(_client(alice_token), INITIALIZE)
    result = response.json()["result"]
    assert response.status_code == 200
    assert result["protocolVersion"] == "2025-06-18"
    assert result["serverInfo"]["name"] == "sqlagent"
    assert result["capabilities"]["tools"] == {"listChanged": False}
    assert "read-only" in result["instructions"]
    assert "Mcp-Session-Id" not in response


def test_an_unknown_protocol_version_gets_the_newest_handshake_one(alice_token):
    body = {**INITIALIZE, "params": {**INITIALIZE["params"], "protocolVersion": "1999"}}
    result = _post(_client(alice_token), body).json()["result"]
    assert result["protocolVersion"] == "2025-11-25"


def test_a_notification_is_accepted_without_a_body(alice_token):
    body = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    response = _post(_client(alice_token), body)
    assert response.status_code == 202
    assert response.content == b""


def test_a_client_that_takes_only_a_stream_gets_sse(alice_token):
    response = _post(_client(alice_token), LIST_TOOLS, accept="text/event-stream")
    text = response.content.decode()
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/event-stream")
    assert text.startswith("event: message\ndata: ")
    message = json.loads(text.split("data: ", 1)[1])
    assert message["id"] == 2
    assert "ask" in [tool["name"] for tool in message["result"]["tools"]]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ("{not json", 400, -32700),
        ([LIST_TOOLS], 400, -32600),
        ({"jsonrpc": "2.0", "id": 3}, 400, -32600),
        ({"jsonrpc": "2.0", "id": 4, "method": "server/discover"}, 200, -32601),
        (
            {
                "jsonrpc": "2.0",
                "id": 5,
                "method": "tools/call",
                "params": {"name": "x"},
            },
            200,
            -32602,
        ),
    ],
)
def test_bad_messages_get_json_rpc_errors(alice_token, body, status, code):
    response = _post(_client(alice_token), body)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code


def test_bad_tool_arguments_are_a_tool_error_the_model_can_read(alice_token):
    body = {
        "jsonrpc": "2.0",
        "id": 6,
        "method": "tools/call",
        "params": {"name": "connect", "arguments": {"connection_id": "first"}},
    }
    result = _post(_client(alice_token), body).json()["result"]
    assert result["isError"] is True
    assert result["content"][0]["text"].startswith("invalid_arguments: connection_id")


def test_anonymous_and_jwt_requests_are_refused(alice_client):
    anonymous = _post(_client(), LIST_TOOLS)
    jwt = _post(alice_client, LIST_TOOLS)
    assert anonymous.status_code == 401
    assert anonymous["WWW-Authenticate"].startswith("Bearer")
    assert jwt.status_code == 401
    assert jwt.json()["detail"] == (
        "Only personal access tokens (sqa_…) are accepted here."
    )


def test_a_revoked_token_gets_401_with_the_reason(alice):
    created = token_create(owner=alice, name="old", scope="ask")
    token_revoke(token=created.token)
    response = _post(_client(created.value), LIST_TOOLS)
    assert response.status_code == 401
    assert response.json()["code"] == "token_revoked"


def test_get_and_delete_are_not_offered(alice_token):
    client = _client(alice_token)
    assert client.get("/mcp", HTTP_ACCEPT="text/event-stream").status_code == 405
    assert client.delete("/mcp").status_code == 405


def test_mcp_messages_are_rate_limited_per_user(alice_token, settings):
    settings.THROTTLE_MCP_RATE = "2/minute"
    client = _client(alice_token)
    statuses = [_post(client, LIST_TOOLS).status_code for _ in range(3)]
    refused = _post(client, LIST_TOOLS)
    assert statuses == [200, 200, 429]
    assert int(refused["Retry-After"]) > 0
    assert "Too many requests" in refused.json()["error"]["message"]


def test_ask_through_mcp_counts_against_the_ask_rate(alice_token, settings):
    settings.THROTTLE_ASK_RATE = "1/minute"
    client = _client(alice_token)
    call = {
        "jsonrpc": "2.0",
        "id": 7,
        "method": "tools/call",
        "params": {"name": "ask", "arguments": {"question": "How many?"}},
    }
    first = _post(client, call)
    second = _post(client, call)
    assert first.json()["result"]["isError"] is True  # no database connected
    assert second.status_code == 429
    assert _post(client, LIST_TOOLS).status_code == 200


def test_mcp_logs_name_the_token_and_never_hold_its_value(alice, alice_token):
    config: dict[str, Any] = copy.deepcopy(django_settings.LOGGING)
    config["root"]["level"] = "INFO"
    logging.config.dictConfig(config)
    handler = next(h for h in logging.getLogger().handlers if h.name == "console")
    assert isinstance(handler, logging.StreamHandler)
    buffer = io.StringIO()
    handler.setStream(buffer)
    try:
        body = {
            "jsonrpc": "2.0",
            "id": 8,
            "method": "tools/call",
            "params": {"name": "list_connections", "arguments": {}},
        }
        _post(_client(alice_token), body)
    finally:
        logging.config.dictConfig(django_settings.LOGGING)
    text = buffer.getvalue()
    line = next(line for line in text.splitlines() if "mcp tool=" in line)
    assert "mcp tool=list_connections outcome=ok" in line
    assert f"token_name=claude user={alice.pk}" in line
    assert alice_token not in text


def test_an_oversized_message_is_refused_with_413(alice_token, settings):
    settings.REQUEST_MAX_BYTES = 1000
    body = {**LIST_TOOLS, "params": {"padding": "x" * 2000}}
    response = _post(_client(alice_token), body)
    assert response.status_code == 413
    assert response.json()["code"] == "request_too_large"


def test_an_unexpected_failure_is_a_logged_json_rpc_500(alice_token, monkeypatch):
    from agent.mcp_server import protocol

    def broken(token: Any) -> list:
        raise RuntimeError("bug")

    monkeypatch.setattr(protocol, "tools_for", broken)
    response = _post(_client(alice_token), LIST_TOOLS)
    assert response.status_code == 500
    assert response.json()["error"] == {"code": -32603, "message": "Internal error."}


def test_rows_a_tool_returns_are_capped_and_the_cap_is_said(
    alice, connected_session, settings
):
    settings.MCP_RESULT_MAX_ROWS = 2
    connected_session(alice, "sqlite")
    token = token_create(owner=alice, name="ide", scope="sql").value
    body = {
        "jsonrpc": "2.0",
        "id": 9,
        "method": "tools/call",
        "params": {"name": "run_sql", "arguments": {"sql": "SELECT id FROM customers"}},
    }
    tools = _post(_client(token), LIST_TOOLS).json()["result"]["tools"]
    result = _post(_client(token), body).json()["result"]
    payload = result["structuredContent"]
    assert result["isError"] is False
    assert payload["rows"] == [[1], [2]]
    assert (payload["rows_returned"], payload["truncated"]) == (2, True)
    run_sql = next(tool for tool in tools if tool["name"] == "run_sql")
    assert "capped at 2" in run_sql["description"]
    assert run_sql["annotations"]["readOnlyHint"] is True


def _run_sql(token: str, sql: str) -> dict[str, Any]:
    body = {
        "jsonrpc": "2.0",
        "id": 10,
        "method": "tools/call",
        "params": {"name": "run_sql", "arguments": {"sql": sql}},
    }
    result = _post(_client(token), body).json()["result"]
    assert result["isError"] is False, result
    return result["structuredContent"]


def test_the_schema_tier_sends_no_values_to_an_ai_client(alice, connected_session):
    connected_session(alice, "sqlite", privacy="schema")
    token = token_create(owner=alice, name="ide", scope="sql").value

    payload = _run_sql(token, "SELECT name, country FROM customers ORDER BY id")

    assert payload["columns"] == ["name", "country"]
    assert payload["row_count"] == 6
    assert payload["rows"] == []
    assert "chart" not in payload
    assert payload["privacy"].startswith("Privacy tier 'schema'")


def test_masked_columns_reach_an_ai_client_as_tokens(alice, connected_session):
    connected_session(alice, "sqlite", masked_columns=["customers.name"])
    token = token_create(owner=alice, name="ide", scope="sql").value

    payload = _run_sql(token, "SELECT name AS who, country FROM customers ORDER BY id")

    names = [row[0] for row in payload["rows"]]
    countries = {row[1] for row in payload["rows"]}
    assert all(name.startswith("⟪mask:") for name in names)
    assert "Germany" in countries
    assert payload["privacy"] == "Masked columns show a token per value."


def test_a_database_error_quoting_a_value_is_hidden_from_an_ai_client(
    alice, connected_session
):
    connected_session(alice, "postgresql", privacy="schema")
    token = token_create(owner=alice, name="ide", scope="sql").value
    body = {
        "jsonrpc": "2.0",
        "id": 11,
        "method": "tools/call",
        "params": {
            "name": "run_sql",
            "arguments": {"sql": "SELECT CAST(name AS integer) FROM customers"},
        },
    }

    result = _post(_client(token), body).json()["result"]

    text = result["content"][0]["text"]
    assert result["isError"] is True
    assert text.startswith("query_failed: ")
    # On the schema tier the client gets the error's code and class, not its text.
    assert "InvalidTextRepresentation, SQLSTATE 22P02" in text
    assert "Lovelace" not in text


def test_an_ask_through_mcp_stops_when_its_client_has_left(
    alice, alice_token, connected_session, llm_stub
):
    connected_session(alice, "sqlite")
    server, client = socket.socketpair()
    client.close()
    call = {
        "jsonrpc": "2.0",
        "id": 8,
        "method": "tools/call",
        "params": {"name": "ask", "arguments": {"question": "Who lives in Germany?"}},
    }
    try:
        # What gunicorn puts in the request's environ: the client's socket.
        environ: dict[str, Any] = {
            "HTTP_ACCEPT": "application/json, text/event-stream",
            "gunicorn.socket": server,
        }
        response = _client(alice_token).post(
            "/mcp", json.dumps(call), content_type="application/json", **environ
        )
    finally:
        server.close()

    result = response.json()["result"]
    assert result["isError"] is True
    assert result["content"][0]["text"].startswith("cancelled:")
    assert Turn.objects.get().status == TurnStatus.CANCELLED
    assert llm_stub.requests == []  # no model call was paid for nobody
