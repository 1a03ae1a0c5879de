"""Template filters for answers."""

from __future__ import annotations

import json
from typing import Any

from django import template
from django.utils.html import json_script
from django.utils.safestring import SafeString, mark_safe

from agent.charts import PICKER_LABELS, PICKER_TYPES, chart_options
from agent.markdown import markdown_render

register = template.Library()


@register.filter(name="markdown")
def markdown_filter(text: str) -> SafeString:
    """Render an answer's Markdown; the HTML is sanitized by an allow-list."""
    return mark_safe(markdown_render(text))  # noqa: S308 - sanitized by nh3


_NUMERIC = {"integer", "decimal", "float"}


@register.filter
def column_type(result: dict, index: int) -> str:
    """Return the stored type of a result column ("unknown" for older turns)."""
    types = result.get("column_types") or []
    return types[index] if index < len(types) else "unknown"


@register.filter
def column_align(result: dict, index: int) -> str:
    """Return "num" for numeric columns, so they are right-aligned."""
    if column_type(result, index) in _NUMERIC:
        return "num"
    rows = result.get("rows") or []
    values = [row[index] for row in rows[:50] if row[index] is not None]
    numeric = values and all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in values
    )
    return "num" if numeric else ""


@register.filter
def cell_text(value: object) -> str:
    """Return a cell as text (JSON for lists and objects, as stored)."""
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@register.filter
def last_sql(queries: list[dict] | None) -> str:
    """Return the last SQL that ran without error, else the last one tried."""
    if not queries:
        return ""
    for query in reversed(queries):
        if not query.get("error"):
            return query.get("sql", "")
    return queries[-1].get("sql", "")


RESULT_PAGE_SIZE = 25


@register.simple_tag
def result_page_size() -> int:
    """Return how many rows a result table shows per page."""
    return RESULT_PAGE_SIZE


@register.filter
def first_page(rows: list | None) -> list:
    """Return the rows of a result's first page (the rest load on demand)."""
    return list(rows or [])[:RESULT_PAGE_SIZE]


@register.simple_tag
def chart_json(turn: Any) -> SafeString:
    """Return the turn's chart spec in a JSON script tag the page script reads."""
    return json_script(turn.chart, f"chart-spec-{turn.id}")


@register.simple_tag
def chart_picker(turn: Any) -> dict[str, Any] | None:
    """Return what the chart picker offers for a turn and what it starts at
    (the remembered choice; "table" when the turn has no chart)."""
    options = chart_options(turn.result)
    if options is None:
        return None
    choice = ((turn.chart or {}).get("usermeta") or {}).get("choice") or {}
    return {
        "types": [(value, PICKER_LABELS[value]) for value in PICKER_TYPES],
        "options": options,
        "choice": {
            "type": choice.get("type") or ("table" if not turn.chart else "bar"),
            "x": choice.get("x") or options["x"][0],
            "y": choice.get("y") or options["y"][0],
            "series": choice.get("series") or "",
        },
    }
