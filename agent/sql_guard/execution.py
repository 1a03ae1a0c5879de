"""Layers 2 and 3: a read-only transaction, and bounds in time, rows and bytes."""

from __future__ import annotations

import contextlib
import logging
import re
import time
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from agent.sql_guard.bounds import Bounds, cell_bound, prefix_cell, row_bytes
from agent.sql_guard.deadline import DeadlineWatch, StopSignal, slot_take, stop_signal
from agent.sql_guard.errors import QueryFailed, StatementRefused
from agent.sql_guard.statement import statement_check
from connections import target_policy
from connections.backends import DatabaseBackend, backend_for
from connections.exceptions import TargetDatabaseBusy, TargetDatabaseUnavailable
from sqlagent_project import capacity

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
    # Why rows stopped: "rows" (QUERY_MAX_ROWS), "bytes" (QUERY_MAX_RESULT_BYTES)
    # or None; and how many cells were cut at QUERY_MAX_CELL_BYTES (marked).
    truncated_reason: str | None = None
    cut_cells: int = 0


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


_QUOTED = "\x00quoted statement\x00"


def _db_message(exc: BaseException, engine: Engine) -> str:
    original = getattr(exc, "orig", None) or exc
    args: tuple[Any, ...] = getattr(original, "args", ())
    if len(args) >= 2 and isinstance(args[0], int) and isinstance(args[1], str):
        message = f"{args[1]} (error {args[0]})"  # MySQLdb: (errno, text)
    else:
        message = str(original)
    lines = [line.rstrip() for line in message.strip().splitlines() if line.strip()]
    # PostgreSQL quotes the statement it ran ("LINE 1: DECLARE … CURSOR FOR …"
    # and a caret under it): that is our wrapper, not what the user wrote.
    kept: list[str] = []
    for line in lines:
        if line.startswith("LINE ") or (
            kept and kept[-1] is _QUOTED and not line.strip("^ ")
        ):
            kept.append(_QUOTED)
            continue
        kept.append(line)
    lines = [line for line in kept if line is not _QUOTED]
    # Secrets are scrubbed before the cut: a password straddling the limit
    # would otherwise keep its first part.
    message = _scrub("\n".join(lines[:4]) or type(original).__name__, engine)
    if len(message) > _MESSAGE_LIMIT:
        message = message[: _MESSAGE_LIMIT - 1] + "…"
    return message


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


@dataclass
class _Fetched:
    columns: list[str] = field(default_factory=list)
    column_types: list[str] = field(default_factory=list)
    rows: list[list[Any]] = field(default_factory=list)
    truncated_reason: str | None = None
    cut_cells: int = 0
    result_bytes: int = 0


# Rows per round trip: small, so 300 rows of 1 MB never arrive at once.
_FETCH_BATCH = 20


def _fetch(
    connection: Connection,
    statement: str,
    *,
    backend: DatabaseBackend,
    bounds: Bounds,
    deadline: float,
) -> _Fetched:
    plan = backend.cells_bound(
        connection, statement, max_cell_bytes=bounds.max_cell_bytes
    )
    # Server-side cursor: rows cross the wire in small batches as they are read
    # (a plain cursor on PostgreSQL or MySQL pulls the whole result first).
    result = connection.execution_options(
        stream_results=True, yield_per=_FETCH_BATCH, no_parameters=True
    ).exec_driver_sql(plan.statement)
    fetched = _Fetched()
    try:
        if not result.returns_rows:
            return fetched
        dbapi_cursor = result.cursor  # None once every row is read
        description = plan.description or dbapi_cursor.description or []
        fetched.columns = plan.columns or list(map(str, result.keys()))
        width = len(fetched.columns)
        raw_rows: list[Any] = []
        while fetched.truncated_reason is None:
            if time.monotonic() > deadline:
                backend.abandon_stream(connection, dbapi_cursor)
                raise _DeadlinePassed()
            batch = result.fetchmany(_FETCH_BATCH)
            if not batch:
                break
            for raw in batch:
                if len(fetched.rows) >= bounds.max_rows:
                    fetched.truncated_reason = "rows"
                    break
                row, cut = _row_bound(raw, plan.server_cut, width, bounds)
                size = row_bytes(row)
                if fetched.result_bytes + size > bounds.max_result_bytes:
                    fetched.truncated_reason = "bytes"
                    break
                fetched.result_bytes += size
                fetched.cut_cells += cut
                fetched.rows.append(row)
                if len(raw_rows) < _TYPE_SAMPLE:
                    raw_rows.append(_sample(raw, plan.server_cut, width))
            if len(batch) < _FETCH_BATCH:
                break  # a short batch is the last: no round trip to hear so
        if fetched.truncated_reason is not None:
            backend.abandon_stream(connection, dbapi_cursor)
        fetched.column_types = backend.column_types(description, raw_rows)
    finally:
        result.close()
    return fetched


# Rows whose raw values help guess column types where the cursor does not say.
_TYPE_SAMPLE = 20


def _sample(raw: Any, server_cut: bool, width: int) -> list[Any]:
    if not server_cut:
        return list(raw)
    return [raw[3 * i] for i in range(width)]


def _row_bound(
    raw: Any, server_cut: bool, width: int, bounds: Bounds
) -> tuple[list[Any], int]:
    """Return one row's cells, each cut to the cell cap, and how many were cut."""
    row: list[Any] = []
    cut_count = 0
    for index in range(width):
        if server_cut:
            value, size, prefix = raw[3 * index : 3 * index + 3]
            if size is not None:
                row.append(prefix_cell(prefix, int(size), bounds.max_cell_bytes))
                cut_count += 1
                continue
        else:
            value = raw[index]
        cell, was_cut = cell_bound(value, bounds.max_cell_bytes)
        row.append(cell)
        cut_count += was_cut
    return row, cut_count


class _DeadlinePassed(Exception):
    """The client-side deadline passed between two fetched rows."""


def _release(
    connection: Connection, backend: DatabaseBackend, *, severed: bool = False
) -> None:
    """Roll back and give the connection back; the pool drops every session
    state the query left (the backend's `session_reset`, installed by the gate
    on every pooled engine), or discards it."""
    if severed:  # its socket was shut down at deadline + grace: nothing to reset
        with contextlib.suppress(Exception):
            connection.invalidate()
            connection.close()
        return
    try:
        connection.rollback()
        connection.close()
    except Exception:
        logger.warning("session reset failed; connection discarded", exc_info=True)
        with contextlib.suppress(Exception):
            connection.invalidate()
            connection.close()


def query_run(
    engine: Engine,
    *,
    db_type: str,
    sql: str,
    max_rows: int,
    timeout_s: float,
    check: bool = True,
    stop: StopSignal | None = None,
) -> QueryResult:
    """Run one read-only query bounded in time, rows and bytes; return its rows.

    It ends at its deadline, or as soon as `stop()` says so (by default the
    Stop of the ask running in this context, see `queries_stopped_by`).
    """
    stop = stop if stop is not None else stop_signal()
    # The whole query is a wait for this process: another ask may use its
    # CPU slot meanwhile.
    with capacity.cpu_released():
        capacity.wait_check("query_run")
        return _query_run(
            engine,
            db_type=db_type,
            sql=sql,
            max_rows=max_rows,
            timeout_s=timeout_s,
            check=check,
            stop=stop,
        )


def _query_run(
    engine: Engine,
    *,
    db_type: str,
    sql: str,
    max_rows: int,
    timeout_s: float,
    check: bool,
    stop: StopSignal | None,
) -> QueryResult:
    started = time.perf_counter()
    backend = backend_for(db_type)
    bounds = Bounds.from_settings(max_rows=max_rows)
    try:
        statement = statement_check(sql, db_type=db_type) if check else sql
    except StatementRefused as exc:
        logger.info("query refused db_type=%s reason=%s", db_type, exc.reason)
        raise
    # A statement the server keeps working on after its session was terminated
    # keeps its slot until the server reports it gone (see deadline.py).
    slots = slot_take(engine)
    try:
        connection = _connect(engine)
    except BaseException:
        slots.release()
        raise
    # One deadline for execution, fetch and serialisation: the server's own
    # timeout, a timer that cancels the statement from outside (and, a grace
    # later, closes the connection and terminates the session), and a check
    # between fetched rows.
    deadline = time.monotonic() + timeout_s
    watch: DeadlineWatch | None = None
    try:
        connection, statement = backend.begin_read_only(
            connection, statement=statement, timeout_s=timeout_s
        )
        watch = DeadlineWatch(backend, engine, connection, slots.release)
        watch.start(
            deadline - time.monotonic(), settings.QUERY_TIMEOUT_GRACE_S, stop=stop
        )
        fetched = _fetch(
            connection, statement, backend=backend, bounds=bounds, deadline=deadline
        )
    except (DBAPIError, _DeadlinePassed, engine.dialect.loaded_dbapi.Error) as exc:
        # A driver error raised outside SQLAlchemy (a backend's own cursor) too.
        duration_ms = (time.perf_counter() - started) * 1000
        # Whatever error ends a statement past its deadline is the deadline's.
        if (
            isinstance(exc, _DeadlinePassed)
            or (watch is not None and watch.fired)
            or backend.is_timeout(exc)
            or time.monotonic() >= deadline
        ):
            logger.info(
                "query timed out db_type=%s duration_ms=%.1f sql=%s",
                db_type,
                duration_ms,
                _log_sql(statement),
            )
            message = (
                "The query was stopped: the question was cancelled."
                if watch is not None and watch.stopped
                else _timeout_message(timeout_s)
            )
            raise QueryFailed(message, timed_out=True) from exc
        if isinstance(exc, DBAPIError) and exc.connection_invalidated:
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
        reaped = watch is not None and watch.stop()
        _release(connection, backend, severed=watch is not None and watch.killed)
        if not reaped:
            slots.release()
    duration_ms = round((time.perf_counter() - started) * 1000, 1)
    logger.info(
        "query ok db_type=%s rows=%d truncated=%s cut_cells=%d bytes=%d "
        "duration_ms=%.1f sql=%s",
        db_type,
        len(fetched.rows),
        fetched.truncated_reason,
        fetched.cut_cells,
        fetched.result_bytes,
        duration_ms,
        _log_sql(statement),
    )
    return QueryResult(
        columns=[str(c) for c in fetched.columns],
        column_types=fetched.column_types,
        rows=fetched.rows,
        row_count=len(fetched.rows),
        truncated=fetched.truncated_reason is not None,
        duration_ms=duration_ms,
        truncated_reason=fetched.truncated_reason,
        cut_cells=fetched.cut_cells,
    )
