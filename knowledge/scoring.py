"""Execution-accuracy scoring: whether two results hold the same rows, and the
confidence interval of a run's accuracy.

Rules: rows compared as a multiset unless the gold SQL orders at top level;
column order and names ignored (each row is compared as the multiset of its
cells); numbers equal within a relative tolerance of about 1e-6
(3 == 3.0 == Decimal("3.00")).
"""

from __future__ import annotations

import math
from collections import Counter
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlglot

from agent import sql_guard


def wilson_interval(correct: int, total: int, z: float = 1.96) -> tuple[float, float]:
    """Return the 95% Wilson score interval of correct/total."""
    if total == 0:
        return 0.0, 0.0
    p = correct / total
    denominator = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denominator
    half = (
        z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denominator
    )
    return max(0.0, centre - half), min(1.0, centre + half)


def _cell_key(value: Any) -> tuple[int, str]:
    """Return a comparable key; numbers within ~1e-6 relative give the same key."""
    if isinstance(value, bool):
        value = int(value)
    if isinstance(value, int | float | Decimal):
        number = float(value)
        if math.isnan(number):
            return (1, "nan")
        return (1, "0" if number == 0 else f"{number:.6g}")
    if value is None:
        return (0, "")
    if isinstance(value, datetime | date):
        return (2, value.isoformat())
    if isinstance(value, str):
        try:
            return _cell_key(Decimal(value.strip())) if value.strip() else (2, value)
        except ArithmeticError:
            return (2, value)
    return (2, str(value))


def _row_key(row: list[Any]) -> tuple[tuple[int, str], ...]:
    return tuple(sorted(_cell_key(cell) for cell in row))


def orders_at_top_level(sql: str, *, db_type: str) -> bool:
    """Return whether the statement's outermost query has an ORDER BY.

    Read in the engine's own dialect (its backend's); an engine without one is
    refused (StatementRefused), never read as another engine's SQL.
    """
    dialect = sql_guard.dialect_for(db_type).sqlglot
    try:
        tree = sqlglot.parse_one(sql, read=dialect)
    except sqlglot.errors.ParseError:
        return False
    return tree.args.get("order") is not None


def rows_match(
    gold: list[list[Any]], returned: list[list[Any]], *, ordered: bool
) -> bool:
    """Return whether two results hold the same rows (see the module's rules)."""
    gold_keys = [_row_key(r) for r in gold]
    returned_keys = [_row_key(r) for r in returned]
    if ordered:
        return gold_keys == returned_keys
    return Counter(gold_keys) == Counter(returned_keys)
