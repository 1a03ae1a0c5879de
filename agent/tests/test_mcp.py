"""/mcp through the official MCP Python SDK's Streamable HTTP client, live.

The client is async; each test drives it with `anyio.run` against pytest-django's
live server (a threaded server in this process, sharing the test database).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import pytest
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import MCPError

from accounts.services import token_create, token_revoke
from agent.models import Turn, TurnSource
from connections.models import UserSession
from testsupport.fixtures import shop_snapshot

pytestmark = pytest.mark.django_db(transaction=True)


def _mcp(
    url: str, token: str, work: Callable[[Client], Awaitable[Any]], **kwargs: Any
) -> Any:
    """Connect the SDK client to `url` with `token`, run `work`, return its result."""

    async def main() -> Any:
        headers = {"Authorization": f"Bearer {token}"}
        async with create_mcp_http_client(headers=headers) as http:
            transport = streamable_http_client(url, http_client=http)
            async with Client(transport, **kwargs) as client:
                return await work(client)

    return anyio.run(main)


def _payload(result: Any) -> dict[str, Any]:
    assert not result.is_error, result.content[0].text
    assert result.structured_content == json.loads(result.content[0].text)
    return result.structured_content


@pytest.fixture
def mcp_url(live_server: Any) -> str:
    return f"{live_server.url}/mcp"


def test_a_client_lists_connects_asks_and_runs_sql_with_a_token(
    mcp_url, alice, make_connection, llm_stub
):
    sqlite = make_connection(alice, "sqlite", label="shop")
    token = token_create(owner=alice, name="claude", scope="sql").value

    async def work(client: Client) -> dict[str, Any]:
        tools = await client.list_tools()
        listed = await client.call_tool("list_connections", {})
        connected = await client.call_tool("connect", {"connection_id": sqlite.pk})
        schema = await client.call_tool("describe_schema", {})
        described = await client.call_tool(
            "describe_schema", {"table_names": ["customers"]}
        )
        asked = await client.call_tool("ask", {"question": "How many customers?"})
        ran = await client.call_tool(
            "run_sql", {"sql": "SELECT id, name FROM customers ORDER BY id"}
        )
        return {
            "tools": {t.name: t for t in tools.tools},
            "listed": _payload(listed),
            "connected": _payload(connected),
            "schema": _payload(schema),
            "described": _payload(described),
            "asked": _payload(asked),
            "ran": _payload(ran),
        }

    out = _mcp(mcp_url, token, work)

    tools = out["tools"]
    assert set(tools) == {
        "list_connections",
        "connect",
        "ask",
        "run_sql",
        "describe_schema",
    }
    assert "read-only" in tools["run_sql"].description
    assert "capped at 100 rows" in tools["ask"].description
    assert tools["connect"].input_schema["required"] == ["connection_id"]
    assert out["listed"]["connections"] == [
        {
            "id": sqlite.pk,
            "label": "shop",
            "db_type": "sqlite",
            "database_name": sqlite.database_name,
            "host": "",
            "team_id": None,
            "connected": False,
        }
    ]
    assert out["connected"]["connection_id"] == sqlite.pk
    assert "customers" in out["schema"]["tables"]
    assert "customers" in out["described"]["description"]
    asked = out["asked"]
    assert asked["sql"] == ["SELECT COUNT(*) AS customer_count FROM customers"]
    assert asked["columns"] == ["customer_count"]
    assert asked["rows"] == [[6]]
    assert "Here is what I found" in asked["answer"]
    ran = out["ran"]
    assert ran["columns"] == ["id", "name"]
    assert ran["rows_returned"] == len(ran["rows"]) > 0
    assert ran["truncated"] is False
    # Both are turns of alice's current thread, like /ask and /ask/sql.
    session = UserSession.objects.get(user=alice, status="active")
    turns = list(Turn.objects.filter(thread_id=session.pk).order_by("id"))
    assert [(t.source, t.status) for t in turns] == [
        (TurnSource.ASK, "ok"),
        (TurnSource.SQL, "ok"),
    ]
    assert str(session.pk) == asked["thread_id"] == ran["thread_id"]


WRITES = {
    "postgresql": "DELETE FROM customers",
    "mysql": "UPDATE customers SET name = 'x'",
    "sqlite": "DROP TABLE customers",
}


@pytest.mark.parametrize("db_type", ["postgresql", "mysql", "sqlite"])
def test_a_write_through_run_sql_is_refused_and_the_database_unchanged(
    mcp_url, alice, make_connection, sqlite_dir, db_type
):
    connection = make_connection(alice, db_type)
    token = token_create(owner=alice, name="ide", scope="sql").value
    before = shop_snapshot(db_type, sqlite_dir)

    async def work(client: Client) -> Any:
        await client.call_tool("connect", {"connection_id": connection.pk})
        return await client.call_tool("run_sql", {"sql": WRITES[db_type]})

    result = _mcp(mcp_url, token, work)

    assert result.is_error
    assert result.content[0].text.startswith("sql_refused: ")
    assert shop_snapshot(db_type, sqlite_dir) == before
    turn = Turn.objects.get(thread__user=alice)
    assert (turn.source, turn.status, turn.error_code) == (
        TurnSource.SQL,
        "error",
        "sql_refused",
    )


def test_a_revoked_token_is_refused(mcp_url, alice):
    created = token_create(owner=alice, name="old", scope="sql")
    token_revoke(token=created.token)

    async def work(client: Client) -> Any:
        return await client.list_tools()

    with pytest.raises(BaseExceptionGroup) as caught:
        _mcp(mcp_url, created.value, work)

    assert any(isinstance(e, MCPError) for e in _leaves(caught.value))


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in _leaves(inner)]
    return [exc]


def test_an_ask_scope_token_neither_sees_nor_runs_run_sql(
    mcp_url, alice, connected_session
):
    connected_session(alice, "sqlite")
    token = token_create(owner=alice, name="chat only", scope="ask").value

    async def work(client: Client) -> Any:
        tools = await client.list_tools()
        ran = await client.call_tool("run_sql", {"sql": "SELECT 1"})
        return [t.name for t in tools.tools], ran

    names, ran = _mcp(mcp_url, token, work)

    assert "run_sql" not in names
    assert "ask" in names
    assert ran.is_error
    assert ran.content[0].text.startswith("token_scope: ")
    assert not Turn.objects.exists()


def test_bobs_token_never_reaches_alices_connections(
    mcp_url, alice, bob, make_connection
):
    connection = make_connection(alice, "sqlite")
    token = token_create(owner=bob, name="bob", scope="sql").value

    async def work(client: Client) -> Any:
        listed = await client.call_tool("list_connections", {})
        connected = await client.call_tool("connect", {"connection_id": connection.pk})
        ran = await client.call_tool("run_sql", {"sql": "SELECT 1"})
        return _payload(listed), connected, ran

    listed, connected, ran = _mcp(mcp_url, token, work)

    assert listed == {"connections": [], "connected_id": None}
    assert connected.is_error
    assert connected.content[0].text.startswith("not_found: ")
    assert ran.is_error
    assert ran.content[0].text.startswith("no_database_connected: ")
    assert not UserSession.objects.filter(db_connection=connection).exists()


def test_a_legacy_client_that_never_probes_is_served_too(mcp_url, alice):
    token = token_create(owner=alice, name="old client", scope="ask").value

    async def work(client: Client) -> Any:
        return await client.list_tools()

    tools = _mcp(mcp_url, token, work, mode="legacy")
    assert {t.name for t in tools.tools} >= {"ask", "describe_schema"}
