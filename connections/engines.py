"""Open a connection record's database with SQLAlchemy: read-only where the driver
allows it, with connect timeouts, small pools and pre-ping.

Parameters reach the drivers as separate arguments, never spliced into a DSN.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from sqlalchemy import URL, Engine, create_engine, event, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool, QueuePool

from connections import target_policy
from connections.crypto import DecryptionError
from connections.models import DatabaseConnection, DbType
from connections.privileges import privilege_warnings

logger = logging.getLogger(__name__)


class TargetUnavailable(Exception):
    """The target database could not be reached or refused the credentials."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


# SQLite authorizer: a whitelist. Everything not named here is denied, so new
# write actions in future SQLite versions are denied too.
_SQLITE_ALLOWED_ACTIONS = {
    sqlite3.SQLITE_SELECT,
    sqlite3.SQLITE_READ,
    sqlite3.SQLITE_FUNCTION,
    sqlite3.SQLITE_RECURSIVE,
    sqlite3.SQLITE_TRANSACTION,
}
# Pragmas that only read the schema (SQLAlchemy's inspector uses them).
_SQLITE_READ_PRAGMAS = {
    "table_info",
    "table_xinfo",
    "table_list",
    "index_list",
    "index_info",
    "index_xinfo",
    "foreign_key_list",
    "database_list",
    "collation_list",
}
# Pragmas SQLAlchemy reads (with no value) when it opens a connection.
_SQLITE_QUERY_PRAGMAS = {
    "read_uncommitted",
    "encoding",
    "user_version",
    "schema_version",
}
_SQLITE_DENIED_FUNCTIONS = {
    "load_extension",
    "readfile",
    "writefile",
    "edit",
    "fts3_tokenizer",
    "sqlite_compileoption_get",
}


def sqlite_authorizer(action: int, arg1: str | None, arg2: str | None, *_: Any) -> int:
    """Allow reads only: no ATTACH, no PRAGMA writes, no writes of any kind."""
    if action == sqlite3.SQLITE_PRAGMA:
        name = (arg1 or "").lower()
        if name in _SQLITE_READ_PRAGMAS or (
            name in _SQLITE_QUERY_PRAGMAS and arg2 is None
        ):
            return sqlite3.SQLITE_OK
        return sqlite3.SQLITE_DENY
    if action == sqlite3.SQLITE_FUNCTION:
        if (arg2 or "").lower() in _SQLITE_DENIED_FUNCTIONS:
            return sqlite3.SQLITE_DENY
        return sqlite3.SQLITE_OK
    if action in _SQLITE_ALLOWED_ACTIONS:
        return sqlite3.SQLITE_OK
    return sqlite3.SQLITE_DENY


def sqlite_connect_readonly(database_name: str) -> sqlite3.Connection:
    """Open a SQLite file inside SQLITE_DATABASES_DIR, read-only at three levels."""
    path = target_policy.sqlite_path_resolve(database_name)
    raw = sqlite3.connect(
        f"{path.as_uri()}?mode=ro",
        uri=True,
        check_same_thread=False,
        timeout=settings.TARGET_CONNECT_TIMEOUT_S,
    )
    raw.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
    # One value may not exceed 16 MB: `randomblob(1e9)` would otherwise allocate
    # a gigabyte in one step, between two progress-handler checks.
    raw.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, 16 * 1024 * 1024)
    raw.set_authorizer(sqlite_authorizer)
    return raw


def _server_url(conn: DatabaseConnection, driver: str) -> URL:
    return URL.create(
        driver,
        username=conn.username or None,
        password=conn.get_password() or None,
        host=conn.host,
        port=conn.port,
        database=conn.database_name,
    )


def engine_create(conn: DatabaseConnection, *, pooled: bool = True) -> Engine:
    """Return an engine for `conn`; nothing is opened until first use."""
    pool_args: dict[str, Any]
    if pooled:
        pool_args = {
            "poolclass": QueuePool,
            "pool_size": settings.TARGET_POOL_SIZE,
            "max_overflow": settings.TARGET_MAX_OVERFLOW,
            "pool_timeout": settings.TARGET_CONNECT_TIMEOUT_S,
            "pool_recycle": 1800,
            "pool_pre_ping": True,
        }
    else:
        pool_args = {"poolclass": NullPool}
    timeout = settings.TARGET_CONNECT_TIMEOUT_S
    try:
        if conn.db_type == DbType.SQLITE:
            database_name = conn.database_name
            return create_engine(
                "sqlite://",
                creator=lambda: sqlite_connect_readonly(database_name),
                **pool_args,
            )
        options = target_policy.validate_options(conn.db_type, conn.options)
        if conn.db_type == DbType.POSTGRESQL:
            engine = create_engine(
                _server_url(conn, "postgresql+psycopg"),
                connect_args={
                    "connect_timeout": timeout,
                    "application_name": "sqlagent",
                    **options,
                },
                **pool_args,
            )
            address_param = "hostaddr"
        elif conn.db_type == DbType.MYSQL:
            engine = create_engine(
                _server_url(conn, "mysql+mysqldb"),
                connect_args={
                    "connect_timeout": timeout,
                    "charset": "utf8mb4",
                    "local_infile": False,
                    **options,
                    # mysqlclient enables multi-statements by default: one
                    # execute could then run `SELECT 1; DROP TABLE t`.
                    "multi_statements": False,
                },
                **pool_args,
            )
            address_param = "host"
        else:
            raise TargetUnavailable(f"Unknown database type '{conn.db_type}'.")
    except DecryptionError as exc:
        raise TargetUnavailable(
            "The stored password cannot be decrypted with the configured keys."
        ) from exc
    _pin_resolved_address(engine, conn.host, conn.port, address_param)
    return engine


def _pin_resolved_address(engine: Engine, host: str, port: int, param: str) -> None:
    """Resolve and check the host at every physical connect; connect to that address."""

    @event.listens_for(engine, "do_connect")
    def _resolve(dialect, conn_rec, cargs, cparams):
        cparams[param] = target_policy.resolve_host(host, port)


@dataclass(frozen=True)
class ConnectionCheck:
    ok: bool
    latency_ms: float | None = None
    server_version: str | None = None
    error: str | None = None
    warnings: tuple[str, ...] = ()


_VERSION_SQL = {
    DbType.POSTGRESQL: "SELECT current_setting('server_version')",
    DbType.MYSQL: "SELECT VERSION()",
    DbType.SQLITE: "SELECT sqlite_version()",
}


def connection_check(conn: DatabaseConnection) -> ConnectionCheck:
    """Open one real connection, read the server version and the role's rights."""
    started = time.perf_counter()
    try:
        engine = engine_create(conn, pooled=False)
        try:
            with engine.connect() as connection:
                version = connection.execute(
                    text(_VERSION_SQL[DbType(conn.db_type)])
                ).scalar_one()
                latency_ms = round((time.perf_counter() - started) * 1000, 1)
                warnings = privilege_warnings(connection, conn.db_type)
        finally:
            engine.dispose()
    except (TargetUnavailable, target_policy.TargetRefused, SQLAlchemyError) as exc:
        return ConnectionCheck(ok=False, error=describe_connect_error(exc, conn))
    return ConnectionCheck(
        ok=True,
        latency_ms=latency_ms,
        server_version=str(version),
        warnings=tuple(warnings),
    )


def describe_connect_error(exc: BaseException, conn: DatabaseConnection) -> str:
    """Turn a driver error into a reason a person can act on, without secrets."""
    if isinstance(exc, TargetUnavailable | target_policy.TargetRefused):
        return str(exc)
    original = getattr(exc, "orig", None) or exc
    message = str(original)
    lowered = message.lower()
    where = (
        f"the SQLite file '{conn.database_name}'"
        if conn.db_type == DbType.SQLITE
        else f"{conn.host}:{conn.port}"
    )
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
        first_line = (
            message.strip().splitlines()[0] if message.strip() else type(exc).__name__
        )
        reason = f"Cannot connect to {where}: {first_line[:300]}"
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
