"""The model's view of stored values: the `find_values` tool, and the note an
empty result gets (agent.empty_results), both under the connection's privacy
rules. Kept apart from `tools.py`, which only hooks them in."""

from __future__ import annotations

from langchain.tools import ToolRuntime, tool

from agent import sql_guard
from agent.empty_results import empty_result_diagnosis
from agent.llm.tools import ToolContext
from agent.value_lookup import column_readable, values_near
from sqlagent_project import capacity

FIND_VALUES_LIMIT = 10


def find_values(context: ToolContext, table: str, column: str, search: str) -> str:
    """Return the column's stored values closest to `search` (bounded), or why
    none may be shown."""
    context.emit("step", {"tool": "find_values", "table": table, "column": column})
    catalog = context.catalog
    with capacity.cpu_released():  # reads the catalog and the database
        name = catalog.table_resolve(str(table).strip().strip('"`[]'))
        if name is None:
            return f"Unknown table: {table!r}."
        columns = {c.lower(): c for c in catalog.column_types(name)}
        known = columns.get(str(column).strip().strip('"`[]').lower())
        if known is None:
            return f"Table {name} has no column {column!r}."
        policy = context.policy
        if not policy.values_visible:
            return (
                "Privacy tier 'schema': you never see values from this database; "
                "filter with the user's own words and let the user check the table."
            )
        if not column_readable(policy, catalog, name, known):
            return f"{name}.{known} is masked: its values are not shown."
        try:
            found = values_near(
                catalog, name, known, str(search)[:200], limit=FIND_VALUES_LIMIT
            )
        except (sql_guard.QueryFailed, sql_guard.StatementRefused) as exc:
            return f"The values could not be read: {getattr(exc, 'reason', exc)}"
    if not found:
        return f"No stored value of {name}.{known} is close to {search!r}."
    listed = ", ".join("'" + v.replace("'", "''") + "'" for v in found)
    return f"Stored values of {name}.{known} closest to {search!r}: {listed}."


def found_nothing(result: sql_guard.QueryResult) -> bool:
    """Say whether a result is empty: no rows, or one row of zeros and NULLs
    (a COUNT or SUM over no rows)."""
    if result.row_count == 0:
        return True
    return result.row_count == 1 and all(
        cell is None or (not isinstance(cell, bool) and cell in (0, "0"))
        for cell in result.rows[0]
    )


def empty_result_note(
    context: ToolContext, sql: str, result: sql_guard.QueryResult
) -> str:
    """Return what the model is told about an empty result's literals (once per
    ask: its one retry), recording the diagnosis for the turn; '' for none."""
    if context.diagnoses or not found_nothing(result):
        return ""
    with capacity.cpu_released():  # bounded queries on the user's database
        diagnosis = empty_result_diagnosis(
            sql=sql,
            catalog=context.catalog,
            policy=context.policy,
            exposure=context.last_exposure,
        )
    if diagnosis is None:
        return ""
    context.diagnoses.append(diagnosis.as_dict())
    return "\n" + diagnosis.for_model()


@tool("find_values")
def find_values_tool(
    table: str, column: str, search: str, runtime: ToolRuntime[ToolContext]
) -> str:
    """Find how a value is stored: the values of table.column closest to search
    (case, accents and spelling forgiven). Use it before filtering a text
    column on a word from the question."""
    return find_values(runtime.context, table, column, search)
