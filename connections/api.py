"""JSON API for connections, sessions and health."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import DatabaseError
from django.db import connection as app_db
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers as drf_serializers
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import TokenScope
from accounts.types import AuthenticatedRequest
from connections import serializers as s
from connections import services
from connections.selectors import (
    ConnectionAccess,
    connection_get_for_user,
    connection_list_for_user,
    connection_move_target_for_user,
)
from sqlagent_project.queue import queue_health
from sqlagent_project.schema import ERROR_RESPONSES, NOT_FOUND, error
from teams.models import TeamRole
from teams.selectors import team_get_for_user

TAGS = ["databases"]
# Access tokens may read connections and connect; only a password login
# (JWT or browser session) may add, change or delete one.
_READ = {"GET": TokenScope.ASK}


class ConnectionListApi(APIView):
    token_scopes = _READ

    @extend_schema(
        responses={200: s.ConnectionOutputSerializer(many=True), **ERROR_RESPONSES},
        tags=TAGS,
    )
    def get(self, request: AuthenticatedRequest) -> Response:
        connections = connection_list_for_user(user=request.user)
        return Response(s.ConnectionOutputSerializer(connections, many=True).data)


class ConnectionCreateApi(APIView):
    @extend_schema(
        request=s.ConnectionCreateInputSerializer,
        responses={
            201: s.ConnectionCreatedSerializer,
            **ERROR_RESPONSES,
            **NOT_FOUND,
            403: error("Only a team's admins may add connections to it."),
        },
        tags=TAGS,
    )
    def post(self, request: AuthenticatedRequest) -> Response:
        serializer = s.ConnectionCreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        fields = dict(serializer.validated_data)
        team_id = fields.pop("team_id")
        team = (
            None
            if team_id is None
            else team_get_for_user(user=request.user, team_id=team_id, admin=True)
        )
        connection = services.connection_create(owner=request.user, team=team, **fields)
        # The creator of a team connection is an admin of its team.
        connection.team_role = TeamRole.ADMIN if team else None  # type: ignore[attr-defined]
        body = {
            "message": "Database connection added.",
            "db_connection": s.ConnectionOutputSerializer(connection).data,
        }
        return Response(body, status=status.HTTP_201_CREATED)


class ConnectionDetailApi(APIView):
    token_scopes = _READ

    @extend_schema(
        responses={200: s.ConnectionOutputSerializer, **ERROR_RESPONSES, **NOT_FOUND},
        tags=TAGS,
    )
    def get(self, request: AuthenticatedRequest, db_id: int) -> Response:
        connection = connection_get_for_user(user=request.user, connection_id=db_id)
        return Response(s.ConnectionOutputSerializer(connection).data)

    @extend_schema(
        request=s.ConnectionUpdateInputSerializer(partial=True),
        responses={
            200: s.ConnectionOutputSerializer,
            **ERROR_RESPONSES,
            **NOT_FOUND,
            403: error(
                "Only a team's admins change its connections or move one into "
                "a team; only its owner makes one personal again."
            ),
        },
        tags=TAGS,
    )
    def patch(self, request: AuthenticatedRequest, db_id: int) -> Response:
        connection = connection_get_for_user(user=request.user, connection_id=db_id)
        serializer = s.ConnectionUpdateInputSerializer(
            connection, data=request.data, partial=True
        )
        serializer.is_valid(raise_exception=True)
        fields = dict(serializer.validated_data)
        moving = "team_id" in fields
        team = None
        if moving:
            # Who may move it is checked before anything is written.
            team = connection_move_target_for_user(
                user=request.user, connection=connection, team_id=fields.pop("team_id")
            )
        connection = services.connection_update(connection=connection, **fields)
        if moving:
            connection = services.connection_move(connection=connection, team=team)
            # Whoever moves it is an admin of its team, or its owner.
            connection.team_role = TeamRole.ADMIN if team else None  # type: ignore[attr-defined]
        return Response(s.ConnectionOutputSerializer(connection).data)

    @extend_schema(responses={204: None, **ERROR_RESPONSES, **NOT_FOUND}, tags=TAGS)
    def delete(self, request: AuthenticatedRequest, db_id: int) -> Response:
        connection = connection_get_for_user(user=request.user, connection_id=db_id)
        services.connection_delete(connection=connection)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ConnectionTestApi(APIView):
    token_scopes = {"POST": TokenScope.ASK}

    @extend_schema(
        request=None,
        responses={200: s.ConnectionTestSerializer, **ERROR_RESPONSES, **NOT_FOUND},
        tags=TAGS,
    )
    def post(self, request: AuthenticatedRequest, db_id: int) -> Response:
        connection = connection_get_for_user(user=request.user, connection_id=db_id)
        check = services.connection_test(connection=connection)
        if check.ok:
            body = {
                "ok": True,
                "latency_ms": check.latency_ms,
                "server_version": check.server_version,
                "warnings": list(check.warnings),
            }
        else:
            body = {"ok": False, "error": check.error}
        return Response(body)


class SessionConnectApi(APIView):
    token_scopes = {"POST": TokenScope.ASK}

    @extend_schema(
        request=None,
        responses={
            200: s.ConnectResultSerializer,
            **ERROR_RESPONSES,
            **NOT_FOUND,
            403: error("The role has more than read rights and policy refuses it."),
            502: error("The database could not be reached or refused the credentials."),
        },
        tags=TAGS,
    )
    def post(self, request: AuthenticatedRequest, db_id: int) -> Response:
        connection = connection_get_for_user(
            user=request.user, connection_id=db_id, need=ConnectionAccess.USE
        )
        session = services.session_get_or_create_active(user=request.user)
        session = services.session_connect(session=session, connection=connection)
        body = {
            "message": f"Connected to {connection.database_name}.",
            "session_id": session.id,
            "thread_id": session.thread_id,
            "db_id": connection.id,
            "database_name": connection.database_name,
            "user_id": request.user.id,
            "warnings": session.warnings,
        }
        return Response(s.ConnectResultSerializer(body).data)


class SessionStatusApi(APIView):
    token_scopes = _READ

    @extend_schema(
        responses={200: s.SessionStatusSerializer, **ERROR_RESPONSES}, tags=TAGS
    )
    def get(self, request: AuthenticatedRequest) -> Response:
        session = services.session_get_or_create_active(user=request.user)
        return Response(s.SessionStatusSerializer(session).data)


class SessionDisconnectApi(APIView):
    token_scopes = {"POST": TokenScope.ASK}

    @extend_schema(
        request=None,
        responses={200: s.DisconnectResultSerializer, **ERROR_RESPONSES},
        tags=TAGS,
    )
    def post(self, request: AuthenticatedRequest) -> Response:
        session = services.session_get_or_create_active(user=request.user)
        session = services.session_disconnect(session=session)
        body = {
            "message": "Session disconnected; the next request starts a new session.",
            "session_id": session.id,
            "thread_id": session.thread_id,
            "user_id": request.user.id,
        }
        return Response(s.DisconnectResultSerializer(body).data)


def _app_database_state() -> str:
    try:
        with app_db.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError:
        return "unavailable"
    return "ok"


def _health_body() -> tuple[dict[str, Any], int]:
    database = _app_database_state()
    ok = database == "ok"
    body: dict[str, Any] = {
        "status": "ok" if ok else "degraded",
        "version": settings.VERSION,
        "database": database,
    }
    # With a broker: whether it answers and a worker was alive lately. The web
    # still serves without them, so they do not turn the status to 503.
    queue = queue_health()
    if queue is not None:
        body["queue"] = queue
    return body, status.HTTP_200_OK if ok else status.HTTP_503_SERVICE_UNAVAILABLE


class HealthApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(
        responses={200: s.HealthSerializer, 503: s.HealthSerializer}, tags=["health"]
    )
    def get(self, request: Request) -> Response:
        body, code = _health_body()
        return Response(body, status=code)


_HEALTH_SESSION = inline_serializer(
    name="HealthSession",
    fields={
        "status": drf_serializers.CharField(),
        "version": drf_serializers.CharField(),
        "database": drf_serializers.CharField(),
        "queue": s.QueueHealthSerializer(required=False),
        "session": s.SessionStatusSerializer(),
    },
)


class HealthSessionApi(APIView):
    token_scopes = _READ

    @extend_schema(
        responses={
            200: _HEALTH_SESSION,
            503: _HEALTH_SESSION,
            **ERROR_RESPONSES,
        },
        tags=["health"],
    )
    def get(self, request: AuthenticatedRequest) -> Response:
        body, code = _health_body()
        session = services.session_get_or_create_active(user=request.user)
        body["session"] = s.SessionStatusSerializer(session).data
        return Response(body, status=code)
