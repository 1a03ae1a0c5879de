"""Layers 2 and 3: a read-only transaction, a timeout and a row cap on every engine."""

from __future__ import annotations

import contextlib
import logging
import re
import sqlite3
import time
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from agent.jsonable import to_jsonable
from agent.sql_guard.errors import QueryFailed, StatementRefused, TargetDown
from agent.sql_guard.statement import statement_check
from connections import target_policy
from connections.engines import TargetUnavailable

# One logger for the whole guard, whatever module logs.
logger = logging.getLogger("agent.sql_guard")


@dataclass(frozen=True)
class QueryResult:
    """The capped, JSON-safe result of one query."""

    columns: list[str]
    rows: list[list[Any]]
    row_count: int
    truncated: bool
    duration_ms: float


# ---------------------------------------------------------------------------
# Layers 2 and 3: read-only transaction, timeout, row cap
# ---------------------------------------------------------------------------

# Error numbers MySQL/MariaDB use for a statement stopped by its time limit.
_MYSQL_TIMEOUT_ERRORS = {1969, 3024, 1317}
_PG_QUERY_CANCELED = "57014"
_MESSAGE_LIMIT = 500
_MYSQL_SQL_MODE = (
    "STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION"
)


def _timeout_message(timeout_s: float) -> str:
    return f"Query exceeded the {timeout_s:g} s time limit and was cancelled."


def _scrub(message: str, engine: Engine) -> str:
    password = engine.url.password
    if password:
        message = message.replace(str(password), "***")
    return re.sub(r"(?i)(password\s*=\s*)\S+", r"\1***", message)


def _db_message(exc: BaseException, engine: Engine) -> str:
    original = getattr(exc, "orig", None) or exc
    args = getattr(original, "args", ())
    if len(args) >= 2 and isinstance(args[0], int) and isinstance(args[1], str):
        message = f"{args[1]} (error {args[0]})"  # MySQLdb: (errno, text)
    else:
        message = str(original)
    lines = [line.rstrip() for line in message.strip().splitlines() if line.strip()]
    message = "\n".join(lines[:4]) or type(original).__name__
    if len(message) > _MESSAGE_LIMIT:
        message = message[: _MESSAGE_LIMIT - 1] + "…"
    return _scrub(message, engine)


def _is_timeout(exc: BaseException, db_type: str) -> bool:
    original = getattr(exc, "orig", None) or exc
    if db_type == "postgresql":
        return getattr(original, "sqlstate", None) == _PG_QUERY_CANCELED
    if db_type == "mysql":
        args = getattr(original, "args", ())
        return bool(args) and args[0] in _MYSQL_TIMEOUT_ERRORS
    return False


def _log_sql(sql: str) -> str:
    flat = " ".join(sql.split())
    return flat if len(flat) <= 200 else flat[:199] + "…"


def _connect(engine: Engine) -> Connection:
    try:
        return engine.connect()
    except PoolTimeoutError as exc:
        raise QueryFailed(
            "All connections to the database are busy; try again shortly."
        ) from exc
    except (TargetUnavailable, target_policy.TargetRefused) as exc:
        raise TargetDown(str(exc)) from exc
    except SQLAlchemyError as exc:
        raise TargetDown(
            f"The database could not be reached: {_db_message(exc, engine)}"
        ) from exc


def _begin_postgresql(connection: Connection, timeout_s: float) -> Connection:
    # The driver opens the transaction with BEGIN READ ONLY; after its first
    # statement it cannot be switched to READ WRITE. SET LOCAL ends with it.
    # standard_conforming_strings pins how backslashes in literals read, to the
    # way the statement check tokenized them.
    connection = connection.execution_options(postgresql_readonly=True)
    timeout_ms = max(1, int(timeout_s * 1000))
    connection.exec_driver_sql(
        f"SET LOCAL statement_timeout = {timeout_ms}; "
        f"SET LOCAL lock_timeout = {timeout_ms}; "
        "SET LOCAL standard_conforming_strings = on"
    )
    return connection


def _begin_mysql(connection: Connection, timeout_s: float) -> bool:
    """Start a read-only transaction; return True on MariaDB."""
    is_mariadb = bool(getattr(connection.dialect, "is_mariadb", False))
    if not is_mariadb:
        # MySQL: SELECT-only limit in ms (a hint could lift it; layer 1 refuses
        # hints).
        timeout_ms = max(1, int(timeout_s * 1000))
        connection.exec_driver_sql(f"SET SESSION max_execution_time = {timeout_ms}")
    # DDL commits the open transaction implicitly and runs in a new one that
    # takes the session's default access mode, so that default is read-only too
    # (set before every query: a query could have changed it).
    # A fixed sql_mode without ANSI_QUOTES / NO_BACKSLASH_ESCAPES: the server
    # then reads quotes and backslashes the way the statement check did.
    connection.exec_driver_sql(f"SET SESSION sql_mode = '{_MYSQL_SQL_MODE}'")
    connection.exec_driver_sql("SET SESSION TRANSACTION READ ONLY")
    connection.exec_driver_sql("START TRANSACTION READ ONLY")
    return is_mariadb


def _fetch(
    connection: Connection, statement: str, max_rows: int, *, db_type: str
) -> tuple[list[str], list[Any], bool]:
    # Server-side cursor: only max_rows + 1 rows ever cross the wire (a plain
    # cursor on PostgreSQL or MySQL pulls the whole result first).
    result = connection.execution_options(
        stream_results=True, yield_per=max_rows + 1, no_parameters=True
    ).exec_driver_sql(statement)
    try:
        columns = list(result.keys()) if result.returns_rows else []
        rows = result.fetchmany(max_rows + 1) if result.returns_rows else []
        if db_type == "mysql" and len(rows) > max_rows:
            _mysql_abandon(connection, result.cursor)
    finally:
        result.close()
    return columns, rows[:max_rows], len(rows) > max_rows


def _mysql_abandon(connection: Connection, dbapi_cursor: Any) -> None:
    """Drop the connection instead of draining the rest of a streamed result."""
    # mysqlclient reads and discards every remaining row when the cursor closes
    # (0.8 s for 10**6 narrow rows); closing the socket ends the query at once,
    # and the pool opens a fresh connection next time.
    connection.invalidate()
    with contextlib.suppress(Exception):
        dbapi_cursor.close()  # fails on the closed socket, then counts as closed


def _run(
    connection: Connection,
    *,
    db_type: str,
    statement: str,
    max_rows: int,
    timeout_s: float,
) -> tuple[list[str], list[Any], bool]:
    if db_type == "postgresql":
        connection = _begin_postgresql(connection, timeout_s)
    elif db_type == "mysql" and _begin_mysql(connection, timeout_s):
        statement = f"SET STATEMENT max_statement_time={timeout_s:.3f} FOR {statement}"
    return _fetch(connection, statement, max_rows, db_type=db_type)


def query_run(
    engine: Engine,
    *,
    db_type: str,
    sql: str,
    max_rows: int,
    timeout_s: float,
    check: bool = True,
) -> QueryResult:
    """Run one read-only query with a timeout and a row cap; return its rows."""
    started = time.perf_counter()
    try:
        statement = statement_check(sql, db_type=db_type) if check else sql
    except StatementRefused as exc:
        logger.info("query refused db_type=%s reason=%s", db_type, exc.reason)
        raise
    connection = _connect(engine)
    deadline = time.monotonic() + timeout_s
    timed_out = False

    def sqlite_progress() -> int:
        nonlocal timed_out
        if time.monotonic() > deadline:
            timed_out = True
            return 1  # non-zero interrupts the running statement
        return 0

    raw_sqlite: sqlite3.Connection | None = None
    try:
        if db_type == "sqlite":
            raw_sqlite = cast(
                sqlite3.Connection, connection.connection.driver_connection
            )
            raw_sqlite.set_progress_handler(sqlite_progress, 1000)
        columns, raw_rows, truncated = _run(
            connection,
            db_type=db_type,
            statement=statement,
            max_rows=max_rows,
            timeout_s=timeout_s,
        )
    except DBAPIError as exc:
        duration_ms = (time.perf_counter() - started) * 1000
        if timed_out or _is_timeout(exc, db_type):
            logger.info(
                "query timed out db_type=%s duration_ms=%.1f sql=%s",
                db_type,
                duration_ms,
                _log_sql(statement),
            )
            raise QueryFailed(_timeout_message(timeout_s), timed_out=True) from exc
        if exc.connection_invalidated:
            logger.warning("query lost its connection db_type=%s", db_type)
            raise TargetDown(
                f"The connection to the database was lost: {_db_message(exc, engine)}"
            ) from exc
        message = _db_message(exc, engine)
        logger.info(
            "query failed db_type=%s duration_ms=%.1f error=%s sql=%s",
            db_type,
            duration_ms,
            message.splitlines()[0],
            _log_sql(statement),
        )
        raise QueryFailed(message) from exc
    finally:
        if raw_sqlite is not None:
            raw_sqlite.set_progress_handler(None, 0)
        try:
            connection.rollback()
            connection.close()
        except SQLAlchemyError:
            logger.warning("rollback failed; connection discarded", exc_info=True)
            connection.invalidate()
    duration_ms = round((time.perf_counter() - started) * 1000, 1)
    rows = [[to_jsonable(value) for value in row] for row in raw_rows]
    logger.info(
        "query ok db_type=%s rows=%d truncated=%s duration_ms=%.1f sql=%s",
        db_type,
        len(rows),
        truncated,
        duration_ms,
        _log_sql(statement),
    )
    return QueryResult(
        columns=[str(c) for c in columns],
        rows=rows,
        row_count=len(rows),
        truncated=truncated,
        duration_ms=duration_ms,
    )
