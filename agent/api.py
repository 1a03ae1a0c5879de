"""JSON API for asking questions and reading threads."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import TokenScope
from agent import serializers as s
from agent.pagination import ThreadPagination, TurnPagination, page_parameters
from agent.schema_browser import (
    questions_suggest,
    schema_table_detail,
    schema_tables,
)
from agent.selectors import thread_get_for_user, thread_list_for_user
from agent.services import (
    thread_ask,
    thread_delete,
    thread_rename,
    thread_run_sql,
)
from connections.selectors import connection_get_for_user
from sqlagent_project.schema import ERROR_RESPONSES, NOT_FOUND, error


class AskApi(APIView):
    throttle_scope = "ask"
    token_scopes = {"POST": TokenScope.ASK}

    @extend_schema(
        request=s.AskInputSerializer,
        responses={
            200: s.AskOutputSerializer,
            **ERROR_RESPONSES,
            409: error("No database connected for this session."),
            422: error("The agent could not reach an answer within its step limit."),
            502: error("The LLM or the database could not be reached."),
            503: error("No LLM is configured."),
            504: error("The LLM did not answer in time."),
        },
        tags=["ask"],
    )
    def post(self, request: Request) -> Response:
        serializer = s.AskInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        turn = thread_ask(
            user=request.user, question=serializer.validated_data["question"]
        )
        return Response(s.AskOutputSerializer(turn).data)


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
    def post(self, request: Request) -> Response:
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
    def get(self, request: Request) -> Response:
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
    def get(self, request: Request, thread_id: str) -> Response:
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
    def patch(self, request: Request, thread_id: str) -> Response:
        thread = thread_get_for_user(user=request.user, thread_id=thread_id)
        serializer = s.ThreadRenameSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        thread = thread_rename(thread=thread, title=serializer.validated_data["title"])
        listed = thread_list_for_user(user=request.user).get(pk=thread.pk)
        return Response(s.ThreadSerializer(listed).data)

    @extend_schema(
        responses={204: None, **ERROR_RESPONSES, **NOT_FOUND}, tags=["threads"]
    )
    def delete(self, request: Request, thread_id: str) -> Response:
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
        ],
        responses={200: s.SchemaListSerializer, **ERROR_RESPONSES, **NOT_FOUND},
        tags=["schema"],
        operation_id="schema_tables_list",
        description=(
            "The tables and views of one of your connections, by name (fast on "
            "thousands of tables); describe one with /databases/{id}/schema/{table}."
        ),
    )
    def get(self, request: Request, db_id: int) -> Response:
        connection = connection_get_for_user(user=request.user, connection_id=db_id)
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
    def get(self, request: Request, db_id: int, table: str) -> Response:
        connection = connection_get_for_user(user=request.user, connection_id=db_id)
        detail = schema_table_detail(
            user=request.user, connection=connection, table=table
        )
        if detail is None:
            raise NotFound(f"No table or view named {table!r}.")
        return Response(s.SchemaTableDetailSerializer(detail).data)
