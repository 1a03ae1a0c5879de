"""The agent's tools: plain functions over a per-run `ToolContext`.

Each tool is a module-level function that takes the context first, so it can be
tested alone; `langchain_tools()` wraps them for LangChain, which hands the
run's context to the tool through `ToolRuntime`. The compiled agent is shared by
concurrent runs of a session; everything a run records lives in its own context.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from langchain.tools import ToolRuntime, tool
from langchain_core.tools import BaseTool
from sqlalchemy import Engine

from agent import sql_guard
from agent.catalog import SchemaCatalog
from agent.charts import CHART_TYPES, ChartRequest
from agent.privacy import NOTHING_RESTRICTED, Exposure, PrivacyPolicy, policy_default
from agent.sql_guard.attributes import attribute_calls_check
from agent.tokens import count_tokens, schema_token_budget
from sqlagent_project import capacity

EventSink = Callable[[str, dict[str, Any]], None]


def _ignore_event(name: str, data: dict[str, Any]) -> None:
    return None


@dataclass
class QueryRecord:
    """One query the agent ran, as stored on the turn."""

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
class ToolContext:
    """What the tools of one run work with, and what the run has done so far."""

    engine: Engine
    db_type: str
    catalog: SchemaCatalog
    queries: list[QueryRecord] = field(default_factory=list)
    last_result: sql_guard.QueryResult | None = None
    # The chart the model asked for (validated again against the result).
    chart_request: ChartRequest | None = None
    # Told of each step and finished query as it happens (streaming listens).
    emit: EventSink = _ignore_event
    # What may leave for the model; by default the catalog's (the session's).
    privacy: PrivacyPolicy | None = None
    # What of last_result may be shown (masked columns, hidden rows).
    last_exposure: Exposure = NOTHING_RESTRICTED
    # Empty results explained to the model (agent.empty_results), for the turn.
    diagnoses: list[dict[str, Any]] = field(default_factory=list)
    # The tables the first request described and why, for the turn.
    described_tables: list[dict[str, str]] = field(default_factory=list)

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
        record = QueryRecord(sql=sql)
        self.queries.append(record)
        try:
            # Another ask may use this one's CPU slot while the database works.
            with capacity.cpu_released():
                # PostgreSQL reads `t.f` as f(t) when t has no column f.
                attribute_calls_check(sql, db_type=self.db_type, catalog=self.catalog)
                result = sql_guard.query_run(
                    self.engine,
                    db_type=self.db_type,
                    sql=sql,
                    max_rows=settings.QUERY_MAX_ROWS,
                    timeout_s=settings.QUERY_TIMEOUT_S,
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


def list_tables(context: ToolContext, search: str | None = None) -> str:
    """List the tables and views of the database, or those whose names contain a
    word of `search`; never more than half the schema budget (on a schema of
    thousands of tables the whole list would not fit the model's context)."""
    search = (search or "").strip()
    context.emit(
        "step", {"tool": "list_tables", **({"search": search} if search else {})}
    )
    with capacity.cpu_released():  # may read the database's table list
        names = context.catalog.table_names()
    if search:
        words = [w for w in re.split(r"[^\w]+", search.lower()) if w]
        names = [n for n in names if any(w in n.lower() for w in words)]
        if not names:
            return f"No table name contains {search!r}."
    if not names:
        return "The database has no tables."
    room = schema_token_budget() // 2
    listed: list[str] = []
    for name in names:
        room -= count_tokens(name) + 1
        if room < 0:
            break
        listed.append(name)
    text = ", ".join(listed)
    if len(listed) < len(names):
        text += (
            f", and {len(names) - len(listed)} more not shown: call list_tables "
            "with a search word (part of a table name) to find them."
        )
    return text


def describe_tables(context: ToolContext, table_names: list[str] | str) -> str:
    """Describe tables: columns, types, keys and a few sample values."""
    if isinstance(table_names, str):
        table_names = [n.strip() for n in table_names.split(",") if n.strip()]
    names = [str(n) for n in table_names][:50]
    context.emit("step", {"tool": "describe_tables", "table_names": names})
    with capacity.cpu_released():  # reads the database's catalog and samples
        described = context.catalog.describe(names)
    return described or "No table names given."


def run_query(context: ToolContext, sql: str) -> str:
    """Run one read-only SELECT and return its rows as the LLM may see them."""
    context.emit("step", {"tool": "run_query", "sql": sql})
    try:
        result = context.query(sql)
    except sql_guard.StatementRefused as exc:
        return (
            f"Refused: {exc.reason} The database is read-only; write a single SELECT."
        )
    except sql_guard.QueryFailed as exc:
        hint = " You may simplify the query and try again." if exc.timed_out else ""
        message = context.policy.error_for_model(exc, context.exposure(sql))
        return f"Error: {message}{hint}"
    text = result_for_llm(
        result, privacy=context.policy, exposure=context.last_exposure
    )
    from agent.llm.value_tools import empty_result_note

    return text + empty_result_note(context, sql, result)


def choose_chart(
    context: ToolContext, chart_type: str, x: str | None = None, y: str | None = None
) -> str:
    """Record the chart the model wants for the last result (checked when drawn)."""
    allowed = (*CHART_TYPES, "none")
    if chart_type not in allowed:
        return f"Unknown chart type {chart_type!r}; choose one of {', '.join(allowed)}."
    context.chart_request = ChartRequest(type=chart_type, x=x, y=y)
    return "Noted: the chart is drawn from the last result if the axes fit it."


def result_for_llm(
    result: sql_guard.QueryResult,
    *,
    privacy: PrivacyPolicy | None = None,
    exposure: Exposure = NOTHING_RESTRICTED,
) -> str:
    """Return the result as the LLM sees it: fewer rows, cells and characters than
    the user, and under the connection's privacy policy (no values under
    `schema`, tokens for masked columns)."""
    return (privacy or policy_default()).result_for_model(
        result,
        exposure,
        max_rows=settings.LLM_RESULT_MAX_ROWS,
        max_chars=settings.LLM_RESULT_MAX_CHARS,
        max_cell=settings.LLM_MAX_CELL_CHARS,
    )


# LangChain's view of the tools: the docstrings are what the model reads.


@tool("list_tables")
def _list_tables_tool(
    runtime: ToolRuntime[ToolContext], search: str | None = None
) -> str:
    """List the tables and views of the database. On a large database pass
    search (words, e.g. "invoice payment") to list only the tables whose names
    contain one of them."""
    return list_tables(runtime.context, search)


@tool("describe_tables")
def _describe_tables_tool(
    table_names: list[str], runtime: ToolRuntime[ToolContext]
) -> str:
    """Describe tables: columns, types, keys and a few sample values."""
    return describe_tables(runtime.context, table_names)


@tool("run_query")
def _run_query_tool(sql: str, runtime: ToolRuntime[ToolContext]) -> str:
    """Run one read-only SELECT and return its rows (capped)."""
    return run_query(runtime.context, sql)


@tool("choose_chart")
def _choose_chart_tool(
    chart_type: str,
    runtime: ToolRuntime[ToolContext],
    x: str | None = None,
    y: str | None = None,
) -> str:
    """Optional: pick the chart for the last result: chart_type is one of line,
    bar, scatter or none; x and y are column names of that result. Without it,
    a chart is chosen from the result's shape."""
    return choose_chart(runtime.context, chart_type, x, y)


def langchain_tools() -> list[BaseTool]:
    """Return the tools as LangChain runs them (the context comes per run)."""
    from agent.llm.value_tools import find_values_tool

    return [
        _list_tables_tool,
        _describe_tables_tool,
        _run_query_tool,
        find_values_tool,
        _choose_chart_tool,
    ]
