"""Reads on connections, scoped to who may reach them: the one place that says so.

A user reaches their own connections and those of their teams. What they may do
with a team connection follows their role in the team (`ConnectionAccess`);
anyone else gets a 404, as for a connection that never existed.
"""

from __future__ import annotations

import enum

from django.db.models import OuterRef, Q, QuerySet, Subquery
from django.http import Http404

from accounts.models import User
from connections.exceptions import ConnectionOwnerRequired
from connections.models import DatabaseConnection
from teams.exceptions import TeamRoleRequired
from teams.models import Membership, Team, TeamRole
from teams.selectors import team_get_for_user, team_ids_for_user, team_role_for_user


class ConnectionAccess(enum.Enum):
    """What a caller means to do with a connection."""

    # Connect, ask, read the schema and the knowledge.
    USE = "use"
    # Run SQL of one's own (POST /ask/sql, MCP run_sql).
    RUN_SQL = "run_sql"
    # Propose examples (kept unverified until an admin verifies them).
    PROPOSE = "propose"
    # Change, delete, test, read the settings, manage the knowledge.
    MANAGE = "manage"


_ROLES_ALLOWED: dict[ConnectionAccess, frozenset[str]] = {
    ConnectionAccess.USE: frozenset(TeamRole.values),
    ConnectionAccess.RUN_SQL: frozenset({TeamRole.ADMIN, TeamRole.ANALYST}),
    ConnectionAccess.PROPOSE: frozenset({TeamRole.ADMIN, TeamRole.ANALYST}),
    ConnectionAccess.MANAGE: frozenset({TeamRole.ADMIN}),
}
_REFUSALS: dict[ConnectionAccess, str] = {
    ConnectionAccess.USE: "Your role in this team does not allow this.",
    ConnectionAccess.RUN_SQL: "Viewers cannot run SQL of their own on a team "
    "connection; ask a question instead.",
    ConnectionAccess.PROPOSE: "Viewers cannot propose examples.",
    ConnectionAccess.MANAGE: "Only a team admin can manage a team connection.",
}


def connection_reachable_q(*, user: User, via: str = "", or_none: bool = False) -> Q:
    """Return the filter for connections `user` reaches. `via` prefixes the
    lookups from a related model ("connection__"); `or_none` also passes a null
    connection (a thread whose connection was deleted stays its user's)."""
    teams = team_ids_for_user(user=user)
    reachable = Q(**{f"{via}team_id__isnull": True, f"{via}owner_id": user.pk}) | Q(
        **{f"{via}team_id__in": teams}
    )
    if or_none:
        reachable |= Q(**{f"{via.removesuffix('__')}__isnull": True})
    return reachable


def connection_list_for_user(*, user: User) -> QuerySet[DatabaseConnection]:
    """Return the user's own connections and their teams', oldest first, each
    with the user's `team_role` (null for their own)."""
    role = Membership.objects.filter(
        team_id=OuterRef("team_id"), user_id=user.pk
    ).values("role")[:1]
    return (
        DatabaseConnection.objects.filter(connection_reachable_q(user=user))
        .annotate(team_role=Subquery(role))
        .order_by("id")
    )


def connection_allows(connection: DatabaseConnection, access: ConnectionAccess) -> bool:
    """Whether the caller whose `team_role` the connection carries may do this."""
    if connection.team_id is None:
        return True
    return getattr(connection, "team_role", None) in _ROLES_ALLOWED[access]


def connection_get_for_user(
    *,
    user: User,
    connection_id: int,
    need: ConnectionAccess = ConnectionAccess.MANAGE,
) -> DatabaseConnection:
    """Return a connection the user reaches (404 otherwise), refusing with 403
    what their team role does not allow. By default, managing it."""
    connection = connection_list_for_user(user=user).filter(pk=connection_id).first()
    if connection is None:
        raise Http404("No DatabaseConnection matches the given query.")
    connection_require(connection, need)
    return connection


def connection_require(connection: DatabaseConnection, need: ConnectionAccess) -> None:
    """Refuse (403) what the caller's team role does not allow on `connection`."""
    if not connection_allows(connection, need):
        raise TeamRoleRequired(_REFUSALS[need])


def connection_require_for_user(
    *, user: User, connection: DatabaseConnection, need: ConnectionAccess
) -> None:
    """Check a connection reached another way (a session's, a turn's) again:
    404 if the user no longer reaches it, 403 if their role does not allow this."""
    if not connection_role_refresh(user=user, connection=connection):
        raise Http404("No DatabaseConnection matches the given query.")
    connection_require(connection, need)


def connection_role_refresh(*, user: User, connection: DatabaseConnection) -> bool:
    """Read the user's role on a connection bound earlier (a session's) into
    `team_role`; False when they no longer reach it."""
    if connection.team_id is None:
        return connection.owner_id == user.pk
    role = team_role_for_user(user=user, team_id=connection.team_id)
    connection.team_role = role  # type: ignore[attr-defined]
    return role is not None


def connection_move_target_for_user(
    *, user: User, connection: DatabaseConnection, team_id: int | None
) -> Team | None:
    """Return where the user may move a connection they manage: a team they are
    an admin of (404 for a team they are not in, 403 for one they only belong
    to), or None, personal again, for its owner only (anyone else would no
    longer manage it: 403 `owner_required`)."""
    connection_require(connection, ConnectionAccess.MANAGE)
    if team_id is not None:
        return team_get_for_user(user=user, team_id=team_id, admin=True)
    if connection.team_id is not None and connection.owner_id != user.pk:
        raise ConnectionOwnerRequired()
    return None
