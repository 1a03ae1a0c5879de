"""Reads on connections and sessions, always scoped to their owner."""

from __future__ import annotations

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404

from accounts.models import User
from connections.models import DatabaseConnection


def connection_list_for_user(*, user: User) -> QuerySet[DatabaseConnection]:
    """Return the user's own connections, oldest first."""
    return DatabaseConnection.objects.filter(owner=user).order_by("id")


def connection_get_for_user(*, user: User, connection_id: int) -> DatabaseConnection:
    """Return one of the user's connections; anyone else's is a 404."""
    return get_object_or_404(connection_list_for_user(user=user), pk=connection_id)
