"""Sharing an answer with the team of its connection."""

from __future__ import annotations

import logging
import secrets

from django.db import transaction

from accounts.models import User
from agent.models import Turn, TurnShare
from connections.selectors import ConnectionAccess, connection_require_for_user
from sqlagent_project.errors import ApplicationError

logger = logging.getLogger(__name__)


class TurnNotShareable(ApplicationError):
    """Only an answer on a team connection can be shared, with that team."""

    status_code = 400
    code = "not_shareable"
    default_message = (
        "Only an answer on a team connection can be shared (with that team)."
    )


@transaction.atomic
def turn_share(*, user: User, turn: Turn) -> TurnShare:
    """Share one of the user's turns with its connection's team (once: sharing
    again returns the same link)."""
    connection = turn.thread.db_connection
    if connection is None or connection.team_id is None:
        raise TurnNotShareable()
    connection_require_for_user(
        user=user, connection=connection, need=ConnectionAccess.USE
    )
    share, created = TurnShare.objects.get_or_create(
        turn=turn,
        team_id=connection.team_id,
        defaults={"token": secrets.token_urlsafe(24), "shared_by": user},
    )
    if created:
        logger.info("turn shared turn=%s team=%s", turn.pk, connection.team_id)
    return share
