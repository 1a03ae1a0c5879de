from __future__ import annotations

from django.contrib import admin

from boards.models import Board, Tile


@admin.register(Board)
class BoardAdmin(admin.ModelAdmin):
    list_display = ["name", "owner", "updated_at"]
    search_fields = ["name", "owner__email"]


@admin.register(Tile)
class TileAdmin(admin.ModelAdmin):
    list_display = ["title", "board", "connection", "created_at"]
    raw_id_fields = ["board", "connection", "turn"]
