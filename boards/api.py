"""JSON API for boards: list and create, pin a turn, open one (fresh rows)."""

from __future__ import annotations

import dataclasses

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import TokenScope
from accounts.types import AuthenticatedRequest
from agent.selectors import turn_get_for_user
from boards import serializers as s
from boards.exceptions import BoardNameInvalid
from boards.selectors import board_get_for_user, board_list_for_user
from boards.services import board_create, board_tiles_refresh, tile_add
from sqlagent_project.schema import ERROR_RESPONSES, NOT_FOUND

TAGS = ["boards"]


class BoardListApi(APIView):
    token_scopes = {"GET": TokenScope.ASK, "POST": TokenScope.ASK}

    @extend_schema(
        responses={200: s.BoardSerializer(many=True), **ERROR_RESPONSES}, tags=TAGS
    )
    def get(self, request: AuthenticatedRequest) -> Response:
        boards = board_list_for_user(user=request.user)
        return Response(s.BoardSerializer(boards, many=True).data)

    @extend_schema(
        request=s.BoardInputSerializer,
        responses={201: s.BoardSerializer, **ERROR_RESPONSES},
        tags=TAGS,
        description="Create a personal board. `team_id` is refused: boards are "
        "personal in this version.",
    )
    def post(self, request: AuthenticatedRequest) -> Response:
        serializer = s.BoardInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        if serializer.validated_data.get("team_id") is not None:
            raise BoardNameInvalid("Boards are personal here: team_id is not taken.")
        board = board_create(owner=request.user, name=serializer.validated_data["name"])
        return Response(s.BoardSerializer(board).data, status=status.HTTP_201_CREATED)


class BoardDetailApi(APIView):
    token_scopes = {"GET": TokenScope.ASK}

    @extend_schema(
        responses={200: s.BoardDetailSerializer, **ERROR_RESPONSES, **NOT_FOUND},
        tags=TAGS,
        description="The board with each tile's SQL run again now (read-only, "
        "bounded, never the model): fresh rows and chart, or the tile's error.",
    )
    def get(self, request: AuthenticatedRequest, board_id: int) -> Response:
        board = board_get_for_user(user=request.user, board_id=board_id)
        tiles = [dataclasses.asdict(t) for t in board_tiles_refresh(board=board)]
        data = {**s.BoardSerializer(board).data, "tiles": tiles}
        return Response(s.BoardDetailSerializer(data).data)


class BoardTilesApi(APIView):
    token_scopes = {"POST": TokenScope.ASK}

    @extend_schema(
        request=s.TileInputSerializer,
        responses={201: s.TileCreatedSerializer, **ERROR_RESPONSES, **NOT_FOUND},
        tags=TAGS,
        description="Pin one of your turns (its SQL and chart) to the board.",
    )
    def post(self, request: AuthenticatedRequest, board_id: int) -> Response:
        board = board_get_for_user(user=request.user, board_id=board_id)
        serializer = s.TileInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        turn = turn_get_for_user(
            user=request.user, turn_id=serializer.validated_data["turn_id"]
        )
        tile = tile_add(board=board, turn=turn)
        return Response(
            {"id": tile.pk, "board_id": board.pk, "title": tile.title, "sql": tile.sql},
            status=status.HTTP_201_CREATED,
        )
