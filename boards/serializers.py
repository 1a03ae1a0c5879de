"""Input and output shapes of the boards API."""

from __future__ import annotations

from rest_framework import serializers


class BoardInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    team_id = serializers.IntegerField(required=False, allow_null=True)


class BoardSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    team_id = serializers.SerializerMethodField()
    tile_count = serializers.IntegerField(required=False)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def get_team_id(self, board: object) -> int | None:
        return None  # personal boards only: teams do not exist on this branch


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
