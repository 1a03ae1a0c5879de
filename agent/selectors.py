"""Reads on threads and turns, always scoped to their owner."""

from __future__ import annotations

import uuid
from datetime import timedelta

from django.db.models import Count, QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone

from accounts.models import User
from agent.models import Thread, Turn


def thread_list_for_user(*, user: User) -> QuerySet[Thread]:
    """Return the user's threads, most recently active first."""
    return (
        Thread.objects.filter(user=user)
        .select_related("db_connection")
        .annotate(turn_count=Count("turns"))
        .order_by("-updated_at", "-created_at")
    )


def thread_get_for_user(*, user: User, thread_id: uuid.UUID | str) -> Thread:
    """Return one of the user's threads; anyone else's is a 404."""
    try:
        thread_uuid = uuid.UUID(str(thread_id))
    except ValueError:
        thread_uuid = None
    return get_object_or_404(
        Thread.objects.filter(user=user).select_related("db_connection"), pk=thread_uuid
    )


def turn_get_for_user(*, user: User, turn_id: int) -> Turn:
    """Return one of the user's turns; anyone else's is a 404."""
    return get_object_or_404(
        Turn.objects.filter(thread__user=user).select_related("thread"), pk=turn_id
    )


def turn_latest_for_user(*, user: User) -> Turn | None:
    """Return the user's most recent turn, if any."""
    return Turn.objects.filter(thread__user=user).order_by("-id").first()


def thread_groups_for_user(
    *, user: User, search: str = "", limit: int = 50
) -> list[tuple[str, list[Thread]]]:
    """Return the user's latest threads (titles matching `search`), grouped by
    when they were last active: Today, Yesterday, Previous 7 days, Older."""
    threads = thread_list_for_user(user=user)
    if search.strip():
        threads = threads.filter(title__icontains=search.strip())
    today = timezone.localdate()
    groups: dict[str, list[Thread]] = {}
    for thread in threads[:limit]:
        day = timezone.localdate(thread.updated_at)
        if day >= today:
            label = "Today"
        elif day >= today - timedelta(days=1):
            label = "Yesterday"
        elif day >= today - timedelta(days=7):
            label = "Previous 7 days"
        else:
            label = "Older"
        groups.setdefault(label, []).append(thread)
    return list(groups.items())
