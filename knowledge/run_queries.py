"""An evaluation run's own queries: gold and model SQL on the run's one engine
and catalog, and what of their rows and errors its user may read."""

from __future__ import annotations

from typing import Any

from agent import sql_guard
from agent.engines import SessionEngine
from agent.querying import catalog_get
from knowledge.services import sql_run_on

# Rows kept on a result to show the diff (the comparison uses all of them).
STORED_ROWS = 50


def run_sql(session_engine: SessionEngine, sql: str) -> sql_guard.QueryResult:
    """Run gold or model SQL on the run's own engine and catalog (one of each
    per run, not per query)."""
    return sql_run_on(
        session_engine.engine,
        db_type=session_engine.db_type,
        catalog=catalog_get(session_engine),
        sql=sql,
    )


def rows_for_user(
    session_engine: SessionEngine, sql: str, result: sql_guard.QueryResult
) -> list[list[Any]]:
    """Return the rows to store for the user: tokens for masked values when the
    connection hides them from its users, as /ask/sql shows them."""
    policy = session_engine.privacy_policy()
    if policy.masked_hidden:
        exposure = policy.exposure(
            sql=sql,
            db_type=session_engine.db_type,
            catalog=catalog_get(session_engine),
            column_count=len(result.columns),
        )
        result = policy.result_for_user(result, exposure)
    return result.rows[:STORED_ROWS]


def error_for_user(session_engine: SessionEngine, sql: str, exc: Exception) -> str:
    """Return a failed query's reason as the user may read it (only the error's
    code and class when masked values are hidden and the query reads one)."""
    if not isinstance(exc, sql_guard.QueryFailed):
        return getattr(exc, "reason", str(exc))
    policy = session_engine.privacy_policy()
    if not policy.masked_hidden:
        return exc.message
    exposure = policy.exposure(
        sql=sql, db_type=session_engine.db_type, catalog=catalog_get(session_engine)
    )
    return policy.error_for_user(exc, exposure)
