"""Choose a chart for a result from its shape and types, as a Vega-Lite v5 spec.

Deterministic, and built only from our own constants and the stored rows: no
expression, URL or code from the model ever reaches the spec (Vanna's `exec` of
model-written Plotly code became CVE-2024-5565). The model may only *ask* for
one of `CHART_TYPES` with axes among the result's columns; anything else is
ignored.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings

VEGA_LITE_SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json"
# What the model may ask for (its tool's schema lists these).
CHART_TYPES = ("line", "bar", "scatter")
# What a person may pick on the page; "table" shows the rows with no chart.
PICKER_TYPES = ("bar", "barh", "line", "area", "scatter", "pie", "table")
PICKER_LABELS = {
    "bar": "Bar",
    "barh": "Horizontal bar",
    "line": "Line",
    "area": "Area",
    "scatter": "Scatter",
    "pie": "Pie",
    "table": "Table",
}
_PIE_MAX_SLICES = 12
NUMERIC_TYPES = {"integer", "decimal", "float"}
TEMPORAL_TYPES = {"date", "datetime"}
# ISO dates as SQLite stores them in text: 2026-01, 2026-01-05, 2026-01-05 10:00[:00].
_ISO_TEMPORAL = re.compile(
    r"^\d{4}-\d{2}(?:-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?"
    r"(?:Z|[+-]\d{2}:?\d{2})?)?)?$"
)
_TITLE_CHARS = 80
_IDENTIFIER = re.compile(r"(^|_)id$", re.IGNORECASE)


@dataclass(frozen=True)
class ChartRequest:
    """What the model (or a person) asked for: a chart type (or "none") and
    optional axes and series."""

    type: str
    x: str | None = None
    y: str | None = None
    series: str | None = None


def _max_categories() -> int:
    return settings.CHART_MAX_CATEGORIES


def _max_points() -> int:
    return settings.CHART_MAX_POINTS


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            number = Decimal(value)
        except InvalidOperation:
            return None
        return float(number) if number.is_finite() else None
    return None


def _kinds(result: dict[str, Any]) -> list[str]:
    """Return "quantitative", "temporal" or "nominal" for each column."""
    columns = result["columns"]
    declared = result.get("column_types") or ["unknown"] * len(columns)
    kinds = []
    for index, column_type in enumerate(declared):
        values = [row[index] for row in result["rows"] if row[index] is not None]
        if _IDENTIFIER.search(str(columns[index])):
            # Keys are labels, not measures: a chart of ids means nothing.
            kinds.append("nominal")
        elif not values:
            kinds.append("nominal")
        elif column_type in NUMERIC_TYPES and all(
            _number(v) is not None for v in values
        ):
            kinds.append("quantitative")
        elif column_type in TEMPORAL_TYPES or (
            column_type in {"text", "unknown"}
            and all(isinstance(v, str) and _ISO_TEMPORAL.match(v) for v in values)
        ):
            kinds.append("temporal")
        elif column_type == "unknown" and all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in values
        ):
            kinds.append("quantitative")
        else:
            kinds.append("nominal")
    return kinds


def _title(name: Any) -> str:
    text = str(name)
    return text if len(text) <= _TITLE_CHARS else text[: _TITLE_CHARS - 1] + "…"


def _spec(
    result: dict[str, Any],
    kinds: list[str],
    *,
    mark: str,
    x: int,
    y: int,
    color: int | None = None,
) -> dict[str, Any]:
    columns = result["columns"]
    used = [x, y] + ([color] if color is not None else [])
    values = []
    for row in result["rows"]:
        item: dict[str, Any] = {}
        for index in used:
            value = row[index]
            if kinds[index] == "quantitative":
                value = _number(value)
            elif value is not None:
                value = str(value)
            item[f"c{index}"] = value
        values.append(item)
    title = None
    if mark in {"bar", "barh", "pie"}:
        values.sort(key=lambda v: -(v[f"c{y}"] or 0))
        limit = _max_categories()
        if len(values) > limit:
            title = f"Top {limit} of {len(values)} by {_title(columns[y])}"
            values = values[:limit]
    encoding: dict[str, Any] = {
        "x": {"field": f"c{x}", "type": kinds[x], "title": _title(columns[x])},
        "y": {"field": f"c{y}", "type": kinds[y], "title": _title(columns[y])},
        "tooltip": [
            {"field": f"c{i}", "type": kinds[i], "title": _title(columns[i])}
            for i in used
        ],
    }
    if mark == "bar":
        encoding["x"]["sort"] = "-y"
    if color is not None:
        encoding["color"] = {
            "field": f"c{color}",
            "type": "nominal",
            "title": _title(columns[color]),
        }
    if mark == "barh":
        encoding["x"], encoding["y"] = encoding["y"], encoding["x"]
        encoding["y"]["sort"] = "-x"
    if mark == "pie":
        encoding = {
            "theta": {**encoding["y"], "stack": True},
            "color": {**encoding["x"], "sort": "-theta"},
            "tooltip": encoding["tooltip"],
        }
    vega_mark = {"scatter": "point", "barh": "bar", "pie": "arc"}.get(mark, mark)
    spec: dict[str, Any] = {
        "$schema": VEGA_LITE_SCHEMA,
        "width": "container",
        "height": 300,
        "data": {"values": values},
        "mark": {"type": vega_mark, "tooltip": True},
        "encoding": encoding,
        # What was chosen, by column name: the page's picker starts from it.
        "usermeta": {
            "choice": {
                "type": mark,
                "x": str(columns[x]),
                "y": str(columns[y]),
                "series": None if color is None else str(columns[color]),
            }
        },
    }
    if mark == "line":
        spec["mark"]["point"] = True
    if mark == "pie":
        spec["mark"]["innerRadius"] = 50  # a donut: the centre reads as a hole
    if title:
        spec["title"] = title
    return spec


def _automatic(result: dict[str, Any], kinds: list[str]) -> dict[str, Any] | None:
    numeric = [i for i, k in enumerate(kinds) if k == "quantitative"]
    temporal = [i for i, k in enumerate(kinds) if k == "temporal"]
    nominal = [i for i, k in enumerate(kinds) if k == "nominal"]
    if temporal and numeric:
        series = None
        if nominal:
            distinct = {row[nominal[0]] for row in result["rows"]}
            if len(distinct) <= 10:
                series = nominal[0]
        return _spec(
            result, kinds, mark="line", x=temporal[0], y=numeric[0], color=series
        )
    if nominal and numeric and not temporal:
        # "Top N by a measure", also with extra text columns (name, category,
        # revenue): bars of the first label column whose values are distinct.
        for label in nominal:
            distinct = {row[label] for row in result["rows"]}
            if len(distinct) == len(result["rows"]):
                return _spec(result, kinds, mark="bar", x=label, y=numeric[0])
        if len(kinds) == 2:
            return None  # repeated categories: the rows need aggregating first
    if len(numeric) == 2 and len(kinds) == 2:
        return _spec(result, kinds, mark="scatter", x=numeric[0], y=numeric[1])
    return None


def _requested(
    result: dict[str, Any],
    kinds: list[str],
    request: ChartRequest,
    *,
    allowed: tuple[str, ...] = CHART_TYPES,
) -> dict[str, Any] | None:
    columns = [str(c) for c in result["columns"]]
    if request.type not in allowed or request.type == "table":
        return None
    if request.x not in columns or request.y not in columns or request.x == request.y:
        return None
    x, y = columns.index(request.x), columns.index(request.y)
    series = None
    if request.series:
        if request.series not in columns or request.series in (request.x, request.y):
            return None
        series = columns.index(request.series)
    if kinds[y] != "quantitative":
        return None
    if request.type == "scatter" and kinds[x] != "quantitative":
        return None
    # The model's line over labels is refused; a person who picks one gets it.
    if request.type == "line" and kinds[x] == "nominal" and allowed == CHART_TYPES:
        return None
    if request.type == "pie" and (
        series is not None or len(result["rows"]) > _PIE_MAX_SLICES
    ):
        return None
    return _spec(result, kinds, mark=request.type, x=x, y=y, color=series)


def chart_for(
    result: dict[str, Any] | None, *, request: ChartRequest | None = None
) -> dict[str, Any] | None:
    """Return a Vega-Lite spec for the result, or None when no chart fits.

    A single value is the answer itself, not a chart; too many rows or
    categories are not charted (bars are cut to the top N, noted in the title).
    """
    if not result or not result.get("rows") or not result.get("columns"):
        return None
    rows = result["rows"]
    if len(rows) < 2 or len(rows) > _max_points():
        return None
    if any(len(row) != len(result["columns"]) for row in rows):
        return None
    kinds = _kinds(result)
    if request is not None:
        if request.type == "none":
            return None
        chosen = _requested(result, kinds, request)
        if chosen is not None:
            return chosen
    return _automatic(result, kinds)


def chart_picked(
    result: dict[str, Any] | None, *, request: ChartRequest
) -> dict[str, Any] | None:
    """Return the chart a person picked on the page, or None for "table".

    Raises ChartDoesNotFit when the columns cannot make that chart (a text
    column as the measure, a pie of too many slices).
    """
    if request.type not in PICKER_TYPES:
        raise ChartDoesNotFit(f"Pick one of: {', '.join(PICKER_TYPES)}.")
    if request.type == "table":
        return None
    if not chart_options(result):
        raise ChartDoesNotFit("This result has no chart: too few or too many rows.")
    assert result is not None  # chart_options said it has rows  # noqa: S101
    chosen = _requested(result, _kinds(result), request, allowed=PICKER_TYPES)
    if chosen is None:
        raise ChartDoesNotFit(
            "That chart does not fit these columns: the measure must be a number, "
            "a scatter needs two, a pie at most "
            f"{_PIE_MAX_SLICES} slices and no series."
        )
    return chosen


def chart_options(result: dict[str, Any] | None) -> dict[str, list[str]] | None:
    """Return the columns a picker may offer (x: any, y: numbers, series: labels),
    or None when the result is no chart's shape."""
    if not result or not result.get("rows") or not result.get("columns"):
        return None
    rows = result["rows"]
    if len(rows) < 2 or len(rows) > _max_points():
        return None
    if any(len(row) != len(result["columns"]) for row in rows):
        return None
    kinds = _kinds(result)
    columns = [str(c) for c in result["columns"]]
    measures = [c for c, k in zip(columns, kinds, strict=True) if k == "quantitative"]
    if not measures:
        return None
    return {
        "x": columns,
        "y": measures,
        "series": [c for c, k in zip(columns, kinds, strict=True) if k == "nominal"],
    }


class ChartDoesNotFit(ValueError):
    """The chart picked cannot be drawn from these columns."""
