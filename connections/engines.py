"""Open a connection record's database through its engine backend, and check it.

What differs by engine (URL, connect arguments, read-only opening, version
query, privilege inspection) lives in `connections.backends`; this module is
the one place the rest of the code asks for an engine or a connection check.

The gate: every engine handed out here refuses, before any SQL of the caller
runs, a connection the target policy forbids (checked again at every physical
connect) or whose role has blocking rights (superuser, server files or
programs, writes beyond the database) unless ALLOW_PRIVILEGED_CONNECTIONS is
set. A test keeps every other module from building an engine any other way.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, event, text
from sqlalchemy.exc import SQLAlchemyError

from connections import target_policy
from connections.backends import (
    DatabaseBackend,
    PrivilegeFinding,
    UnknownDatabaseType,
    backend_for,
)
from connections.crypto import DecryptionError
from connections.exceptions import TargetDatabaseUnavailable
from connections.models import DatabaseConnection
from connections.pools import pool_identity, target_pools
from connections.privileges import (
    privilege_findings,
    privileged_refusal,
    verdict_key,
    verdicts,
)

__all__ = [
    "ConnectionCheck",
    "connection_check",
    "describe_connect_error",
    "engine_create",
    "engine_shared",
    "scrub_secret",
]

logger = logging.getLogger(__name__)


def engine_create(conn: DatabaseConnection, *, pooled: bool = True) -> Engine:
    """Return an engine for `conn` behind the gate.

    Raises PrivilegedConnectionRefused (403) when the role is known to be
    privileged: known from an earlier verdict, or found out now by opening one
    connection. A database that cannot be reached now is not an error here: the
    caller meets it at first use, where its own message says so, and the gate
    still inspects the first connection that does open.
    """
    engine = _engine_gated(conn, pooled=pooled)
    try:
        findings = verdicts.get(verdict_key(conn))
        if findings is None:
            _gate_first_connect(engine, conn)
        else:
            refusal = privileged_refusal(findings)
            if refusal is not None:
                raise refusal
    except BaseException:
        engine.dispose()
        raise
    return engine


def engine_shared(conn: DatabaseConnection) -> Engine:
    """Return the process's one pool for `conn`'s database identity, behind the
    gate: shared by every session of every user whose record logs in as the
    same role to the same database (`connections.pools`).

    The target policy is applied again on every call and at every physical
    connect; the role is inspected on each new physical connection without a
    verdict, exactly as for `engine_create`. Raises PrivilegedConnectionRefused
    (403) for a role known to be privileged.
    """
    try:
        _target_recheck(conn)
        identity = pool_identity(conn)
    except target_policy.TargetRefused as exc:
        raise TargetDatabaseUnavailable(str(exc)) from exc
    except DecryptionError as exc:
        raise TargetDatabaseUnavailable(
            "The stored password cannot be decrypted with the configured keys."
        ) from exc
    # The pool's gate keeps its verdict under the identity: the same role on
    # the same database, whichever record asked first.
    pool_key = ("pool", identity)
    engine = target_pools.engine_get(
        identity,
        connection_id=conn.pk,
        build=lambda: _engine_gated(conn, pooled=True, key=pool_key),
    )
    record_key = verdict_key(conn)
    findings = verdicts.get(record_key)
    if findings is None:
        # A new version of the record is inspected anew, as with a pool of its
        # own (an edit is how a user asks for the role to be looked at again).
        findings = _inspect_pooled(engine, conn, pool_key)
        if findings is not None:
            verdicts.put(record_key, findings)
            verdicts.put(pool_key, findings)
    elif verdicts.get(pool_key) is None:
        verdicts.put(pool_key, findings)
    refusal = privileged_refusal(findings or ())
    if refusal is not None:
        raise refusal
    return engine


def _inspect_pooled(
    engine: Engine, conn: DatabaseConnection, pool_key: Hashable
) -> tuple[PrivilegeFinding, ...] | None:
    """Inspect the role on one of the pool's connections; None when the
    database cannot be reached now (the caller meets that at first use)."""
    before = verdicts.get(pool_key)
    try:
        with engine.connect() as connection:
            after = verdicts.get(pool_key)
            if before is None and after is not None:
                # The gate inspected this connection as it was checked out.
                return after
            return tuple(
                privilege_findings(connection.connection.dbapi_connection, conn.db_type)
            )
    except target_policy.TargetRefused as exc:
        raise TargetDatabaseUnavailable(str(exc)) from exc
    except SQLAlchemyError as exc:
        logger.info(
            "gate deferred connection=%s: not reachable now (%s)",
            conn.pk,
            type(exc).__name__,
        )
        return None


def _engine_gated(
    conn: DatabaseConnection, *, pooled: bool, key: Hashable | None = None
) -> Engine:
    try:
        _target_recheck(conn)
        engine = _engine_ungated(conn, pooled=pooled)
    except target_policy.TargetRefused as exc:
        raise TargetDatabaseUnavailable(str(exc)) from exc
    key = verdict_key(conn) if key is None else key
    db_type = conn.db_type

    def gate(dbapi_connection: Any) -> None:
        findings = verdicts.get(key)
        if findings is None:
            findings = tuple(privilege_findings(dbapi_connection, db_type))
            verdicts.put(key, findings)
        refusal = privileged_refusal(findings)
        if refusal is not None:
            logger.warning("privileged role refused connection=%s", conn.pk)
            raise refusal

    @event.listens_for(engine, "do_connect")
    def _refuse_known(dialect: Any, record: Any, cargs: Any, cparams: Any) -> None:
        # A role already found privileged is not even logged in again.
        refusal = privileged_refusal(verdicts.get(key) or ())
        if refusal is not None:
            raise refusal

    @event.listens_for(engine, "connect", insert=True)
    def _on_connect(dbapi_connection: Any, record: Any) -> None:
        # First on every new physical connection, before the dialect's own
        # set-up: SQLAlchemy closes a connection whose connect event raised.
        gate(dbapi_connection)

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        # Every use of a pooled connection: a dictionary look-up while the
        # verdict holds; once it has expired, this connection is inspected
        # again (rights granted since are caught). A refusal invalidates it.
        gate(dbapi_connection)

    if pooled:
        backend = _backend(conn)
        url = engine.url

        @event.listens_for(engine, "reset")
        def _on_reset(dbapi_connection: Any, record: Any, state: Any) -> None:
            # Every return to the pool, whoever used the connection (a query,
            # a schema read): the next user, maybe another user's session,
            # finds none of this one's session state. Raising discards it.
            if not state.terminate_only:
                backend.session_reset(dbapi_connection, url)

    return engine


def _gate_first_connect(engine: Engine, conn: DatabaseConnection) -> None:
    try:
        with engine.connect():
            pass
        # Leave the engine as unopened as the caller expects: the connection
        # was for the verdict (a new pool keeps the gate's listeners).
        engine.dispose()
    except target_policy.TargetRefused as exc:
        raise TargetDatabaseUnavailable(str(exc)) from exc
    except SQLAlchemyError as exc:
        logger.info(
            "gate deferred connection=%s: not reachable now (%s)",
            conn.pk,
            type(exc).__name__,
        )


def _backend(conn: DatabaseConnection) -> DatabaseBackend:
    """Return the connection's backend; an unknown or incomplete one refuses."""
    try:
        return backend_for(conn.db_type)
    except UnknownDatabaseType as exc:
        raise TargetDatabaseUnavailable(str(exc)) from None


def _engine_ungated(conn: DatabaseConnection, *, pooled: bool) -> Engine:
    backend = _backend(conn)
    try:
        return backend.engine_create_ungated(conn, pooled=pooled)
    except DecryptionError as exc:
        raise TargetDatabaseUnavailable(
            "The stored password cannot be decrypted with the configured keys."
        ) from exc


def _target_recheck(conn: DatabaseConnection) -> None:
    """Apply the save-time policy again: the policy may have tightened since."""
    if _backend(conn).is_file:
        return  # the file is resolved inside the folder at every open
    target_policy.check_hostname(conn.host)
    target_policy.check_not_app_database(
        db_type=conn.db_type,
        host=conn.host,
        port=conn.port,
        database_name=conn.database_name,
    )


@dataclass(frozen=True)
class ConnectionCheck:
    ok: bool
    latency_ms: float | None = None
    server_version: str | None = None
    error: str | None = None
    warnings: tuple[str, ...] = ()
    findings: tuple[PrivilegeFinding, ...] = ()

    @property
    def blocking(self) -> tuple[str, ...]:
        """Return the findings that refuse the connection unless allowed."""
        return tuple(f.message for f in self.findings if f.blocking)


def connection_check(conn: DatabaseConnection) -> ConnectionCheck:
    """Open one real connection, read the server version and the role's rights.

    Reports rather than refuses (the test endpoint shows every finding; connect
    refuses on them): it runs no caller SQL, and its findings become the gate's
    verdict for this version of the record.
    """
    started = time.perf_counter()
    try:
        backend = _backend(conn)
        _target_recheck(conn)
        engine = _engine_ungated(conn, pooled=False)
        try:
            with engine.connect() as connection:
                version = connection.execute(text(backend.version_sql)).scalar_one()
                latency_ms = round((time.perf_counter() - started) * 1000, 1)
                connection.rollback()
                findings = privilege_findings(
                    connection.connection.dbapi_connection, conn.db_type
                )
        finally:
            engine.dispose()
    except (
        TargetDatabaseUnavailable,
        target_policy.TargetRefused,
        SQLAlchemyError,
    ) as exc:
        return ConnectionCheck(ok=False, error=describe_connect_error(exc, conn))
    verdicts.put(verdict_key(conn), findings)
    return ConnectionCheck(
        ok=True,
        latency_ms=latency_ms,
        server_version=str(version),
        warnings=tuple(finding.message for finding in findings),
        findings=tuple(findings),
    )


def describe_connect_error(exc: BaseException, conn: DatabaseConnection) -> str:
    """Turn a driver error into a reason a person can act on, without secrets."""
    if isinstance(exc, TargetDatabaseUnavailable | target_policy.TargetRefused):
        return str(exc)
    original = getattr(exc, "orig", None) or exc
    message = str(original)
    lowered = message.lower()
    where = backend_for(conn.db_type).target_describe(conn)
    if "access denied" in lowered and " to database " in lowered:
        # MySQL answers 1044 both for a missing database and for one the account
        # has no grant on; it does not say which.
        reason = (
            f"Unknown database '{conn.database_name}' on {where}, or user "
            f"'{conn.username}' has no access to it."
        )
    elif (
        "password authentication failed" in lowered
        or ("role" in lowered and "does not exist" in lowered)
        or "access denied" in lowered
        or "no password supplied" in lowered
        or "authentication failed" in lowered
    ):
        reason = (
            f"Authentication failed for user '{conn.username}' on {where}: "
            "check the username and password."
        )
    elif (
        "database" in lowered and "does not exist" in lowered
    ) or "unknown database" in lowered:
        reason = f"Unknown database '{conn.database_name}' on {where}."
    elif "unable to open database" in lowered:
        reason = f"Cannot open {where}."
    elif (
        "ssl negotiation" in lowered
        or "wrong version number" in lowered
        or "packets out of order" in lowered
        or "lost connection to server at 'handshake" in lowered
        or "bad handshake" in lowered
    ):
        # Something answers on that port, but not this database's protocol.
        reason = (
            f"The server at {where} did not answer as {conn.get_db_type_display()}: "
            "check the port and the database type."
        )
    elif "server does not support ssl" in lowered or "ssl is required" in lowered:
        reason = (
            f"The server at {where} and this connection disagree on SSL: "
            "check the sslmode / ssl_mode option."
        )
    elif "timeout" in lowered or "timed out" in lowered:
        reason = f"Timed out connecting to {where}."
    elif (
        "could not translate host name" in lowered
        or "unknown mysql server host" in lowered
        or "name or service not known" in lowered
    ):
        reason = f"Host '{conn.host}' could not be resolved."
    elif (
        "refused" in lowered
        or "can't connect" in lowered
        or "could not connect" in lowered
    ):
        reason = f"Cannot reach {where}: connection refused."
    else:
        reason = ""
    first_line = message.strip().splitlines()[0] if message.strip() else ""
    if reason.startswith("The server at") and first_line:
        # A protocol mismatch reads oddly in driver words: say it plainly first,
        # with the driver's own text as detail.
        reason = f"{reason} (Driver: {first_line[:200]})"
    if not reason:
        reason = f"Cannot connect to {where}: {first_line[:300] or type(exc).__name__}"
    return scrub_secret(reason, conn)


def scrub_secret(message: str, conn: DatabaseConnection) -> str:
    """Remove the connection's password from a message, should a driver echo it."""
    try:
        password = conn.get_password()
    except DecryptionError:
        return message
    if password:
        message = message.replace(password, "***")
    return message
