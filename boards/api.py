"""JSON API for boards: list and create (personal or a team's), pin a turn,
open one (fresh rows under the caller's rights), rename and delete."""

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
from boards.selectors import (
    board_get_for_change,
    board_get_for_user,
    board_list_for_user,
    team_get_for_board_create,
)
from boards.services import (
    board_create,
    board_delete,
    board_rename,
    board_tiles_refresh,
    tile_add,
)
from sqlagent_project.schema import ERROR_RESPONSES, NOT_FOUND, error

TAGS = ["boards"]
_ROLE_403 = {403: error("Your role in this team does not allow this.")}


class BoardListApi(APIView):
    token_scopes = {"GET": TokenScope.ASK, "POST": TokenScope.ASK}

    @extend_schema(
        responses={200: s.BoardSerializer(many=True), **ERROR_RESPONSES}, tags=TAGS
    )
    def get(self, request: AuthenticatedRequest) -> Response:
        boards = board_list_for_user(user=request.user)
        context = {"user": request.user}
        return Response(s.BoardSerializer(boards, many=True, context=context).data)

    @extend_schema(
        request=s.BoardInputSerializer,
        responses={201: s.BoardSerializer, **ERROR_RESPONSES, **_ROLE_403, **NOT_FOUND},
        tags=TAGS,
        description="Create a personal board, or with `team_id` a board every "
        "member of that team reads (admins and analysts create them; a viewer "
        "gets 403 `team_role_required`, a non-member 404).",
    )
    def post(self, request: AuthenticatedRequest) -> Response:
        serializer = s.BoardInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        team_id = serializer.validated_data.get("team_id")
        team = None
        if team_id is not None:
            team = team_get_for_board_create(user=request.user, team_id=team_id)
        board = board_create(
            owner=request.user, name=serializer.validated_data["name"], team=team
        )
        board = board_get_for_user(user=request.user, board_id=board.pk)
        return Response(
            s.BoardSerializer(board, context={"user": request.user}).data,
            status=status.HTTP_201_CREATED,
        )


class BoardDetailApi(APIView):
    token_scopes = {
        "GET": TokenScope.ASK,
        "PATCH": TokenScope.ASK,
        "DELETE": TokenScope.ASK,
    }

    @extend_schema(
        responses={200: s.BoardDetailSerializer, **ERROR_RESPONSES, **NOT_FOUND},
        tags=TAGS,
        description="The board with each tile's SQL run again now (read-only, "
        "bounded, never the model): fresh rows and chart, or the tile's error.",
    )
    def get(self, request: AuthenticatedRequest, board_id: int) -> Response:
        board = board_get_for_user(user=request.user, board_id=board_id)
        refreshed = board_tiles_refresh(board=board, viewer=request.user)
        tiles = [dataclasses.asdict(t) for t in refreshed]
        data = s.BoardSerializer(board, context={"user": request.user}).data
        return Response({**data, "tiles": s.TileSerializer(tiles, many=True).data})

    @extend_schema(
        request=s.BoardRenameSerializer,
        responses={200: s.BoardSerializer, **ERROR_RESPONSES, **_ROLE_403, **NOT_FOUND},
        tags=TAGS,
        description="Rename the board (a team board: its creator or a team admin).",
    )
    def patch(self, request: AuthenticatedRequest, board_id: int) -> Response:
        board = board_get_for_change(user=request.user, board_id=board_id)
        serializer = s.BoardRenameSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        board = board_rename(board=board, name=serializer.validated_data["name"])
        return Response(s.BoardSerializer(board, context={"user": request.user}).data)

    @extend_schema(
        responses={204: None, **ERROR_RESPONSES, **_ROLE_403, **NOT_FOUND},
        tags=TAGS,
        description="Delete the board and its tiles (a team board: its creator "
        "or a team admin).",
    )
    def delete(self, request: AuthenticatedRequest, board_id: int) -> Response:
        board = board_get_for_change(user=request.user, board_id=board_id)
        board_delete(board=board)
        return Response(status=status.HTTP_204_NO_CONTENT)


class BoardTilesApi(APIView):
    token_scopes = {"POST": TokenScope.ASK}

    @extend_schema(
        request=s.TileInputSerializer,
        responses={
            201: s.TileCreatedSerializer,
            **ERROR_RESPONSES,
            **_ROLE_403,
            **NOT_FOUND,
        },
        tags=TAGS,
        description="Pin one of your turns (its SQL and chart) to the board; a "
        "team board takes turns on that team's connections only (400 otherwise) "
        "from its creator or a team admin (403 for other members).",
    )
    def post(self, request: AuthenticatedRequest, board_id: int) -> Response:
        board = board_get_for_change(user=request.user, board_id=board_id)
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
