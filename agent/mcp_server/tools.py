"""The MCP tools: each one calls the same service as the REST API does.

A tool returns a JSON-able dict (sent as text and as structured content) or
raises an ApplicationError, which the calling model sees as the tool's error.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.http import Http404
from pydantic import BaseModel, ConfigDict, Field

from accounts.models import PersonalAccessToken, TokenScope, User
from agent.exceptions import NoDatabaseConnected, SqlFailed
from agent.mcp_server.payloads import error_for_client, rows_cap, turn_payload
from agent.querying import catalog_get, session_engine_get, target_errors
from agent.services import thread_ask
from agent.user_sql import thread_run_sql
from connections.selectors import (
    ConnectionAccess,
    connection_allows,
    connection_get_for_user,
    connection_list_for_user,
)
from connections.services import session_connect, session_get_or_create_active
from sqlagent_project.errors import ApplicationError

MAX_TABLES_LISTED = 5000


class ConnectionNotFound(ApplicationError):
    """No connection with this id among the user's own."""

    status_code = 404
    code = "not_found"
    default_message = "No connection with this id among yours; see list_connections."


class ToolScopeRefused(ApplicationError):
    """The token's scope does not cover this tool."""

    status_code = 403
    code = "token_scope"


class _NoArguments(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ConnectArguments(BaseModel):
    model_config = ConfigDict(extra="forbid")
    connection_id: int = Field(description="The id of one of your connections.")


class AskArguments(BaseModel):
    model_config = ConfigDict(extra="forbid")
    question: str = Field(description="The question, in plain language.")


class RunSqlArguments(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sql: str = Field(description="One read-only statement (SELECT, WITH …).")


class DescribeSchemaArguments(BaseModel):
    model_config = ConfigDict(extra="forbid")
    table_names: list[str] | None = Field(
        default=None,
        description="Tables or views to describe; omit to list every table name.",
    )


@dataclass(frozen=True)
class McpTool:
    name: str
    title: str
    scope: str
    arguments: type[BaseModel]
    run: Callable[[User, Any], dict[str, Any]]
    describe: Callable[[], str]
    read_only: bool = True
    # ask and run_sql share the REST API's ask rate; the rest the general MCP rate.
    throttle_scope: str = "mcp"


def list_connections(user: User, _: _NoArguments) -> dict[str, Any]:
    session = session_get_or_create_active(user=user)
    connections = [
        {
            "id": c.pk,
            "label": c.label,
            "db_type": c.db_type,
            "database_name": c.database_name,
            # A team connection's settings are for its admins.
            "host": c.host if connection_allows(c, ConnectionAccess.MANAGE) else "",
            "team_id": c.team_id,
            "connected": c.pk == session.db_connection_id,
        }
        for c in connection_list_for_user(user=user)
    ]
    return {"connections": connections, "connected_id": session.db_connection_id}


def connect(user: User, arguments: ConnectArguments) -> dict[str, Any]:
    try:
        connection = connection_get_for_user(
            user=user, connection_id=arguments.connection_id, need=ConnectionAccess.USE
        )
    except Http404 as exc:
        raise ConnectionNotFound() from exc
    session = session_get_or_create_active(user=user)
    session = session_connect(session=session, connection=connection)
    return {
        "message": f"Connected to {connection.database_name}.",
        "connection_id": connection.pk,
        "database_name": connection.database_name,
        "db_type": connection.db_type,
        "thread_id": str(session.thread_id),
        "warnings": list(session.warnings),
    }


# The HTTP client of the MCP request being answered (the view sets it): an ask
# whose client has gone stops at its next step instead of paying for more
# model calls nobody will read, as /ask does.
_client_gone: contextvars.ContextVar[Callable[[], bool] | None] = (
    contextvars.ContextVar("mcp_client_gone", default=None)
)


@contextmanager
def client_watched(client_gone: Callable[[], bool]) -> Iterator[None]:
    """Let the tools run inside this block see whether their client is gone."""
    token = _client_gone.set(client_gone)
    try:
        yield
    finally:
        _client_gone.reset(token)


def ask(user: User, arguments: AskArguments) -> dict[str, Any]:
    turn = thread_ask(
        user=user, question=arguments.question, client_gone=_client_gone.get()
    )
    return turn_payload(user=user, turn=turn)


def run_sql(user: User, arguments: RunSqlArguments) -> dict[str, Any]:
    try:
        turn = thread_run_sql(user=user, sql=arguments.sql)
    except SqlFailed as exc:
        # A database error may quote a stored value: the client gets it as the
        # agent's model would (its code and class only, when values are
        # restricted), never the user's own rendering.
        shown = error_for_client(user=user, error=exc, sql=arguments.sql)
        raise SqlFailed(shown) from exc
    return turn_payload(user=user, turn=turn)


def describe_schema(user: User, arguments: DescribeSchemaArguments) -> dict[str, Any]:
    session = session_get_or_create_active(user=user)
    if session.db_connection is None:
        raise NoDatabaseConnected()
    with target_errors():
        catalog = catalog_get(session_engine_get(session))
        if not arguments.table_names:
            names = catalog.table_names()
            return {
                "database_name": session.db_connection.database_name,
                "tables": names[:MAX_TABLES_LISTED],
                "table_count": len(names),
            }
        return {
            "database_name": session.db_connection.database_name,
            "description": catalog.describe(arguments.table_names[:50]),
        }


_READ_ONLY = (
    "The database is read-only: only one SELECT-like statement runs, inside a "
    "read-only transaction, bounded in time ({timeout:g} s)."
)


def _ask_text() -> str:
    return (
        "Ask a question in plain language about the connected database; SQLAgent's "
        "own agent writes and runs the SQL and answers. The turn is stored in your "
        "current thread. Returns the answer, the SQL it ran, the result's columns "
        f"and rows (capped at {rows_cap()} rows; `truncated` says when more exist) "
        "and a Vega-Lite chart when one fits. "
        + _READ_ONLY.format(timeout=settings.QUERY_TIMEOUT_S)
    )


def _run_sql_text() -> str:
    return (
        "Run one SQL statement you wrote on the connected database, through the "
        "same guard as the agent's queries, and store it in your thread. "
        + _READ_ONLY.format(timeout=settings.QUERY_TIMEOUT_S)
        + " Writes, DDL, several statements and session changes are refused. "
        f"Rows are capped at {rows_cap()} (`truncated` says when more exist). "
        "Use describe_schema first to learn table and column names."
    )


TOOLS: dict[str, McpTool] = {
    tool.name: tool
    for tool in (
        McpTool(
            name="list_connections",
            title="List my database connections",
            scope=TokenScope.ASK,
            arguments=_NoArguments,
            run=list_connections,
            describe=lambda: (
                "List your database connections (id, type, database name) and "
                "which one is connected. Connect to one with connect(connection_id)."
                " Every database is read-only here."
            ),
        ),
        McpTool(
            name="connect",
            title="Connect to a database",
            scope=TokenScope.ASK,
            arguments=ConnectArguments,
            run=connect,
            read_only=False,
            describe=lambda: (
                "Connect your session to one of your connections, by id (see "
                "list_connections). ask, run_sql and describe_schema then work on "
                "it. The database is only ever read."
            ),
        ),
        McpTool(
            name="ask",
            title="Ask a question of the database",
            scope=TokenScope.ASK,
            arguments=AskArguments,
            run=ask,
            describe=_ask_text,
            throttle_scope="ask",
        ),
        McpTool(
            name="run_sql",
            title="Run read-only SQL",
            scope=TokenScope.SQL,
            arguments=RunSqlArguments,
            run=run_sql,
            describe=_run_sql_text,
            throttle_scope="ask",
        ),
        McpTool(
            name="describe_schema",
            title="Describe the database's tables",
            scope=TokenScope.ASK,
            arguments=DescribeSchemaArguments,
            run=describe_schema,
            describe=lambda: (
                "Without table_names: list the connected database's tables and "
                "views. With table_names: their columns, types, keys and a few "
                "sample values. The database is read-only."
            ),
        ),
    )
}


def tools_for(token: PersonalAccessToken) -> list[McpTool]:
    """Return the tools this token's scope may call (run_sql needs `sql`)."""
    return [tool for tool in TOOLS.values() if token.allows(tool.scope)]


def tool_run(
    *, tool: McpTool, user: User, token: PersonalAccessToken, arguments: BaseModel
) -> dict[str, Any]:
    """Run one tool for the token's owner, refusing what its scope does not cover."""
    if not token.allows(tool.scope):
        raise ToolScopeRefused(
            f"This access token's scope ({token.scope}) does not allow {tool.name};"
            f" it needs a token with the '{tool.scope}' scope."
        )
    return tool.run(user, arguments)
