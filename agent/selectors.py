"""Reads on threads and turns, always scoped to their owner (and, on a team
connection, to its members: a member who left no longer reads them)."""

from __future__ import annotations

import uuid
from datetime import timedelta

from django.db.models import Count, F, Q, QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone

from accounts.models import User
from agent.models import Thread, Turn, TurnShare
from connections.selectors import connection_reachable_q
from teams.selectors import team_get_for_user, team_ids_for_user


def _threads(user: User) -> QuerySet[Thread]:
    reachable = connection_reachable_q(user=user, via="db_connection__", or_none=True)
    return Thread.objects.filter(reachable, user=user)


def thread_list_for_user(*, user: User) -> QuerySet[Thread]:
    """Return the user's threads, most recently active first."""
    return (
        _threads(user)
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
        _threads(user).select_related("db_connection"), pk=thread_uuid
    )


def turn_get_for_user(*, user: User, turn_id: int) -> Turn:
    """Return one of the user's turns; anyone else's is a 404."""
    return get_object_or_404(
        Turn.objects.filter(thread__in=_threads(user)).select_related("thread"),
        pk=turn_id,
    )


def _shares_for_user(user: User) -> QuerySet[TurnShare]:
    # Shares with the user's teams whose turn is still on that team's connection
    # (a deleted connection, or a member who left, ends the link for them).
    teams = team_ids_for_user(user=user)
    return TurnShare.objects.filter(
        team_id__in=teams, turn__thread__db_connection__team_id=F("team_id")
    )


def shared_turn_get_for_user(*, user: User, token: str) -> TurnShare:
    """Return a turn shared with one of the user's teams; anyone else gets a 404."""
    return get_object_or_404(
        _shares_for_user(user).select_related("turn__thread__user", "team"),
        token=token,
    )


def turn_get_readable(*, user: User, turn_id: int) -> Turn:
    """Return a turn the user may read: their own, or one shared with their team."""
    own = Q(thread__in=_threads(user))
    shared = Q(pk__in=_shares_for_user(user).values("turn_id"))
    return get_object_or_404(
        Turn.objects.filter(own | shared).select_related("thread"), pk=turn_id
    )


def team_turns_q(*, team_id: int) -> Q:
    """Return the filter for turns that are a team's: asked on one of its
    connections since it joined the team (not its owner's earlier own, nor
    another team's before it moved)."""
    return Q(thread__db_connection__team_id=team_id) & (
        Q(created_at__gte=F("thread__db_connection__team_since"))
        | Q(thread__db_connection__team_since__isnull=True)
    )


def team_activity_for_admin(*, user: User, team_id: int) -> QuerySet[Turn]:
    """Return the turns asked on a team's connections, newest first (admins only)."""
    team = team_get_for_user(user=user, team_id=team_id, admin=True)
    return (
        Turn.objects.filter(team_turns_q(team_id=team.pk))
        .select_related("thread__user", "thread__db_connection")
        .order_by("-created_at", "-id")
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
