"""Reads on boards, always scoped to their owner."""

from __future__ import annotations

from django.db.models import Count, QuerySet
from django.shortcuts import get_object_or_404

from accounts.models import User
from boards.models import Board


def board_list_for_user(*, user: User) -> QuerySet[Board]:
    """Return the user's boards, each with `tile_count`."""
    return Board.objects.filter(owner=user).annotate(tile_count=Count("tiles"))


def board_get_for_user(*, user: User, board_id: int) -> Board:
    """Return one of the user's boards; anyone else's is a 404."""
    return get_object_or_404(Board.objects.filter(owner=user), pk=board_id)
