"""JSON API for what a team shares: answers shared with it, and its activity."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import TokenScope
from accounts.types import AuthenticatedRequest
from agent.models import Turn, TurnShare
from agent.pagination import TurnPagination, page_parameters
from agent.selectors import (
    shared_turn_get_for_user,
    team_activity_for_admin,
    turn_get_for_user,
)
from agent.serializers import TurnSerializer
from agent.sharing import turn_share
from sqlagent_project.schema import ERROR_RESPONSES, NOT_FOUND, error


class ShareOutputSerializer(serializers.Serializer):
    token = serializers.CharField()
    url = serializers.CharField(help_text="The page every member of the team opens.")
    api_url = serializers.CharField(help_text="The same answer as JSON.")
    team_id = serializers.IntegerField()
    turn_id = serializers.IntegerField()

    @staticmethod
    def of(share: TurnShare) -> dict[str, Any]:
        return {
            "token": share.token,
            "url": reverse("shared-turn-page", args=[share.token]),
            "api_url": reverse("shared-turn", args=[share.token]),
            "team_id": share.team_id,
            "turn_id": share.turn_id,
        }


class SharedTurnSerializer(serializers.Serializer):
    team_id = serializers.IntegerField()
    shared_by = serializers.EmailField(allow_null=True)
    asked_by = serializers.EmailField()
    turn = TurnSerializer()


class ActivityUserSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    email = serializers.EmailField()
    name = serializers.CharField()


class ActivitySerializer(serializers.ModelSerializer):
    """One ask on a team connection, as the team's admins see it."""

    turn_id = serializers.IntegerField(source="id")
    user = ActivityUserSerializer(source="thread.user")
    db_id = serializers.IntegerField(source="thread.db_connection_id")
    sql = serializers.SerializerMethodField()
    outcome = serializers.CharField(source="status")
    tokens = serializers.SerializerMethodField()

    class Meta:
        model = Turn
        fields = [
            "turn_id",
            "user",
            "db_id",
            "question",
            "source",
            "sql",
            "outcome",
            "error_code",
            "created_at",
            "duration_ms",
            "tokens",
        ]
        read_only_fields = fields

    def get_sql(self, turn: Turn) -> list[str]:
        return [str(q["sql"]) for q in turn.queries or [] if q.get("sql")]

    def get_tokens(self, turn: Turn) -> int:
        return turn.prompt_tokens + turn.completion_tokens


class TurnShareApi(APIView):
    token_scopes = {"POST": TokenScope.ASK}

    @extend_schema(
        request=None,
        responses={
            201: ShareOutputSerializer,
            **ERROR_RESPONSES,
            **NOT_FOUND,
            400: error("The answer is not on a team connection."),
        },
        tags=["teams"],
        description=(
            "Share one of your answers on a team connection with that team: a "
            "link its members (and nobody else) open read-only."
        ),
    )
    def post(self, request: AuthenticatedRequest, turn_id: int) -> Response:
        turn = turn_get_for_user(user=request.user, turn_id=turn_id)
        share = turn_share(user=request.user, turn=turn)
        return Response(
            ShareOutputSerializer(ShareOutputSerializer.of(share)).data, 201
        )


class SharedTurnApi(APIView):
    token_scopes = {"GET": TokenScope.ASK}

    @extend_schema(
        responses={200: SharedTurnSerializer, **ERROR_RESPONSES, **NOT_FOUND},
        tags=["teams"],
        description="An answer shared with one of your teams, read-only.",
    )
    def get(self, request: AuthenticatedRequest, token: str) -> Response:
        share = shared_turn_get_for_user(user=request.user, token=token)
        body = {
            "team_id": share.team_id,
            "shared_by": share.shared_by.email if share.shared_by else None,
            "asked_by": share.turn.thread.user.email,
            "turn": share.turn,
        }
        return Response(SharedTurnSerializer(body).data)


class TeamActivityApi(APIView):
    token_scopes = {"GET": TokenScope.ASK}

    @extend_schema(
        parameters=page_parameters(TurnPagination),
        responses={
            200: ActivitySerializer(many=True),
            **ERROR_RESPONSES,
            **NOT_FOUND,
            403: error("Only a team admin sees its activity."),
        },
        tags=["teams"],
        description=(
            "Who asked what on the team's connections, newest first (admins): "
            "user, question, SQL, outcome, time, tokens."
        ),
    )
    def get(self, request: AuthenticatedRequest, team_id: int) -> Response:
        turns = team_activity_for_admin(user=request.user, team_id=team_id)
        paginator = TurnPagination()
        page = paginator.paginate_queryset(turns, request, view=self)
        return paginator.get_paginated_response(
            ActivitySerializer(page, many=True).data
        )
