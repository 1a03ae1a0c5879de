"""Calling one MCP tool over /mcp in-process, as an MCP client would."""

from __future__ import annotations

import json
from typing import Any


def mcp_tool_call(token: str, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """Call `tool` with a personal access token and return the JSON-RPC result."""
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": tool, "arguments": arguments},
    }
    response = client.post(
        "/mcp",
        json.dumps(body),
        content_type="application/json",
        HTTP_ACCEPT="application/json, text/event-stream",
    )
    assert response.status_code == 200, response.content
    return response.json()["result"]
