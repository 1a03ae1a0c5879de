"""Input and output shapes of the boards API."""

from __future__ import annotations

from rest_framework import serializers

from boards.models import Board
from boards.selectors import board_allows_change


class BoardInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    team_id = serializers.IntegerField(required=False, allow_null=True)


class BoardRenameSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)


class BoardSerializer(serializers.Serializer):
    """A board as its reader sees it (`context["user"]`: who reads it)."""

    id = serializers.IntegerField()
    name = serializers.CharField()
    team_id = serializers.IntegerField(allow_null=True)
    team_name = serializers.CharField(source="team.name", allow_null=True, default=None)
    can_change = serializers.SerializerMethodField()
    tile_count = serializers.IntegerField(required=False)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def get_can_change(self, board: Board) -> bool:
        user = self.context.get("user")
        return user is not None and board_allows_change(board, user)


class TileInputSerializer(serializers.Serializer):
    turn_id = serializers.IntegerField()


class TileSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    sql = serializers.CharField()
    columns = serializers.ListField(child=serializers.CharField())
    rows = serializers.ListField(child=serializers.JSONField())
    row_count = serializers.IntegerField()
    truncated = serializers.BooleanField()
    chart = serializers.JSONField(allow_null=True)
    refreshed_at = serializers.DateTimeField()
    error = serializers.CharField(allow_null=True)


class BoardDetailSerializer(BoardSerializer):
    tiles = TileSerializer(many=True)


class TileCreatedSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    board_id = serializers.IntegerField()
    title = serializers.CharField()
    sql = serializers.CharField()
