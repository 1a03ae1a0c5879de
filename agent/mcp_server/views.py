"""The /mcp endpoint: one POST per JSON-RPC message, JSON or SSE as the client asks."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from typing import cast

import mcp_types as types
from django.http import HttpResponse
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.parsers import BaseParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request
from rest_framework.views import APIView

from accounts.authentication import PersonalAccessTokenAuthentication
from accounts.models import PersonalAccessToken, TokenScope
from accounts.permissions import TokenScopePermission
from accounts.types import AuthenticatedRequest
from agent.cancellation import ClientWatch
from agent.mcp_server.protocol import (
    Reply,
    error_reply,
    message_parse,
    request_handle,
    tool_for_request,
)
from agent.mcp_server.tools import client_watched
from sqlagent_project.throttling import ScopedSettingsThrottle


class _JsonWhateverAccepted(BaseContentNegotiation):
    """Render DRF's own answers (401, 405) as JSON even to an SSE-only Accept."""

    def select_parser(
        self, request: Request, parsers: Iterable[BaseParser]
    ) -> BaseParser | None:
        return None

    def select_renderer(
        self,
        request: Request,
        renderers: Iterable[BaseRenderer],
        format_suffix: str | None = None,
    ) -> tuple[BaseRenderer, str]:
        renderer = next(iter(renderers))
        return renderer, renderer.media_type


class _TokensOnly(PersonalAccessTokenAuthentication):
    tokens_only = True


class McpApi(APIView):
    """MCP's Streamable HTTP transport, stateless, for personal access tokens only.

    GET (a server-to-client stream) and DELETE (ending a session) answer 405:
    this server sends nothing unasked and keeps no session.
    """

    authentication_classes = [_TokensOnly]
    permission_classes = [IsAuthenticated, TokenScopePermission]
    token_scopes = {m: TokenScope.ASK for m in ("POST", "GET", "DELETE")}
    # The rate limit is chosen per message below (ask/run_sql share /ask's rate).
    throttle_classes: list = []
    throttle_scope = "mcp"
    parser_classes: list = []
    content_negotiation_class = _JsonWhateverAccepted
    schema = None

    def post(self, request: AuthenticatedRequest) -> HttpResponse:
        parsed = message_parse(request)
        if isinstance(parsed, Reply):
            return _respond(request, parsed)
        if not isinstance(parsed, types.JSONRPCRequest):
            # Notifications (e.g. notifications/initialized) and responses.
            return HttpResponse(status=202)
        tool = tool_for_request(parsed)
        self.throttle_scope = tool.throttle_scope if tool is not None else "mcp"
        throttle = ScopedSettingsThrottle()
        if not throttle.allow_request(request, self):
            wait = math.ceil(throttle.wait() or 1)
            reply = error_reply(
                parsed.id,
                types.INTERNAL_ERROR,
                f"Too many requests: try again in {wait} s.",
                status=429,
            )
            response = _respond(request, reply)
            response["Retry-After"] = str(wait)
            return response
        # The only authentication class here makes `auth` the token.
        token = cast(PersonalAccessToken, request.auth)
        with client_watched(ClientWatch(request.META)):
            reply = request_handle(message=parsed, user=request.user, token=token)
        return _respond(request, reply)


def _respond(request: Request, reply: Reply) -> HttpResponse:
    if reply.body is None:
        return HttpResponse(status=reply.status)
    body = json.dumps(reply.body, default=str)
    accept = request.headers.get("Accept", "")
    if "text/event-stream" in accept and "application/json" not in accept:
        # The client takes only a stream: the one answer as one SSE event.
        response = HttpResponse(
            f"event: message\ndata: {body}\n\n",
            status=reply.status,
            content_type="text/event-stream",
        )
        response["Cache-Control"] = "no-store"
        return response
    response = HttpResponse(body, status=reply.status, content_type="application/json")
    response["Cache-Control"] = "no-store"
    return response
