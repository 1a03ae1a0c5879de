"""JSON API for asking questions and reading threads."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from django.http import HttpRequest, HttpResponseBase, StreamingHttpResponse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.exceptions import NotFound
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.encoders import JSONEncoder
from rest_framework.views import APIView

from accounts.models import TokenScope
from accounts.types import AuthenticatedRequest
from agent import serializers as s
from agent.ask_stream import AskEvents, thread_ask_stream
from agent.cancellation import ClientWatch
from agent.pagination import ThreadPagination, TurnPagination, page_parameters
from agent.schema_browser import (
    questions_suggest,
    schema_refresh,
    schema_table_detail,
    schema_tables,
)
from agent.selectors import thread_get_for_user, thread_list_for_user
from agent.services import ask_cancel, thread_ask
from agent.threads import thread_delete, thread_rename
from agent.user_sql import thread_run_sql
from connections.selectors import ConnectionAccess, connection_get_for_user
from sqlagent_project import capacity
from sqlagent_project.schema import (
    ERROR_RESPONSES,
    NOT_FOUND,
    UNAUTHENTICATED,
    error,
)


class EventStreamRenderer(BaseRenderer):
    """Lets a client ask for `text/event-stream`; the view streams the events."""

    media_type = "text/event-stream"
    format = "sse"
    charset = "utf-8"

    def render(
        self,
        data: Any,
        accepted_media_type: str | None = None,
        renderer_context: Mapping[str, Any] | None = None,
    ) -> bytes:
        return json.dumps(data, cls=JSONEncoder).encode()


STREAM_DESCRIPTION = """Ask a question in plain language about the session's database.

With `Accept: text/event-stream` the answer comes as Server-Sent Events while the
agent works (each `data:` is one JSON object):

- `turn`: `{turn_id, thread_id}`, at once;
- `step`: a tool call as it starts: `{tool: "list_tables"}`,
  `{tool: "describe_tables", table_names: [...]}`, `{tool: "run_query", sql}` or
  `{tool: "find_values", table, column}`;
- `query`: a query finished: `{sql, row_count, truncated, duration_ms, error}`;
- `rows`: the first rows of the latest result:
  `{columns, rows, row_count, truncated}`;
- `token`: `{text}`, the next chunk of the model's answer as it streams (text
  before a `step` was the model thinking aloud, not the answer);
- `done`: exactly the body a request without the header gets (200);
- `error`: `{detail, code}` as the JSON errors (the turn is stored failed, or
  `cancelled` with code `cancelled`), plus `retry_after` (seconds) where the
  JSON error has a `Retry-After` header (e.g. `database_busy`).

Lines starting with `:` are keep-alive comments. Errors found before the stream
starts (400, 401, 409, 429, 503, including a full ask pool) are ordinary JSON
responses with their status.
Stop a running ask with `POST /ask/{turn_id}/cancel`.
"""


# One event of the stream, as SSE clients parse it (`data` is one JSON object).
SSE_EVENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "event": {
            "type": "string",
            "enum": ["turn", "step", "query", "rows", "token", "done", "error"],
        },
        "data": {"type": "string", "description": "One JSON object."},
    },
    "required": ["event", "data"],
}


def _sse(name: str, data: Any) -> bytes:
    payload = json.dumps(data, cls=JSONEncoder, ensure_ascii=False)
    return f"event: {name}\ndata: {payload}\n\n".encode()


class _EventStream:
    """The ask's events rendered as SSE. The response closes it when it ends,
    and that closes the ask's events, even if none was read."""

    def __init__(self, events: AskEvents) -> None:
        self._events = events

    def __iter__(self) -> Iterator[bytes]:
        for name, data in self._events:
            if name == "heartbeat":
                yield b": keep-alive\n\n"
            elif name == "done":
                yield _sse(name, s.AskOutputSerializer(data).data)
            elif name == "error":
                body = {"detail": data.message, "code": data.code, **data.extra}
                if data.retry_after is not None:
                    # What the Retry-After header says without a stream.
                    body["retry_after"] = data.retry_after
                yield _sse(name, body)
            else:
                yield _sse(name, data)

    def close(self) -> None:
        self._events.close()


ASK_RESPONSES: dict[Any, Any] = {
    (200, "application/json"): s.AskOutputSerializer,
    (200, "text/event-stream"): OpenApiResponse(
        response=SSE_EVENT_SCHEMA,
        description=(
            "Server-Sent Events: turn, step, query, rows, token, then "
            "done (the JSON answer) or error ({detail, code})."
        ),
    ),
    **ERROR_RESPONSES,
    409: error("No database connected for this session."),
    422: error(
        "The agent could not reach an answer within its step limit, or the "
        "model declined to answer (llm_refused)."
    ),
    502: error("The LLM or the database could not be reached."),
    503: error(
        "No LLM is configured, or it is rate limited or overloaded (llm_busy, "
        "with Retry-After)."
    ),
    504: error("The LLM did not answer in time."),
}


class AskApi(APIView):
    throttle_scope = "ask"
    renderer_classes = [JSONRenderer, EventStreamRenderer]
    token_scopes = {"POST": TokenScope.ASK}

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        # The whole ask, its authentication and rate limit included, takes
        # turns in a CPU slot (see capacity.ask_cpu_turns): with hundreds of
        # asks arriving at once, that work alone crowded out the pages.
        with capacity.ask_cpu_turns():
            return super().dispatch(request, *args, **kwargs)

    @extend_schema(
        request=s.AskInputSerializer,
        responses=ASK_RESPONSES,
        tags=["ask"],
        description=STREAM_DESCRIPTION,
    )
    def post(self, request: AuthenticatedRequest) -> HttpResponseBase:
        serializer = s.AskInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        question = serializer.validated_data["question"]
        if isinstance(request.accepted_renderer, EventStreamRenderer):
            ask = thread_ask_stream(
                user=request.user,
                question=question,
                client_gone=ClientWatch(request.META),
            )
            response = StreamingHttpResponse(
                _EventStream(ask.events), content_type="text/event-stream"
            )
            response["Cache-Control"] = "no-cache"
            response["X-Accel-Buffering"] = "no"
            return response
        turn = thread_ask(
            user=request.user,
            question=question,
            client_gone=ClientWatch(request.META),
        )
        return Response(s.AskOutputSerializer(turn).data)

    def finalize_response(  # type: ignore[override]
        self,
        request: Request,
        response: HttpResponseBase,
        *args: Any,
        **kwargs: Any,
    ) -> HttpResponseBase:
        # An error before the stream starts is an ordinary JSON error.
        if isinstance(response, Response) and isinstance(
            getattr(request, "accepted_renderer", None), EventStreamRenderer
        ):
            request.accepted_renderer = JSONRenderer()
            request.accepted_media_type = JSONRenderer.media_type
        # A stream is a StreamingHttpResponse, which DRF passes through as is.
        return super().finalize_response(
            request,
            response,  # type: ignore[arg-type]
            *args,
            **kwargs,
        )


class AskCancelApi(APIView):
    @extend_schema(
        request=None,
        responses={
            202: s.AskCancelOutputSerializer,
            **UNAUTHENTICATED,
            **NOT_FOUND,
        },
        tags=["ask"],
        description=(
            "Stop one of your running asks (the Stop button): the agent stops at "
            "its next step and the turn is stored as `cancelled`. A turn that "
            "already ended is left as it is (`status` says how it ended)."
        ),
    )
    def post(self, request: AuthenticatedRequest, turn_id: int) -> Response:
        turn = ask_cancel(user=request.user, turn_id=turn_id)
        return Response(s.AskCancelOutputSerializer(turn).data, status=202)


class AskSqlApi(APIView):
    throttle_scope = "ask"
    token_scopes = {"POST": TokenScope.SQL}

    @extend_schema(
        request=s.AskSqlInputSerializer,
        responses={
            200: s.AskOutputSerializer,
            **ERROR_RESPONSES,
            409: error("No database connected for this session."),
            502: error("The database could not be reached."),
            504: error("The query ran out of time."),
        },
        tags=["ask"],
        description=(
            "Run SQL you wrote or edited through the same read-only, bounded path "
            "as the agent's queries, with no LLM call. Stored as a turn of the "
            "thread (source `sql`); a refused or failing statement is a 400 with "
            "its reason, stored as a failed turn."
        ),
    )
    def post(self, request: AuthenticatedRequest) -> Response:
        serializer = s.AskSqlInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        turn = thread_run_sql(user=request.user, sql=serializer.validated_data["sql"])
        return Response(s.AskOutputSerializer(turn).data)


class ThreadListApi(APIView):
    token_scopes = {"GET": TokenScope.ASK}

    @extend_schema(
        parameters=page_parameters(ThreadPagination),
        responses={200: s.ThreadSerializer(many=True), **ERROR_RESPONSES},
        tags=["threads"],
        description="Your threads, most recently active first, one page at a time.",
    )
    def get(self, request: AuthenticatedRequest) -> Response:
        paginator = ThreadPagination()
        threads = paginator.paginate_queryset(
            thread_list_for_user(user=request.user), request, view=self
        )
        return paginator.get_paginated_response(
            s.ThreadSerializer(threads, many=True).data
        )


class ThreadDetailApi(APIView):
    token_scopes = {"GET": TokenScope.ASK}

    @extend_schema(
        parameters=page_parameters(TurnPagination),
        responses={200: s.ThreadDetailSerializer, **ERROR_RESPONSES, **NOT_FOUND},
        tags=["threads"],
        description="One thread with a page of its turns, oldest first.",
    )
    def get(self, request: AuthenticatedRequest, thread_id: str) -> Response:
        thread = thread_get_for_user(user=request.user, thread_id=thread_id)
        paginator = TurnPagination()
        turns = paginator.paginate_queryset(thread.turns.all(), request, view=self)
        data = s.ThreadDetailSerializer(thread, context={"turns": turns}).data
        return paginator.headers_add(Response(data))

    @extend_schema(
        request=s.ThreadRenameSerializer,
        responses={200: s.ThreadSerializer, **ERROR_RESPONSES, **NOT_FOUND},
        tags=["threads"],
    )
    def patch(self, request: AuthenticatedRequest, thread_id: str) -> Response:
        thread = thread_get_for_user(user=request.user, thread_id=thread_id)
        serializer = s.ThreadRenameSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        thread = thread_rename(thread=thread, title=serializer.validated_data["title"])
        listed = thread_list_for_user(user=request.user).get(pk=thread.pk)
        return Response(s.ThreadSerializer(listed).data)

    @extend_schema(
        responses={204: None, **ERROR_RESPONSES, **NOT_FOUND}, tags=["threads"]
    )
    def delete(self, request: AuthenticatedRequest, thread_id: str) -> Response:
        thread = thread_get_for_user(user=request.user, thread_id=thread_id)
        thread_delete(thread=thread)
        return Response(status=204)


class SchemaApi(APIView):
    token_scopes = {"GET": TokenScope.ASK}

    @extend_schema(
        parameters=[
            OpenApiParameter("q", str, description="Only names containing this."),
            OpenApiParameter(
                "suggest", bool, description="Add suggested first questions."
            ),
            OpenApiParameter(
                "refresh",
                bool,
                description=(
                    "Read the schema again (it is kept per version of the "
                    "connection, for every session on it)."
                ),
            ),
        ],
        responses={200: s.SchemaListSerializer, **ERROR_RESPONSES, **NOT_FOUND},
        tags=["schema"],
        operation_id="schema_tables_list",
        description=(
            "The tables and views of one of your connections, by name (fast on "
            "thousands of tables); describe one with /databases/{id}/schema/{table}."
        ),
    )
    def get(self, request: AuthenticatedRequest, db_id: int) -> Response:
        connection = connection_get_for_user(
            user=request.user, connection_id=db_id, need=ConnectionAccess.USE
        )
        if request.query_params.get("refresh", "").lower() in {"1", "true"}:
            schema_refresh(connection=connection)
        tables = schema_tables(
            user=request.user,
            connection=connection,
            search=request.query_params.get("q", ""),
        )
        suggest = request.query_params.get("suggest", "").lower() in {"1", "true"}
        suggestions = (
            questions_suggest(user=request.user, connection=connection)
            if suggest
            else []
        )
        body = {
            "tables": [{"name": t.name, "kind": t.kind} for t in tables],
            "count": len(tables),
            "suggested_questions": suggestions,
        }
        return Response(body)


class SchemaTableApi(APIView):
    token_scopes = {"GET": TokenScope.ASK}

    @extend_schema(
        responses={200: s.SchemaTableDetailSerializer, **ERROR_RESPONSES, **NOT_FOUND},
        tags=["schema"],
        operation_id="schema_table_retrieve",
    )
    def get(self, request: AuthenticatedRequest, db_id: int, table: str) -> Response:
        connection = connection_get_for_user(
            user=request.user, connection_id=db_id, need=ConnectionAccess.USE
        )
        detail = schema_table_detail(
            user=request.user, connection=connection, table=table
        )
        if detail is None:
            raise NotFound(f"No table or view named {table!r}.")
        return Response(s.SchemaTableDetailSerializer(detail).data)
