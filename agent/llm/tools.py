"""The agent's tools: plain functions over a per-run `ToolContext`.

Each tool is a module-level function that takes the context first, so it can be
tested alone; `langchain_tools()` wraps them for LangChain, which hands the
run's context to the tool through `ToolRuntime`. The compiled agent is shared by
concurrent runs of a session; everything a run records lives in its own context.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from langchain.tools import ToolRuntime, tool
from langchain_core.tools import BaseTool

from agent import sql_guard
from agent.charts import CHART_TYPES, ChartRequest
from agent.privacy import NOTHING_RESTRICTED, Exposure, PrivacyPolicy, policy_default
from agent.querying import EventSink, QueryRecord, SessionQueries, ignore_event
from agent.tokens import count_tokens, schema_token_budget

__all__ = ["EventSink", "QueryRecord", "ToolContext", "ignore_event"]


@dataclass
class ToolContext(SessionQueries):
    """What the tools of one run work with, and what the run has done so far."""

    # The chart the model asked for (validated again against the result).
    chart_request: ChartRequest | None = None
    # Empty results explained to the model (agent.empty_results), for the turn.
    diagnoses: list[dict[str, Any]] = field(default_factory=list)
    # The tables the first request described and why, for the turn.
    described_tables: list[dict[str, str]] = field(default_factory=list)


def list_tables(context: ToolContext, search: str | None = None) -> str:
    """List the tables and views of the database, or those whose names contain a
    word of `search`; never more than half the schema budget (on a schema of
    thousands of tables the whole list would not fit the model's context)."""
    search = (search or "").strip()
    context.emit(
        "step", {"tool": "list_tables", **({"search": search} if search else {})}
    )
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
