"""Daily budgets of asks and model tokens, per user and per team.

Usage is read from the turns themselves (each ask is a turn with its recorded
tokens), so there is no second counter to drift, and a failed ask counts what
it really used, once. A day is a UTC day; a limit of 0 is no limit.

Counting and then recording a turn is a race between two asks at once (one
user's, or two members' of a team) with one ask left: both could count before
either records. `budget_claimed` makes the two one step, under a row lock on the
user (and the team) in the shared app database, so it holds across processes.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Count, F, Q, Sum
from django.utils import timezone

from accounts.models import User
from agent.models import Turn, TurnSource
from agent.selectors import team_turns_q
from connections.models import DatabaseConnection
from sqlagent_project import capacity
from sqlagent_project.errors import ApplicationError
from teams.models import Team
from teams.selectors import team_list_for_user


class BudgetSpent(ApplicationError):
    """The day's asks or model tokens are spent; they come back at `resets_at`."""

    status_code = 429
    code = "budget_spent"
    default_message = "Today's budget of questions is spent."


@dataclass(frozen=True)
class Allowance:
    """A budget of one day and what is used of it (a None limit: no limit)."""

    asks_limit: int | None
    asks_used: int
    tokens_limit: int | None
    tokens_used: int
    resets_at: datetime

    @property
    def asks_left(self) -> int | None:
        return _left(self.asks_limit, self.asks_used)

    @property
    def tokens_left(self) -> int | None:
        return _left(self.tokens_limit, self.tokens_used)

    @property
    def spent(self) -> bool:
        return self.asks_left == 0 or self.tokens_left == 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "asks_limit": self.asks_limit,
            "asks_used": self.asks_used,
            "asks_left": self.asks_left,
            "tokens_limit": self.tokens_limit,
            "tokens_used": self.tokens_used,
            "tokens_left": self.tokens_left,
            "resets_at": self.resets_at.isoformat(),
        }


def _left(limit: int | None, used: int) -> int | None:
    return None if limit is None else max(limit - used, 0)


def _limit(value: int | None) -> int | None:
    return value if value else None


def _day(now: datetime) -> tuple[datetime, datetime]:
    start = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return start, start + timedelta(days=1)


def _allowance(
    turns: Q, *, asks_limit: int | None, tokens_limit: int | None
) -> Allowance:
    start, resets_at = _day(timezone.now())
    if asks_limit is None and tokens_limit is None:
        # Nothing to count against: no query.
        return Allowance(None, 0, None, 0, resets_at)
    used = Turn.objects.filter(
        turns, source=TurnSource.ASK, created_at__gte=start
    ).aggregate(
        asks=Count("id"),
        tokens=Sum(F("prompt_tokens") + F("completion_tokens")),
    )
    return Allowance(
        asks_limit=asks_limit,
        asks_used=used["asks"] or 0,
        tokens_limit=tokens_limit,
        tokens_used=used["tokens"] or 0,
        resets_at=resets_at,
    )


def _user_limits() -> tuple[int | None, int | None]:
    return (
        _limit(settings.BUDGET_USER_ASKS_PER_DAY),
        _limit(settings.BUDGET_USER_TOKENS_PER_DAY),
    )


def _team_limits(team: Team) -> tuple[int | None, int | None]:
    asks = team.asks_per_day
    tokens = team.tokens_per_day
    return (
        _limit(settings.BUDGET_TEAM_ASKS_PER_DAY if asks is None else asks),
        _limit(settings.BUDGET_TEAM_TOKENS_PER_DAY if tokens is None else tokens),
    )


def user_allowance(*, user: User) -> Allowance:
    """Return the user's budget for today (every ask of theirs counts)."""
    asks, tokens = _user_limits()
    return _allowance(Q(thread__user_id=user.pk), asks_limit=asks, tokens_limit=tokens)


def team_allowance(*, team: Team) -> Allowance:
    """Return the team's budget for today (asks on its connections, by anyone);
    its own limits where its admins set them, else the settings' defaults."""
    asks, tokens = _team_limits(team)
    return _allowance(
        team_turns_q(team_id=team.pk), asks_limit=asks, tokens_limit=tokens
    )


def _refuse_if_spent(whose: str, allowance: Allowance) -> None:
    if not allowance.spent:
        return
    wait = (allowance.resets_at - timezone.now()).total_seconds()
    error = BudgetSpent(
        f"{whose} budget of questions for today is spent; it resets at "
        f"{allowance.resets_at.isoformat()}.",
        extra={"resets_at": allowance.resets_at.isoformat()},
    )
    error.retry_after = max(math.ceil(wait), 1)
    raise error


@contextmanager
def budget_claimed(
    *, user: User, connection: DatabaseConnection | None
) -> Iterator[None]:
    """Refuse (429 `budget_spent`) an ask once the user's, or the team's on a team
    connection, budget of the day is spent; else run the block, which records
    the ask's turn, before anyone else's ask can count.

    The count and the block are one transaction holding a row lock on the user
    (and on the team) that every process's ask takes first: a second ask waits
    until the first one's turn is committed, so it counts it. The lock lasts
    that short transaction, never the model call. Waiting for it is a wait: the
    ask's CPU slot is given up meanwhile, and taken back only after the commit
    (never queue for a slot holding an app-database connection, capacity.py).
    With no limit set nothing is counted or locked.

    Tokens are known only once an ask ends: asks already running when the last
    token is spent still finish, and the next ask is refused.
    """
    # The session's connection comes with its team (one query for both).
    team = connection.team if connection is not None else None
    user_limited = _user_limits() != (None, None)
    team_limited = team is not None and _team_limits(team) != (None, None)
    if not (user_limited or team_limited):
        yield
        return
    with capacity.cpu_released(), transaction.atomic():
        capacity.wait_check("budget lock")
        # Always the user's row before the team's: no two asks wait on each
        # other's lock in opposite order.
        if user_limited:
            list(User.objects.select_for_update().filter(pk=user.pk).values("pk"))
            _refuse_if_spent("Your", user_allowance(user=user))
        if team is not None and team_limited:
            # Read again under the lock: its admins may have just changed it.
            team = Team.objects.select_for_update().get(pk=team.pk)
            _refuse_if_spent(f"The team {team.name}'s", team_allowance(team=team))
        yield


def _left_text(allowance: Allowance) -> str:
    parts = []
    if allowance.asks_left is not None:
        parts.append(
            f"{allowance.asks_left} question{'' if allowance.asks_left == 1 else 's'}"
        )
    if allowance.tokens_left is not None:
        parts.append(f"{allowance.tokens_left:,} model tokens")
    return " and ".join(parts)


def budget_note(*, user: User, connection: DatabaseConnection | None) -> str:
    """Say what is left today for the chat page (empty when nothing is limited)."""
    notes = []
    mine = _left_text(user_allowance(user=user))
    if mine:
        notes.append(f"{mine} left today")
    team = connection.team if connection is not None else None
    if team is not None:
        theirs = _left_text(team_allowance(team=team))
        if theirs:
            notes.append(f"the team {team.name}: {theirs} left today")
    return "; ".join(notes)


def budgets_for_user(user: User) -> dict[str, Any]:
    """Return what is left today for the user and each of their teams."""
    return {
        "budget": {
            "user": user_allowance(user=user).as_dict(),
            "teams": [
                {"team_id": team.pk, **team_allowance(team=team).as_dict()}
                for team in team_list_for_user(user=user)
            ],
        }
    }
