"""Layers 2 and 3: a read-only transaction, a timeout and a row cap on every engine."""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from agent.jsonable import to_jsonable
from agent.sql_guard.errors import QueryFailed, StatementRefused
from agent.sql_guard.statement import statement_check
from connections import target_policy
from connections.backends import DatabaseBackend, backend_for
from connections.exceptions import TargetDatabaseBusy, TargetDatabaseUnavailable

# One logger for the whole guard, whatever module logs.
logger = logging.getLogger("agent.sql_guard")


@dataclass(frozen=True)
class QueryResult:
    """The capped, JSON-safe result of one query."""

    columns: list[str]
    # One of connections.backends.COLUMN_TYPES per column ("integer", "text", …).
    column_types: list[str]
    rows: list[list[Any]]
    row_count: int
    truncated: bool
    duration_ms: float


# ---------------------------------------------------------------------------
# Layers 2 and 3: read-only transaction, timeout, row cap
# ---------------------------------------------------------------------------

_MESSAGE_LIMIT = 500


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


def _log_sql(sql: str) -> str:
    flat = " ".join(sql.split())
    return flat if len(flat) <= 200 else flat[:199] + "…"


def _connect(engine: Engine) -> Connection:
    try:
        return engine.connect()
    except PoolTimeoutError as exc:
        raise TargetDatabaseBusy() from exc
    except target_policy.TargetRefused as exc:
        raise TargetDatabaseUnavailable(str(exc)) from exc
    except SQLAlchemyError as exc:
        raise TargetDatabaseUnavailable(
            f"The database could not be reached: {_db_message(exc, engine)}"
        ) from exc


def _fetch(
    connection: Connection, statement: str, max_rows: int, *, backend: DatabaseBackend
) -> tuple[list[str], list[str], list[Any], bool]:
    # Server-side cursor: only max_rows + 1 rows ever cross the wire (a plain
    # cursor on PostgreSQL or MySQL pulls the whole result first).
    result = connection.execution_options(
        stream_results=True, yield_per=max_rows + 1, no_parameters=True
    ).exec_driver_sql(statement)
    try:
        dbapi_cursor = result.cursor  # None once every row is read
        description = dbapi_cursor.description if result.returns_rows else None
        columns = list(result.keys()) if result.returns_rows else []
        rows = result.fetchmany(max_rows + 1) if result.returns_rows else []
        types = backend.column_types(description or [], rows[:max_rows])
        if len(rows) > max_rows:
            backend.abandon_stream(connection, dbapi_cursor)
    finally:
        result.close()
    return columns, types, rows[:max_rows], len(rows) > max_rows


def _run(
    connection: Connection,
    *,
    backend: DatabaseBackend,
    statement: str,
    max_rows: int,
    timeout_s: float,
) -> tuple[list[str], list[str], list[Any], bool]:
    connection, statement = backend.begin_read_only(
        connection, statement=statement, timeout_s=timeout_s
    )
    return _fetch(connection, statement, max_rows, backend=backend)


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
    backend = backend_for(db_type)
    try:
        statement = statement_check(sql, db_type=db_type) if check else sql
    except StatementRefused as exc:
        logger.info("query refused db_type=%s reason=%s", db_type, exc.reason)
        raise
    connection = _connect(engine)
    deadline = time.monotonic() + timeout_s
    try:
        columns, column_types, raw_rows, truncated = _run(
            connection,
            backend=backend,
            statement=statement,
            max_rows=max_rows,
            timeout_s=timeout_s,
        )
    except DBAPIError as exc:
        duration_ms = (time.perf_counter() - started) * 1000
        # Whatever error ends a statement past its deadline is the deadline's.
        if backend.is_timeout(exc) or time.monotonic() >= deadline:
            logger.info(
                "query timed out db_type=%s duration_ms=%.1f sql=%s",
                db_type,
                duration_ms,
                _log_sql(statement),
            )
            raise QueryFailed(_timeout_message(timeout_s), timed_out=True) from exc
        if exc.connection_invalidated:
            logger.warning("query lost its connection db_type=%s", db_type)
            raise TargetDatabaseUnavailable(
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
        column_types=column_types,
        rows=rows,
        row_count=len(rows),
        truncated=truncated,
        duration_ms=duration_ms,
    )
