"""Writes on connection records and sessions."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import User
from connections import crypto
from connections.engines import ConnectionCheck, connection_check
from connections.exceptions import TargetDatabaseUnavailable
from connections.models import DatabaseConnection, SessionStatus, UserSession
from connections.privileges import privileged_refusal
from connections.signals import session_released
from connections.validation import ValidConnection, connection_validate
from sqlagent_project import logcontext
from sqlagent_project.errors import ApplicationError

logger = logging.getLogger(__name__)

# Writing last_activity_at on every request would make every read a write;
# once a minute is precise enough to tell idle sessions apart.
_ACTIVITY_RESOLUTION = timedelta(seconds=60)


def _connection_unsaved(
    *, owner: User, valid: ValidConnection, password: str, label: str = ""
) -> DatabaseConnection:
    connection = DatabaseConnection(owner=owner, label=label, **valid.stored_fields())
    # A file has no password, whatever a client sent.
    connection.set_password("" if valid.is_file else password)
    return connection


@transaction.atomic
def connection_create(
    *,
    owner: User,
    db_type: str,
    database_name: str,
    label: str = "",
    host: str = "",
    port: int | None = 0,
    username: str = "",
    options: dict[str, Any] | None = None,
    password: str = "",
    privacy: str = "rows",
    masked_columns: list[str] | None = None,
    masked_hidden: bool = False,
) -> DatabaseConnection:
    """Save a connection for `owner` with its password encrypted."""
    valid = connection_validate(
        db_type=db_type,
        database_name=database_name,
        host=host,
        port=port,
        username=username,
        options=options,
        privacy=privacy,
        masked_columns=masked_columns,
        masked_hidden=masked_hidden,
    )
    connection = _connection_unsaved(
        owner=owner, valid=valid, password=password, label=label
    )
    connection.save()
    logger.info(
        "connection created id=%s owner=%s type=%s",
        connection.pk,
        owner.pk,
        connection.db_type,
    )
    return connection


@transaction.atomic
def connection_update(
    *,
    connection: DatabaseConnection,
    label: str | None = None,
    db_type: str | None = None,
    database_name: str | None = None,
    host: str | None = None,
    port: int | None = None,
    username: str | None = None,
    options: dict[str, Any] | None = None,
    password: str | None = None,
    privacy: str | None = None,
    masked_columns: list[str] | None = None,
    masked_hidden: bool | None = None,
) -> DatabaseConnection:
    """Change a connection; an argument left None keeps the stored value."""
    valid = connection_validate(
        db_type=connection.db_type if db_type is None else db_type,
        database_name=(
            connection.database_name if database_name is None else database_name
        ),
        host=connection.host if host is None else host,
        port=connection.port if port is None else port,
        username=connection.username if username is None else username,
        options=connection.options if options is None else options,
        privacy=connection.privacy if privacy is None else privacy,
        masked_columns=(
            connection.masked_columns if masked_columns is None else masked_columns
        ),
        masked_hidden=(
            connection.masked_hidden if masked_hidden is None else masked_hidden
        ),
    )
    privacy_changed = (
        valid.privacy != connection.privacy
        or valid.masked_columns != list(connection.masked_columns or [])
        or valid.masked_hidden != connection.masked_hidden
    )
    if label is not None:
        connection.label = label
    connection.db_type = valid.db_type
    connection.host = valid.host
    connection.port = valid.port
    connection.database_name = valid.database_name
    connection.username = valid.username
    connection.options = valid.options
    connection.privacy = valid.privacy
    connection.masked_columns = valid.masked_columns
    connection.masked_hidden = valid.masked_hidden
    if privacy_changed:
        connection.privacy_changed_at = timezone.now()
    if valid.is_file:
        connection.set_password("")
    elif password is not None:
        connection.set_password(password)
    connection.save()
    _release_sessions_using(connection)
    return connection


def connection_try(
    *,
    owner: User,
    db_type: str,
    database_name: str,
    host: str = "",
    port: int | None = 0,
    username: str = "",
    options: dict[str, Any] | None = None,
    password: str = "",
    **unsaved: Any,
) -> ConnectionCheck:
    """Open a connection with these fields once, without saving anything.

    `unsaved` takes the fields that do not change how to connect (label,
    privacy, ...), so a form's fields can be passed as they are.
    """
    valid = connection_validate(
        db_type=db_type,
        database_name=database_name,
        host=host,
        port=port,
        username=username,
        options=options,
    )
    connection = _connection_unsaved(owner=owner, valid=valid, password=password)
    check = connection_check(connection)
    logger.info("connection tried owner=%s type=%s ok=%s", owner.pk, db_type, check.ok)
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
    check = connection_check(connection)
    logger.info(
        "connection tested id=%s ok=%s latency_ms=%s",
        connection.pk,
        check.ok,
        check.latency_ms,
    )
    return check


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
    _touch(session)
    # Every log line of this request from here on names the session.
    logcontext.bind(session_id=session.pk, user_id=user.pk)
    return session


def _active_session(user: User) -> UserSession | None:
    # Every request runs this. The partial unique index allows one active
    # session per user, so there is nothing to order: no ORDER BY to compile
    # and plan, as `.first()` would add.
    sessions = list(
        UserSession.objects.select_related("db_connection")
        .filter(user_id=user.pk, status=SessionStatus.ACTIVE)
        .order_by()[:1]
    )
    return sessions[0] if sessions else None


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
