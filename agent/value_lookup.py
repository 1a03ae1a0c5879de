"""Read one column's stored values, bounded, through the guarded query path.

The value index, the `find_values` tool and the empty-result diagnosis ask the
database the same few small questions: the column's distinct values (when
they are few), the values sharing letters with a word (when they are many),
and whether a literal matches any row. Each is one SELECT built here from the
catalog's own names, checked and run read-only and bounded by `sql_guard`
like the model's queries. Whether a column's values may be read for the model
at all is the privacy policy's call (`column_readable`), never this module's.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.conf import settings
from sqlalchemy import Engine

from agent import sql_guard
from agent.value_matching import MAX_VALUE_CHARS, close_values, value_compact

if TYPE_CHECKING:
    from agent.catalog import SchemaCatalog
    from agent.privacy import PrivacyPolicy

# Declared types whose values are text a question may name (not JSON, UUID,
# binary or large objects a user never types).
_TEXT_TYPE = re.compile(r"CHAR|TEXT|STRING|ENUM|CITEXT|NAME", re.IGNORECASE)
_NOT_TEXT = re.compile(r"JSON|UUID|BLOB|BINARY|BYTEA|XML", re.IGNORECASE)
# Letters of a word searched with LIKE on a many-valued column: a few
# trigrams, ASCII only (so no escape or collation question arises).
_SEARCH_GRAMS = 6


def is_text_type(declared: str) -> bool:
    """Say whether a column's declared type holds text worth matching."""
    return bool(_TEXT_TYPE.search(declared)) and not _NOT_TEXT.search(declared)


def sql_string(text: str) -> str | None:
    """Return `text` as an SQL string literal, or None when it cannot be
    written the same way for every server mode (a backslash, a NUL, a
    control character: the statement check would refuse it anyway)."""
    if "\\" in text or any(ord(c) < 32 for c in text):
        return None
    return "'" + text.replace("'", "''") + "'"


def column_readable(
    policy: PrivacyPolicy, catalog: SchemaCatalog, table: str, column: str
) -> bool:
    """Say whether this column's values may reach the model: the `rows` tier,
    not masked, and (for a view) traced to no masked column."""
    names = list(catalog.column_types(table))
    if column not in names:
        return False
    allowed = policy.columns_sampled(
        table, names, catalog=catalog, select_sql=_select(catalog, table, names)
    )
    return column in allowed


def _quote(catalog: SchemaCatalog, name: str) -> str:
    return str(catalog.engine.dialect.identifier_preparer.quote(name))


def _select(catalog: SchemaCatalog, table: str, columns: list[str]) -> str:
    selected = ", ".join(_quote(catalog, c) for c in columns)
    return f"SELECT {selected} FROM {_quote(catalog, table)}"  # noqa: S608


# When set, the monotonic time by which every lookup of this context must end
# (a diagnosis's several lookups share VALUE_LOOKUP_TIMEOUT_S).
_deadline: ContextVar[float | None] = ContextVar("value_lookup_deadline", default=None)


@contextlib.contextmanager
def lookups_within(seconds: float) -> Iterator[None]:
    """Bound every lookup made inside to `seconds` in all; once spent, a
    lookup fails at once (QueryFailed) instead of reading the database."""
    token = _deadline.set(time.monotonic() + seconds)
    try:
        yield
    finally:
        _deadline.reset(token)


def _run(engine: Engine, db_type: str, sql: str, max_rows: int) -> list[list[object]]:
    timeout_s = settings.VALUE_LOOKUP_TIMEOUT_S
    deadline = _deadline.get()
    if deadline is not None:
        left = deadline - time.monotonic()
        if left <= 0.05:
            raise sql_guard.QueryFailed(
                "The value lookups ran out of time.", timed_out=True
            )
        timeout_s = min(timeout_s, left)
    result = sql_guard.query_run(
        engine,
        db_type=db_type,
        sql=sql,
        max_rows=max_rows,
        timeout_s=timeout_s,
    )
    return result.rows


def _texts(rows: list[list[object]]) -> list[str]:
    return [
        row[0]
        for row in rows
        if isinstance(row[0], str) and 0 < len(row[0]) <= MAX_VALUE_CHARS
    ]


@dataclass(frozen=True)
class ColumnValues:
    """A column's distinct values read so far; `complete` when they are all."""

    values: list[str]
    complete: bool


def distinct_values(
    catalog: SchemaCatalog, table: str, column: str, *, cap: int
) -> ColumnValues:
    """Return the column's distinct values when there are at most `cap` of
    them (complete), else the first `cap` (incomplete)."""
    col = _quote(catalog, column)
    sql = (
        f"SELECT DISTINCT {col} FROM {_quote(catalog, table)} "  # noqa: S608
        f"WHERE {col} IS NOT NULL LIMIT {cap + 1}"
    )
    rows = _run(catalog.engine, catalog.db_type, sql, cap + 1)
    return ColumnValues(values=_texts(rows[:cap]), complete=len(rows) <= cap)


def values_sharing_letters(
    catalog: SchemaCatalog, table: str, column: str, text: str, *, cap: int
) -> list[str]:
    """Return up to `cap` distinct values containing one of a few of the
    word's letter trigrams (lower-cased on the server)."""
    compact = re.sub(r"[^a-z0-9]", "", value_compact(text))
    grams = sorted({compact[i : i + 3] for i in range(max(len(compact) - 2, 0))})
    grams = grams[:_SEARCH_GRAMS]
    if not grams:
        return []
    col = _quote(catalog, column)
    likes = " OR ".join(f"LOWER({col}) LIKE '%{g}%'" for g in grams)
    sql = (
        f"SELECT DISTINCT {col} FROM {_quote(catalog, table)} "  # noqa: S608
        f"WHERE {likes} LIMIT {cap}"
    )
    return _texts(_run(catalog.engine, catalog.db_type, sql, cap))


def literal_matches(
    catalog: SchemaCatalog, table: str, column: str, predicate: str
) -> bool:
    """Say whether any row of the table satisfies `predicate` (on this column
    alone, written by the caller from the catalog's names and a literal)."""
    sql = (
        f"SELECT {_quote(catalog, column)} FROM {_quote(catalog, table)} "  # noqa: S608
        f"WHERE {predicate} LIMIT 1"
    )
    return bool(_run(catalog.engine, catalog.db_type, sql, 1))


def column_predicate(
    catalog: SchemaCatalog, column: str, op: str, literal: str
) -> str | None:
    """Return `column <op> 'literal'` in the catalog's quoting, or None."""
    quoted = sql_string(literal)
    if quoted is None:
        return None
    return f"{_quote(catalog, column)} {op} {quoted}"


def values_near(
    catalog: SchemaCatalog, table: str, column: str, text: str, *, limit: int = 5
) -> list[str]:
    """Return the column's stored values closest to `text`, best first."""
    cap = settings.VALUE_INDEX_MAX_DISTINCT
    read = distinct_values(catalog, table, column, cap=cap)
    candidates = read.values
    if not read.complete:
        candidates = candidates + values_sharing_letters(
            catalog, table, column, text, cap=cap
        )
    return [value for value, _score in close_values(text, set(candidates), limit=limit)]
