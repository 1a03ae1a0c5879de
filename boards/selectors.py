"""Reads on boards, scoped to who may reach them: the one place that says so.

A user reaches their personal boards and the boards of their teams. Every
member reads a team's board; its creator and the team's admins change it;
anyone else gets a 404, as for a board that never existed.
"""

from __future__ import annotations

from django.db.models import Count, OuterRef, Q, QuerySet, Subquery
from django.http import Http404

from accounts.models import User
from boards.models import Board
from teams.exceptions import TeamRoleRequired
from teams.models import Membership, Team, TeamRole
from teams.selectors import team_get_for_user, team_ids_for_user, team_list_for_user

# Roles that may create a team's board and pin to it: those who may at least
# propose (a viewer reads boards but makes none).
_ROLES_CREATING = frozenset({TeamRole.ADMIN, TeamRole.ANALYST})


def _reachable(user: User) -> QuerySet[Board]:
    role = Membership.objects.filter(
        team_id=OuterRef("team_id"), user_id=user.pk
    ).values("role")[:1]
    return (
        Board.objects.filter(
            Q(team__isnull=True, owner_id=user.pk)
            | Q(team_id__in=team_ids_for_user(user=user))
        )
        .select_related("team")
        .annotate(team_role=Subquery(role))
    )


def board_list_for_user(*, user: User) -> QuerySet[Board]:
    """Return the user's personal boards and their teams' boards, each with
    `tile_count` and the user's `team_role` (null for a personal board)."""
    return _reachable(user).annotate(tile_count=Count("tiles"))


def board_get_for_user(*, user: User, board_id: int) -> Board:
    """Return a board the user may read; anyone else's is a 404."""
    board = _reachable(user).filter(pk=board_id).first()
    if board is None:
        raise Http404("No Board matches the given query.")
    return board


def board_allows_change(board: Board, user: User) -> bool:
    """Whether `user` (who reaches the board) may pin to, rename or delete it:
    a personal board's owner; a team board's creator or the team's admins."""
    if board.team_id is None:
        return board.owner_id == user.pk
    role = getattr(board, "team_role", None)
    return role is not None and (board.owner_id == user.pk or role == TeamRole.ADMIN)


def board_get_for_change(*, user: User, board_id: int) -> Board:
    """Return a board the user may change: 404 if they do not reach it, 403
    (`team_role_required`) if it is their team's and they may only read it."""
    board = board_get_for_user(user=user, board_id=board_id)
    if not board_allows_change(board, user):
        raise TeamRoleRequired(
            "Only the board's creator or a team admin can change this board."
        )
    return board


def board_list_for_change(*, user: User) -> list[Board]:
    """Return the boards the user may pin to."""
    return [b for b in board_list_for_user(user=user) if board_allows_change(b, user)]


def team_list_for_board_create(*, user: User) -> QuerySet[Team]:
    """Return the teams in which the user may create a board."""
    return team_list_for_user(user=user).filter(
        pk__in=Membership.objects.filter(
            user_id=user.pk, role__in=_ROLES_CREATING
        ).values_list("team_id", flat=True)
    )


def team_get_for_board_create(*, user: User, team_id: int) -> Team:
    """Return the team a board is created in: 404 for a non-member, 403 for a
    member whose role may not create one (a viewer)."""
    team = team_get_for_user(user=user, team_id=team_id)
    if team.role not in _ROLES_CREATING:  # type: ignore[attr-defined]
        raise TeamRoleRequired("Viewers cannot create team boards.")
    return team
