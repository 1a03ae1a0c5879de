"""Reads on teams, scoped to their members: the one place team rules live.

Anyone who is not a member gets a 404 for the team and everything under it,
as for another user's objects; a member whose role does not allow an action
gets a 403 (`team_role_required`).
"""

from __future__ import annotations

from django.db.models import OuterRef, QuerySet, Subquery
from django.http import Http404

from accounts.models import User
from teams.exceptions import TeamRoleRequired
from teams.models import Invitation, Membership, Team, TeamRole


def team_ids_for_user(*, user: User) -> QuerySet[Membership, int]:
    """Return the ids of the user's teams, as a subquery (`team_id__in=`)."""
    return Membership.objects.filter(user_id=user.pk).values_list("team_id", flat=True)


def team_list_for_user(*, user: User) -> QuerySet[Team]:
    """Return the user's teams, each annotated with the user's `role` in it."""
    role = Membership.objects.filter(team_id=OuterRef("pk"), user_id=user.pk).values(
        "role"
    )[:1]
    return (
        Team.objects.filter(pk__in=team_ids_for_user(user=user))
        .annotate(role=Subquery(role))
        .order_by("id")
    )


def team_list_for_admin(*, user: User) -> QuerySet[Team]:
    """Return the teams the user is an admin of (where they may share a database)."""
    admin_of = Membership.objects.filter(
        user_id=user.pk, role=TeamRole.ADMIN
    ).values_list("team_id", flat=True)
    return team_list_for_user(user=user).filter(pk__in=admin_of)


def team_get_for_user(*, user: User, team_id: int, admin: bool = False) -> Team:
    """Return one of the user's teams with their `role`; a non-member gets a 404,
    and a member who is not an admin a 403 when `admin` is asked for."""
    team = team_list_for_user(user=user).filter(pk=team_id).first()
    if team is None:
        raise Http404("No team matches the given query.")
    if admin and team.role != TeamRole.ADMIN:  # type: ignore[attr-defined]
        raise TeamRoleRequired("Only a team admin can do this.")
    return team


def team_role_for_user(*, user: User, team_id: int) -> str | None:
    """Return the user's role in the team, or None when they are not a member."""
    return (
        Membership.objects.filter(team_id=team_id, user_id=user.pk)
        .values_list("role", flat=True)
        .first()
    )


def membership_list_for_team(*, team: Team) -> QuerySet[Membership]:
    """Return the team's members with their users, oldest membership first."""
    return team.memberships.select_related("user").order_by("id")


def invitation_list_for_team(*, team: Team) -> QuerySet[Invitation]:
    """Return the team's pending invitations, oldest first."""
    return team.invitations.order_by("id")


def membership_get_for_change(
    *, actor: User, team_id: int, user_id: int, leaving: bool = False
) -> Membership:
    """Return the membership `actor` may change: any, for an admin; their own,
    when `leaving` and they are a member. Non-members of the team get a 404."""
    team = team_get_for_user(user=actor, team_id=team_id)
    own = user_id == actor.pk
    if not (leaving and own):
        team_get_for_user(user=actor, team_id=team_id, admin=True)
    membership = (
        Membership.objects.filter(team=team, user_id=user_id)
        .select_related("user", "team")
        .first()
    )
    if membership is None:
        raise Http404("No member matches the given query.")
    return membership


def invitation_get_for_admin(
    *, actor: User, team_id: int, invitation_id: int
) -> Invitation:
    """Return one pending invitation of a team `actor` administers."""
    team = team_get_for_user(user=actor, team_id=team_id, admin=True)
    invitation = team.invitations.filter(pk=invitation_id).first()
    if invitation is None:
        raise Http404("No invitation matches the given query.")
    return invitation
