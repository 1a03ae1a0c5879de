"""A member leaving a team, or a team going, takes its connections off sessions."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from connections.services import sessions_unbind_from_team
from teams.signals import membership_ended, team_deleting


@receiver(membership_ended, dispatch_uid="connections_membership_ended")
def _member_gone(sender: Any, *, team_id: int, user_id: int, **_: Any) -> None:
    sessions_unbind_from_team(team_id=team_id, user_id=user_id)


@receiver(team_deleting, dispatch_uid="connections_team_deleting")
def _team_gone(sender: Any, *, team_id: int, **_: Any) -> None:
    sessions_unbind_from_team(team_id=team_id)
