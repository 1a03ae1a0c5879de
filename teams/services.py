"""Writes on teams, memberships and invitations."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.db import transaction

from accounts.models import User
from sqlagent_project.services import model_update
from teams.exceptions import AlreadyMember, LastAdmin
from teams.invitations import invitation_email_send
from teams.models import Invitation, Membership, Team, TeamRole
from teams.signals import membership_ended, team_deleting

logger = logging.getLogger(__name__)


@transaction.atomic
def team_create(*, user: User, name: str) -> Team:
    """Create a team with `user` as its first admin."""
    team = Team.objects.create(name=name)
    Membership.objects.create(team=team, user=user, role=TeamRole.ADMIN)
    team.role = TeamRole.ADMIN  # type: ignore[attr-defined]
    logger.info("team created id=%s by=%s", team.pk, user.pk)
    return team


def team_update(
    *,
    team: Team,
    name: str | None = None,
    **budgets: int | None,
) -> Team:
    """Rename a team or set its daily budgets (`asks_per_day`, `tokens_per_day`:
    None is the service's default, 0 no limit)."""
    unknown = set(budgets) - {"asks_per_day", "tokens_per_day"}
    if unknown:
        raise TypeError(f"Unknown team field(s): {', '.join(sorted(unknown))}")
    data: dict[str, object] = dict(budgets)
    if name is not None:
        data["name"] = name
    model_update(instance=team, fields=["name", *budgets], data=data)
    return team


def team_delete(*, team: Team) -> None:
    """Delete a team: its connections, boards, memberships and invitations go
    with it."""
    # Sessions on its connections lose their database before the rows go.
    team_deleting.send(sender=Team, team_id=team.pk)
    with transaction.atomic():
        team.delete()
    logger.info("team deleted id=%s", team.pk)


@dataclass(frozen=True)
class MemberAdded:
    """A member added, or an invitation recorded and whether it was emailed."""

    added: Membership | Invitation
    # Only an invitation is emailed; a member added is told by the pages.
    emailed: bool = False


def member_add(
    *, team: Team, email: str, role: str, invited_by: User | None = None
) -> MemberAdded:
    """Add the user with this email, or keep an invitation until they register
    and email it to them. The invitation is saved before the email is tried
    (and outside its transaction): a mail server that fails loses nothing."""
    added = _member_record(team=team, email=email, role=role, invited_by=invited_by)
    if isinstance(added, Invitation):
        return MemberAdded(added, emailed=invitation_email_send(invitation=added))
    return MemberAdded(added)


@transaction.atomic
def _member_record(
    *, team: Team, email: str, role: str, invited_by: User | None
) -> Membership | Invitation:
    email = email.strip().lower()
    user = User.objects.filter(email__iexact=email).first()
    if user is None:
        invitation, _ = Invitation.objects.update_or_create(
            team=team,
            email=email,
            defaults={"role": role, "invited_by": invited_by},
        )
        logger.info("team invitation id=%s team=%s", invitation.pk, team.pk)
        return invitation
    if Membership.objects.filter(team=team, user=user).exists():
        raise AlreadyMember()
    membership = Membership.objects.create(team=team, user=user, role=role)
    logger.info("team member added team=%s user=%s", team.pk, user.pk)
    return membership


def _admins_left_without(membership: Membership) -> int:
    # Locks the team's admin rows: two demotions at once cannot both pass.
    admins = Membership.objects.select_for_update().filter(
        team_id=membership.team_id, role=TeamRole.ADMIN
    )
    return sum(1 for m in admins if m.pk != membership.pk)


@transaction.atomic
def member_change_role(*, membership: Membership, role: str) -> Membership:
    """Give a member another role; the last admin cannot be demoted (400)."""
    demoted = role != TeamRole.ADMIN and membership.role == TeamRole.ADMIN
    if demoted and _admins_left_without(membership) == 0:
        raise LastAdmin()
    membership.role = role
    membership.save(update_fields=["role"])
    return membership


def member_remove(*, membership: Membership) -> None:
    """Remove a member (or let them leave); the last admin cannot go (400).

    Their sessions on the team's connections lose their database at once."""
    with transaction.atomic():
        if membership.role == TeamRole.ADMIN and _admins_left_without(membership) == 0:
            raise LastAdmin(
                "A team keeps at least one admin: make another member admin, "
                "or delete the team."
            )
        membership.delete()
    membership_ended.send(
        sender=Membership, team_id=membership.team_id, user_id=membership.user_id
    )
    logger.info(
        "team member removed team=%s user=%s", membership.team_id, membership.user_id
    )


def invitation_cancel(*, invitation: Invitation) -> None:
    """Withdraw a pending invitation."""
    invitation.delete()


@transaction.atomic
def invitations_accept(*, user: User) -> int:
    """Turn the invitations kept for the user's email into memberships."""
    pending = list(Invitation.objects.filter(email__iexact=user.email))
    for invitation in pending:
        Membership.objects.get_or_create(
            team_id=invitation.team_id,
            user=user,
            defaults={"role": invitation.role},
        )
        invitation.delete()
    if pending:
        logger.info("team invitations accepted user=%s count=%s", user.pk, len(pending))
    return len(pending)
