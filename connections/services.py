"""Writes on connection records and sessions."""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Unpack

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import User
from connections import crypto
from connections.engines import ConnectionCheck, connection_check
from connections.exceptions import TargetDatabaseUnavailable
from connections.fields import (
    EDITABLE_FIELDS,
    PRIVACY_FIELDS,
    VALIDATED_FIELDS,
    ConnectionFields,
)
from connections.models import DatabaseConnection, SessionStatus, UserSession
from connections.privileges import privileged_refusal
from connections.selectors import connection_role_refresh
from connections.signals import session_released
from connections.validation import ValidConnection, connection_validate
from sqlagent_project import logcontext
from sqlagent_project.errors import ApplicationError
from sqlagent_project.services import model_update
from teams.models import Team

logger = logging.getLogger(__name__)

# Writing last_activity_at on every request would make every read a write;
# once a minute is precise enough to tell idle sessions apart.
_ACTIVITY_RESOLUTION = timedelta(seconds=60)


def _connection_unsaved(
    *,
    owner: User,
    valid: ValidConnection,
    password: str,
    label: str = "",
    team: Team | None = None,
) -> DatabaseConnection:
    connection = DatabaseConnection(
        owner=owner,
        team=team,
        team_since=None if team is None else timezone.now(),
        label=label,
        **valid.stored_fields(),
    )
    # A file has no password, whatever a client sent.
    connection.set_password("" if valid.is_file else password)
    return connection


def _validate(fields: Mapping[str, Any]) -> ValidConnection:
    # A misspelt field is a bug to report, never a value to drop silently.
    unknown = sorted(set(fields) - set(EDITABLE_FIELDS))
    if unknown:
        raise TypeError(f"Unknown connection field(s): {', '.join(unknown)}")
    return connection_validate(
        **{name: fields[name] for name in VALIDATED_FIELDS if name in fields}
    )


@transaction.atomic
def connection_create(
    *,
    owner: User,
    password: str = "",
    team: Team | None = None,
    **fields: Unpack[ConnectionFields],
) -> DatabaseConnection:
    """Save a connection for `owner` (or, with `team`, the team's) with its
    password encrypted."""
    valid = _validate(fields)
    connection = _connection_unsaved(
        owner=owner,
        valid=valid,
        password=password,
        label=fields.get("label") or "",
        team=team,
    )
    connection.save()
    logger.info(
        "connection created id=%s owner=%s team=%s type=%s",
        connection.pk,
        owner.pk,
        connection.team_id,
        connection.db_type,
    )
    return connection


@transaction.atomic
def connection_update(
    *,
    connection: DatabaseConnection,
    password: str | None = None,
    **changes: Unpack[ConnectionFields],
) -> DatabaseConnection:
    """Change a connection; a field left out or None keeps the stored value."""
    given = {name: value for name, value in changes.items() if value is not None}
    stored = {name: getattr(connection, name) for name in VALIDATED_FIELDS}
    valid = _validate({**stored, **given})
    data: dict[str, Any] = valid.stored_fields()
    if "label" in given:
        data["label"] = given["label"]
    if any(data[name] != stored[name] for name in PRIVACY_FIELDS):
        # Turns answered before this are replayed without their answers.
        data["privacy_changed_at"] = timezone.now()
    if valid.is_file:
        password = ""
    if password is not None and (password or connection.has_password):
        # A new Fernet token each time: setting a password always counts as a change.
        data["password_encrypted"] = crypto.encrypt(password) if password else ""
    changed = model_update(
        instance=connection,
        fields=[*EDITABLE_FIELDS, "privacy_changed_at", "password_encrypted"],
        data=data,
    )
    if changed:
        _release_sessions_using(connection)
    return connection


@transaction.atomic
def connection_move(
    *, connection: DatabaseConnection, team: Team | None
) -> DatabaseConnection:
    """Share a connection with `team`, move it to another team, or (None) make
    it its owner's own again; the caller checked who may
    (`connection_move_target_for_user`).

    Its knowledge goes with it (it is the connection's). Whoever no longer
    reaches it loses it at once, as a removed member does; its owner's sessions
    stay connected. The new team's activity and budget count from now on.
    """
    if connection.team_id == (None if team is None else team.pk):
        return connection
    model_update(
        instance=connection,
        fields=["team", "team_since"],
        data={"team": team, "team_since": None if team is None else timezone.now()},
    )
    sessions = UserSession.objects.filter(db_connection=connection).select_related(
        "user", "db_connection"
    )
    for session in sessions:
        # Each session's own copy: the refresh writes the user's role on it.
        reached = session.db_connection
        if reached is None or not connection_role_refresh(
            user=session.user, connection=reached
        ):
            session_unbind(session=session)
    logger.info(
        "connection moved id=%s owner=%s team=%s",
        connection.pk,
        connection.owner_id,
        connection.team_id,
    )
    return connection


def connection_try(
    *, owner: User, password: str = "", **fields: Unpack[ConnectionFields]
) -> ConnectionCheck:
    """Open a connection with these fields once, without saving anything."""
    valid = _validate(fields)
    connection = _connection_unsaved(owner=owner, valid=valid, password=password)
    check = _check_as_connect_would(connection_check(connection))
    logger.info(
        "connection tried owner=%s type=%s ok=%s", owner.pk, valid.db_type, check.ok
    )
    return check


def connection_delete(*, connection: DatabaseConnection) -> None:
    """Delete a connection; sessions bound to it lose their database."""
    _release_sessions_using(connection)
    with transaction.atomic():
        connection.delete()


def _release_sessions_using(connection: DatabaseConnection) -> None:
    session_ids = list(
        UserSession.objects.filter(db_connection=connection).values_list(
            "id", flat=True
        )
    )
    for session_id in session_ids:
        session_released.send(sender=UserSession, session_id=session_id)


def connection_test(*, connection: DatabaseConnection) -> ConnectionCheck:
    """Open the connection once and report latency and server version, or why not."""
    check = _check_as_connect_would(connection_check(connection))
    logger.info(
        "connection tested id=%s ok=%s latency_ms=%s",
        connection.pk,
        check.ok,
        check.latency_ms,
    )
    return check


def _check_as_connect_would(check: ConnectionCheck) -> ConnectionCheck:
    """Return the check failed with Connect's refusal when Connect would refuse.

    A test that says "works" for a role that Connect then refuses (a superuser)
    tells the user the opposite of what will happen.
    """
    refusal = privileged_refusal(check.findings) if check.ok else None
    if refusal is None:
        return check
    return dataclasses.replace(check, ok=False, error=refusal.message)


def connections_reencrypt() -> int:
    """Re-encrypt every stored password under the first FIELD_ENCRYPTION_KEY."""
    count = 0
    with transaction.atomic():
        rows = DatabaseConnection.objects.select_for_update().exclude(
            password_encrypted=""
        )
        for connection in rows:
            connection.password_encrypted = crypto.rotate(connection.password_encrypted)
            connection.save(update_fields=["password_encrypted"])
            count += 1
    return count


def session_get_or_create_active(*, user: User) -> UserSession:
    """Return the user's active session, creating it on first need.

    The partial unique index makes a concurrent second insert fail; the loser
    reads the winner's row, so both requests share one session.
    """
    session = _active_session(user)
    if session is None:
        try:
            with transaction.atomic():
                session = UserSession.objects.create(user=user)
            logger.info("session opened id=%s user=%s", session.pk, user.pk)
        except IntegrityError:
            session = _active_session(user)
            if session is None:
                raise
    _reach_check(session, user)
    _touch(session)
    # Every log line of this request from here on names the session.
    logcontext.bind(session_id=session.pk, user_id=user.pk)
    return session


def _active_session(user: User) -> UserSession | None:
    # Every request runs this. The partial unique index allows one active
    # session per user, so there is nothing to order: no ORDER BY to compile
    # and plan, as `.first()` would add.
    sessions = list(
        UserSession.objects.select_related("db_connection__team")
        .filter(user_id=user.pk, status=SessionStatus.ACTIVE)
        .order_by()[:1]
    )
    return sessions[0] if sessions else None


def _reach_check(session: UserSession, user: User) -> None:
    # A member removed from a team (or a team connection gone) loses the
    # database at once, whatever process served the removal: the next request
    # finds the session without one, as after a deletion.
    connection = session.db_connection
    if connection is None or connection_role_refresh(user=user, connection=connection):
        return
    session_unbind(session=session)


def session_unbind(*, session: UserSession) -> None:
    """Take the database off a session (its thread goes on) and drop its engine."""
    UserSession.objects.filter(pk=session.pk).update(db_connection=None, warnings=[])
    session.db_connection = None
    session.warnings = []
    session_released.send(sender=UserSession, session_id=session.pk)
    logger.info("session lost its database id=%s user=%s", session.pk, session.user_id)


def sessions_unbind_from_team(*, team_id: int, user_id: int | None = None) -> int:
    """Take a team's connections off the sessions of one member (or everyone)."""
    sessions = UserSession.objects.filter(db_connection__team_id=team_id)
    if user_id is not None:
        sessions = sessions.filter(user_id=user_id)
    count = 0
    for session in sessions.select_related("db_connection"):
        session_unbind(session=session)
        count += 1
    return count


def _touch(session: UserSession) -> None:
    now = timezone.now()
    if now - session.last_activity_at >= _ACTIVITY_RESOLUTION:
        UserSession.objects.filter(pk=session.pk).update(last_activity_at=now)
        session.last_activity_at = now


def session_connect(
    *, session: UserSession, connection: DatabaseConnection
) -> UserSession:
    """Open the connection for real and bind it to the session."""
    check = connection_check(connection)
    if not check.ok:
        logger.warning("connect failed db=%s reason=%s", connection.pk, check.error)
        raise TargetDatabaseUnavailable(check.error)
    # Blocking findings (superuser, server files or programs, writes beyond the
    # database) refuse the connection unless the operator allows them; lesser
    # ones (table write grants) are only warned about. The same rule, from the
    # same findings, refuses every later engine for this connection (the gate).
    refusal = privileged_refusal(check.findings)
    if refusal is not None:
        raise refusal
    with transaction.atomic():
        session.db_connection = connection
        session.warnings = list(check.warnings)
        session.last_activity_at = timezone.now()
        session.save(update_fields=["db_connection", "warnings", "last_activity_at"])
    session_released.send(sender=UserSession, session_id=session.pk)
    logger.info(
        "session connected id=%s user=%s connection=%s",
        session.pk,
        session.user_id,
        connection.pk,
    )
    return session


def session_restart(*, session: UserSession) -> UserSession:
    """Close the session and open a new one on the same database: a new thread."""
    connection = session.db_connection
    session_disconnect(session=session)
    fresh = session_get_or_create_active(user=session.user)
    if connection is not None:
        fresh = session_connect(session=fresh, connection=connection)
    return fresh


def session_resume(*, user: User, session_id: uuid.UUID) -> UserSession:
    """Make an earlier session of the user's active again (its thread goes on):
    the current one is closed, and the earlier one's database connected anew."""
    earlier = UserSession.objects.select_related("db_connection").get(
        pk=session_id, user=user
    )
    if earlier.is_active:
        return earlier
    connection = earlier.db_connection
    if connection is None:
        raise TargetDatabaseUnavailable(
            "This conversation's database connection was removed; start a new chat."
        )
    current = _active_session(user)
    if current is not None:
        session_disconnect(session=current)
    with transaction.atomic():
        earlier.status = SessionStatus.ACTIVE
        earlier.closed_at = None
        earlier.last_activity_at = timezone.now()
        earlier.save(update_fields=["status", "closed_at", "last_activity_at"])
    logger.info("session resumed id=%s user=%s", earlier.pk, user.pk)
    try:
        return session_connect(session=earlier, connection=connection)
    except ApplicationError:
        # Resumed but not connected: the chat says so and offers to connect.
        UserSession.objects.filter(pk=earlier.pk).update(db_connection=None)
        raise


def session_disconnect(*, session: UserSession) -> UserSession:
    """Close the session and drop its engine; the next request opens a new one."""
    with transaction.atomic():
        session.status = SessionStatus.CLOSED
        session.closed_at = timezone.now()
        session.save(update_fields=["status", "closed_at"])
    session_released.send(sender=UserSession, session_id=session.pk)
    logger.info("session closed id=%s user=%s", session.pk, session.user_id)
    return session
