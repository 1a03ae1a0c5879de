"""JSON-RPC for MCP over Streamable HTTP, stateless, validated with `mcp_types`.

The server speaks the handshake-era protocol (initialize, then tools/list and
tools/call); newer clients probing `server/discover` get "method not found" and
fall back to initialize, as the SDK specifies. No Mcp-Session-Id is issued:
every POST stands alone, authenticated by its token, so any worker can answer.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import Any

import mcp_types as types
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS, LATEST_HANDSHAKE_VERSION
from pydantic import BaseModel, ValidationError
from rest_framework.request import Request

from accounts.models import PersonalAccessToken, User
from agent.mcp_server.tools import TOOLS, McpTool, tool_run, tools_for
from sqlagent_project.errors import ApplicationError

logger = logging.getLogger(__name__)

INSTRUCTIONS = (
    "SQLAgent answers questions about your own databases. Call list_connections, "
    "then connect(connection_id); then ask(question) in plain language, or "
    "describe_schema and run_sql (if your token allows) for SQL you write. "
    "Every database is read-only here and every result is capped."
)


class JsonRpcFailure(Exception):
    """A request that gets a JSON-RPC error instead of a result."""

    def __init__(self, code: int, message: str, *, http_status: int = 200) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.http_status = http_status


@dataclass(frozen=True)
class Reply:
    """What to send back: a JSON-RPC message (or nothing) and its HTTP status."""

    status: int
    body: dict[str, Any] | None = None


def _dump(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(by_alias=True, mode="json", exclude_unset=True)


def error_reply(
    request_id: Any, code: int, message: str, *, status: int = 200
) -> Reply:
    """Return a JSON-RPC error message for `request_id` (None when unknown)."""
    body = {
        "jsonrpc": "2.0",
        "id": request_id,
        "error": {"code": code, "message": message},
    }
    return Reply(status=status, body=body)


def message_parse(request: Request) -> types.JSONRPCMessage | Reply:
    """Return the one JSON-RPC message in a POST body, or the error to answer."""
    try:
        data = json.loads(request.body)
    except RequestDataTooBig:
        return error_reply(
            None, types.INVALID_REQUEST, "The message is too large.", status=413
        )
    except (ValueError, UnicodeDecodeError):
        return error_reply(None, types.PARSE_ERROR, "Parse error.", status=400)
    if isinstance(data, list):
        return error_reply(
            None, types.INVALID_REQUEST, "Batches are not supported.", status=400
        )
    # Without this, an object, float, bool or null id made the message a
    # notification (202, never answered).
    if (
        isinstance(data, dict)
        and "method" in data
        and "id" in data
        and not _is_request_id(data["id"])
    ):
        return error_reply(
            None,
            types.INVALID_REQUEST,
            "Invalid Request: the id must be a string or an integer.",
            status=400,
        )
    try:
        return types.jsonrpc_message_adapter.validate_python(data)
    except ValidationError:
        request_id = data.get("id") if isinstance(data, dict) else None
        if not isinstance(request_id, str | int) or isinstance(request_id, bool):
            request_id = None
        return error_reply(
            request_id, types.INVALID_REQUEST, "Invalid JSON-RPC message.", status=400
        )


def _is_request_id(value: Any) -> bool:
    """Say whether `value` is an MCP request id: a string or an integer."""
    return isinstance(value, str) or (
        isinstance(value, int) and not isinstance(value, bool)
    )


def _holds_nul(value: Any) -> bool:
    """Return whether a NUL character is in any string of a JSON value."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(k) or _holds_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_holds_nul(item) for item in value)
    return False


def tool_spec(tool: McpTool) -> types.Tool:
    """Return the MCP description of a tool (input schema from its pydantic model)."""
    return types.Tool(
        name=tool.name,
        title=tool.title,
        description=tool.describe(),
        input_schema=tool.arguments.model_json_schema(),
        annotations=types.ToolAnnotations(
            title=tool.title,
            read_only_hint=tool.read_only,
            destructive_hint=False,
            open_world_hint=False,
        ),
    )


def tool_for_request(message: types.JSONRPCRequest) -> McpTool | None:
    """Return the tool a tools/call names (for choosing its rate limit), if any."""
    if message.method != "tools/call" or not isinstance(message.params, dict):
        return None
    return TOOLS.get(str(message.params.get("name")))


def request_handle(
    *, message: types.JSONRPCRequest, user: User, token: PersonalAccessToken
) -> Reply:
    """Answer one JSON-RPC request."""
    try:
        result = _dispatch(message, user, token)
    except JsonRpcFailure as failure:
        return error_reply(
            message.id, failure.code, failure.message, status=failure.http_status
        )
    except Exception:
        # A bug here or in a library, not the client's fault: a 5xx with a
        # stable message, logged with its traceback so alerts fire.
        logger.exception("mcp request failed method=%s", message.method)
        return error_reply(
            message.id, types.INTERNAL_ERROR, "Internal error.", status=500
        )
    body = {"jsonrpc": "2.0", "id": message.id, "result": result}
    return Reply(status=200, body=body)


def _dispatch(
    message: types.JSONRPCRequest, user: User, token: PersonalAccessToken
) -> dict[str, Any]:
    params = message.params or {}
    if message.method == "initialize":
        return _initialize(params)
    if message.method == "ping":
        return {}
    if message.method == "tools/list":
        tools = [tool_spec(tool) for tool in tools_for(token)]
        return {"tools": [_dump(tool) for tool in tools]}
    if message.method == "tools/call":
        return _dump(_tools_call(params, user, token))
    raise JsonRpcFailure(types.METHOD_NOT_FOUND, f"Method not found: {message.method}")


def _initialize(params: dict[str, Any]) -> dict[str, Any]:
    try:
        request = types.InitializeRequestParams.model_validate(params)
    except ValidationError as exc:
        raise JsonRpcFailure(
            types.INVALID_PARAMS, "Invalid initialize parameters."
        ) from exc
    version = (
        request.protocol_version
        if request.protocol_version in HANDSHAKE_PROTOCOL_VERSIONS
        else LATEST_HANDSHAKE_VERSION
    )
    result = types.InitializeResult(
        protocol_version=version,
        capabilities=types.ServerCapabilities(
            tools=types.ToolsCapability(list_changed=False)
        ),
        server_info=types.Implementation(name="sqlagent", version=settings.VERSION),
        instructions=INSTRUCTIONS,
    )
    return _dump(result)


def _tools_call(
    params: dict[str, Any], user: User, token: PersonalAccessToken
) -> types.CallToolResult:
    try:
        call = types.CallToolRequestParams.model_validate(params)
    except ValidationError as exc:
        raise JsonRpcFailure(types.INVALID_PARAMS, "Invalid tools/call.") from exc
    tool = TOOLS.get(call.name)
    if tool is None:
        raise JsonRpcFailure(types.INVALID_PARAMS, f"Unknown tool: {call.name}")
    started = time.perf_counter()
    if _holds_nul(call.arguments):
        # No database stores it (PostgreSQL refuses NUL in text): a clear
        # refusal instead of a failed write.
        _log_call(tool, started, "invalid_arguments")
        return _tool_error("invalid_arguments: NUL characters are not allowed.")
    try:
        arguments = tool.arguments.model_validate(call.arguments or {})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'arguments'}: {e['msg']}"
            for e in exc.errors()
        )
        _log_call(tool, started, "invalid_arguments")
        return _tool_error(f"invalid_arguments: {problems}")
    try:
        payload = tool_run(tool=tool, user=user, token=token, arguments=arguments)
    except ApplicationError as exc:
        _log_call(tool, started, exc.code)
        return _tool_error(f"{exc.code}: {exc.message}")
    _log_call(tool, started, "ok")
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=json.dumps(payload, default=str))],
        structured_content=payload,
        is_error=False,
    )


def _tool_error(text: str) -> types.CallToolResult:
    # A tool's failure is its result, so the calling model reads why and can
    # correct itself (a refused write, an unknown table, no database connected).
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=text)], is_error=True
    )


def _log_call(tool: McpTool, started: float, outcome: str) -> None:
    logger.info(
        "mcp tool=%s outcome=%s duration_ms=%.1f",
        tool.name,
        outcome,
        (time.perf_counter() - started) * 1000,
    )
