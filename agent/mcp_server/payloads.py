"""What an AI client may read of a turn: its rows and errors under the
connection's privacy policy (an MCP client is a model too), capped for the client.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from accounts.models import User
from agent import sql_guard
from agent.engines import engine_cache
from agent.exceptions import SqlFailed
from agent.models import Turn
from agent.privacy import policy_default
from agent.querying import catalog_get
from agent.turn_view import TurnView
from connections.services import session_get_or_create_active

logger = logging.getLogger(__name__)


def rows_cap() -> int:
    """Return the most rows a tool sends its client."""
    return settings.MCP_RESULT_MAX_ROWS


def turn_payload(*, user: User, turn: Turn) -> dict[str, Any]:
    """Return what a tool reports of a turn: the turn's public view (as the API
    and the pages show it), its rows capped and under the privacy policy."""
    payload = TurnView.of(turn).public()
    shown = _rows_for_client(user=user, turn=turn, sql=payload["sql"])
    rows = shown.rows
    cap = rows_cap()
    payload["rows"] = rows[:cap]
    payload["rows_returned"] = min(len(rows), cap)
    if shown.count_hidden:
        # The number itself is restricted (rows a masked column chose).
        payload["row_count"] = None
        payload["truncated"] = False
    else:
        # The query's own cap (QUERY_MAX_ROWS) or this one cut rows off.
        payload["truncated"] = payload["truncated"] or len(rows) > cap
    chart = payload.pop("chart")
    if shown.note is not None:
        payload["privacy"] = shown.note
    elif chart:
        # A chart holds the rows' values: only sent when nothing is restricted.
        payload["chart"] = chart
    return payload


@dataclass(frozen=True)
class _ClientRows:
    rows: list[list[Any]]
    note: str | None = None
    count_hidden: bool = False


def _rows_for_client(*, user: User, turn: Turn, sql: list[str]) -> _ClientRows:
    """Return the rows an AI client may read, under the connection's privacy
    policy (an MCP client is a model too), and a note when rules applied.

    Tier `schema`: no values. Masked columns: tokens, traced as for the agent's
    model; rows a masked column chose: neither rows nor their number; anything
    that cannot be checked is withheld (fail closed).
    """
    result = turn.result or {}
    rows = [list(row) for row in result.get("rows") or []]
    if not rows:
        return _ClientRows(rows)
    try:
        session_engine = engine_cache.get(session_get_or_create_active(user=user))
        policy = session_engine.privacy or policy_default()
        if not policy.restricts:
            return _ClientRows(rows)
        stored = sql_guard.QueryResult(
            columns=list(result.get("columns") or []),
            column_types=list(result.get("column_types") or []),
            rows=rows,
            row_count=int(result.get("row_count") or len(rows)),
            truncated=bool(result.get("truncated")),
            duration_ms=0.0,
        )
        exposure = policy.exposure(
            sql=sql[-1] if sql else "",
            db_type=session_engine.db_type,
            catalog=catalog_get(session_engine),
            column_count=len(stored.columns),
        )
    except Exception:
        logger.warning("mcp rows withheld: privacy could not be checked", exc_info=True)
        return _ClientRows(
            [], "Rows withheld: the privacy rules could not be checked.", True
        )
    if not policy.values_visible:
        return _ClientRows(
            [],
            "Privacy tier 'schema': values are not sent to AI clients; the "
            "user sees them in SQLAgent.",
            exposure.count_hidden,
        )
    if exposure.count_hidden:
        return _ClientRows(
            [],
            "Rows withheld: a masked column chooses which rows this query "
            "returns; the user sees them in SQLAgent.",
            True,
        )
    if policy.masked_hidden:
        # The stored rows already hold tokens in place of masked values.
        return _ClientRows(rows, "Masked columns show a token per value.")
    note = "Masked columns show a token per value." if exposure.masked else None
    return _ClientRows(policy.shown(stored, exposure).rows, note)


def error_for_client(*, user: User, error: SqlFailed, sql: str) -> str:
    """Return a failed query's error as the agent's model would see it (its code
    and class only, when values are restricted)."""
    failed = error.__cause__
    if not isinstance(failed, sql_guard.QueryFailed):
        return "The query failed."
    try:
        session_engine = engine_cache.get(session_get_or_create_active(user=user))
        policy = session_engine.privacy or policy_default()
        exposure = policy.exposure(
            sql=sql,
            db_type=session_engine.db_type,
            catalog=catalog_get(session_engine),
        )
    except Exception:
        return failed.summary()
    return policy.error_for_model(failed, exposure)
