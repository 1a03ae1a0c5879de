"""Querying a session's database, with no LLM: the one path every caller takes.

/ask/sql, MCP, the schema panel, knowledge checks, evaluation and the agent's
tools all come here. A query is checked (statement, then `t.f` attribute calls
against the catalog), run read-only and bounded (`sql_guard.query_run`, which
gives the ask's CPU slot up while it waits and honours the ask's Stop), and
exposed under the connection's privacy policy. Errors leave as the service's
own (`TargetDatabaseUnavailable` for a target the policy refuses, never a 500).
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Self

from django.conf import settings
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from accounts.models import User
from agent import sql_guard
from agent.catalog import SchemaCatalog
from agent.catalog_store import shared_structure
from agent.engines import SessionEngine, engine_cache
from agent.exceptions import (
    AskCancelled,
    NoDatabaseConnected,
    SqlFailed,
    SqlRefused,
    SqlTimedOut,
)
from agent.privacy import NOTHING_RESTRICTED, Exposure, PrivacyPolicy, policy_default
from agent.sql_guard.attributes import attribute_calls_check
from connections.exceptions import TargetDatabaseBusy, TargetDatabaseUnavailable
from connections.models import SessionStatus, UserSession
from connections.selectors import ConnectionAccess, connection_require
from connections.services import session_get_or_create_active
from connections.target_policy import TargetRefused
from sqlagent_project import capacity

logger = logging.getLogger(__name__)

EventSink = Callable[[str, dict[str, Any]], None]


def ignore_event(name: str, data: dict[str, Any]) -> None:
    return None


# ---------------------------------------------------------------------------
# The session's engine and catalog
# ---------------------------------------------------------------------------


def connected_session(
    *, user: User, need: ConnectionAccess = ConnectionAccess.USE
) -> UserSession:
    """Return the user's active session, refusing (409) when no database is on it
    and (403) what their role in the connection's team does not allow."""
    session = session_get_or_create_active(user=user)
    if session.db_connection is None:
        raise NoDatabaseConnected()
    # The session check read the role; this only compares it.
    connection_require(session.db_connection, need)
    return session


@contextlib.contextmanager
def target_errors(
    *, what: str = "The database's schema could not be read."
) -> Iterator[None]:
    """Turn a refused target or a failed read into the service's public error."""
    try:
        yield
    except TargetRefused as exc:
        raise TargetDatabaseUnavailable(str(exc)) from exc
    except PoolTimeoutError as exc:
        # Every connection of the database's pool is in use: busy, not broken.
        raise TargetDatabaseBusy() from exc
    except SQLAlchemyError as exc:
        logger.warning("database read failed error=%s", type(exc).__name__)
        raise TargetDatabaseUnavailable(what) from exc


def session_engine_get(session: UserSession) -> SessionEngine:
    """Return the session's engine; connecting on a miss is a wait (no CPU slot)."""
    with capacity.cpu_released():
        capacity.wait_check("session engine")
        try:
            return engine_cache.get(session)
        except TargetRefused as exc:
            raise TargetDatabaseUnavailable(str(exc)) from exc


def catalog_get(session_engine: SessionEngine) -> SchemaCatalog:
    """Return the session engine's schema catalog, creating it once: from the
    structure a worker shared for a big database (agent/catalog_store.py)."""
    with session_engine.lock:
        catalog = session_engine.extras.get("catalog")
    if catalog is None:
        # Outside the lock: this may list the tables, or wait on a worker.
        new = SchemaCatalog(
            session_engine.engine,
            session_engine.db_type,
            privacy=session_engine.privacy_policy(),
        )
        structure = shared_structure(
            connection_id=session_engine.connection_id,
            version=session_engine.connection_version,
            catalog=new,
        )
        if structure is not None:
            new.structure_use(structure)
        with session_engine.lock:
            catalog = session_engine.extras.setdefault("catalog", new)
    if catalog.engine is not session_engine.engine:
        # The database's pool was replaced (closed while unused): read on the
        # one in use, keeping what was read already.
        catalog.engine_use(session_engine.engine)
    return catalog


@contextlib.contextmanager
def engine_dropped_if_session_closes(session_id: uuid.UUID) -> Iterator[None]:
    """Drop the session's cached engine after the work if the session closed
    meanwhile: a disconnect racing an ask must not leave an engine behind."""
    try:
        yield
    finally:
        closed = not UserSession.objects.filter(
            pk=session_id, status=SessionStatus.ACTIVE
        ).exists()
        if closed and engine_cache.evict(session_id):
            logger.info("engine dropped for a session closed mid-ask %s", session_id)


# ---------------------------------------------------------------------------
# One query
# ---------------------------------------------------------------------------


def query_checked_run(
    engine: Engine,
    *,
    db_type: str,
    catalog: SchemaCatalog,
    sql: str,
    max_rows: int | None = None,
) -> sql_guard.QueryResult:
    """Check `sql` (statement and attribute calls) and run it read-only, bounded
    (QUERY_MAX_ROWS rows unless a caller such as an export asks for another cap).

    Raise StatementRefused or QueryFailed (the caller words them for its
    reader), TargetDatabaseBusy, or TargetDatabaseUnavailable.
    """
    # Reading the catalog for the attribute check may wait on the database.
    with capacity.cpu_released():
        try:
            # PostgreSQL reads `t.f` as f(t) when t has no column f.
            attribute_calls_check(sql, db_type=db_type, catalog=catalog)
            return sql_guard.query_run(
                engine,
                db_type=db_type,
                sql=sql,
                max_rows=settings.QUERY_MAX_ROWS if max_rows is None else max_rows,
                timeout_s=settings.QUERY_TIMEOUT_S,
            )
        except TargetRefused as exc:
            raise TargetDatabaseUnavailable(str(exc)) from exc


def result_as_dict(result: sql_guard.QueryResult | None) -> dict[str, Any] | None:
    """Return the rows stored on the turn (and shown to the user), types included."""
    if result is None:
        return None
    return {
        "columns": result.columns,
        "rows": result.rows,
        "row_count": result.row_count,
        "truncated": result.truncated,
        "column_types": list(result.column_types),
        # Why the rows stopped ("rows" or "bytes") and how many cells were cut.
        "truncated_reason": result.truncated_reason,
        "cut_cells": result.cut_cells,
    }


@dataclass
class QueryRecord:
    """One query that ran, as stored on the turn."""

    sql: str
    row_count: int = 0
    truncated: bool = False
    duration_ms: float = 0.0
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "sql": self.sql,
            "row_count": self.row_count,
            "truncated": self.truncated,
            "duration_ms": self.duration_ms,
            "error": self.error,
        }


@dataclass
class SessionQueries:
    """The queries of one turn on a session's database, and what they showed."""

    engine: Engine
    db_type: str
    catalog: SchemaCatalog
    queries: list[QueryRecord] = field(default_factory=list)
    last_result: sql_guard.QueryResult | None = None
    # Told of each step and finished query as it happens (streaming listens).
    emit: EventSink = ignore_event
    # What may leave for the model; by default the catalog's (the session's).
    privacy: PrivacyPolicy | None = None
    # What of last_result may be shown (masked columns, hidden rows).
    last_exposure: Exposure = NOTHING_RESTRICTED

    @classmethod
    def of(cls, session_engine: SessionEngine) -> Self:
        """Return the queries of a new turn on the session engine's database."""
        catalog = catalog_get(session_engine)
        return cls(
            engine=session_engine.engine,
            db_type=session_engine.db_type,
            catalog=catalog,
            privacy=catalog.privacy,
        )

    def __post_init__(self) -> None:
        if self.privacy is None:
            self.privacy = self.catalog.privacy or policy_default()

    @property
    def policy(self) -> PrivacyPolicy:
        return self.privacy or self.catalog.privacy or policy_default()

    @property
    def last_masked(self) -> frozenset[int]:
        """Return the indexes of last_result's columns that carry masked values."""
        return self.last_exposure.masked

    def exposure(self, sql: str, column_count: int | None = None) -> Exposure:
        return self.policy.exposure(
            sql=sql,
            db_type=self.db_type,
            catalog=self.catalog,
            column_count=column_count,
        )

    def query(self, sql: str) -> sql_guard.QueryResult:
        """Run `sql` through the guard and record it, whatever the outcome.

        Return the raw result; `last_result` keeps what the user may get (masked
        values as tokens when the connection hides them) and `last_exposure`
        what of it the model may read. A failed query's error is recorded as
        the user may read it.
        """
        stop = sql_guard.stop_signal()
        # A Stop pressed anywhere, read as it is now (a run's Stop is otherwise
        # read at most every CANCEL_POLL_S): nothing starts after it.
        stop_now = getattr(stop, "now", stop)
        if stop_now is not None and stop_now():
            # Stopped before it started (between the model's reply and this
            # tool): nothing runs and nothing is recorded.
            raise AskCancelled()
        record = QueryRecord(sql=sql)
        self.queries.append(record)
        try:
            result = query_checked_run(
                self.engine, db_type=self.db_type, catalog=self.catalog, sql=sql
            )
        except sql_guard.StatementRefused as exc:
            record.error = f"Refused: {exc.reason}"
            raise
        except sql_guard.QueryFailed as exc:
            record.error = self.policy.error_for_user(exc, self.exposure(sql))
            raise
        finally:
            if record.error is not None:
                self.emit("query", record.as_dict())
        record.row_count = result.row_count
        record.truncated = result.truncated
        record.duration_ms = result.duration_ms
        exposure = self.exposure(sql, len(result.columns))
        self.last_exposure = exposure
        self.last_result = self.policy.result_for_user(result, exposure)
        self.emit("query", record.as_dict())
        return result

    def query_for_user(self, sql: str) -> sql_guard.QueryResult:
        """Like `query`, for SQL a person wrote: a refusal, timeout or failure is
        the public error (SqlRefused, SqlTimedOut, SqlFailed worded as the user
        may read it)."""
        try:
            return self.query(sql)
        except sql_guard.StatementRefused as exc:
            raise SqlRefused(exc.reason) from exc
        except sql_guard.QueryFailed as exc:
            if exc.timed_out:
                raise SqlTimedOut(exc.message) from exc
            # The database's text may quote a value the user may not see.
            shown = self.policy.error_for_user(exc, self.exposure(sql))
            raise SqlFailed(shown) from exc
