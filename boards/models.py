"""Boards of saved answers: each tile keeps a turn's SQL and chart, and shows
today's rows whenever the board is opened."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from agent.models import Turn
from connections.models import DatabaseConnection
from teams.models import Team


class Board(models.Model):
    """A named set of tiles: personal to its owner, or a team's (every member
    reads it; its creator and the team's admins change it)."""

    # The creator: the only one who sees a personal board.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="boards"
    )
    # A team's board goes with its team (its tiles' connections go too).
    team = models.ForeignKey(
        Team, on_delete=models.CASCADE, null=True, blank=True, related_name="boards"
    )
    name = models.CharField(max_length=100)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class Tile(models.Model):
    """A pinned answer: the SQL and chart of a turn, run again on each view."""

    board = models.ForeignKey(Board, on_delete=models.CASCADE, related_name="tiles")
    # The SQL and its database are kept here: the tile outlives its conversation.
    connection = models.ForeignKey(
        DatabaseConnection, on_delete=models.CASCADE, related_name="tiles"
    )
    turn = models.ForeignKey(
        Turn, on_delete=models.SET_NULL, null=True, blank=True, related_name="tiles"
    )
    title = models.CharField(max_length=200)
    sql = models.TextField()
    chart = models.JSONField(null=True, blank=True)
    position = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.title
