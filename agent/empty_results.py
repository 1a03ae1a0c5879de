"""Say why a query found no rows before the model answers "there are none".

When a query returns 0 rows and filters text columns with literals (`=`,
`IN`, `LIKE`, `ILIKE` on base-table columns sqlglot resolves against the
catalog), each literal is checked against its column alone, through the
guarded query path: does any row hold it, and if not, which stored values are
close (normalised, then by trigram or edit distance). The model is told which
literal matched nothing and what exists instead, once per ask (its one
retry); when every literal exists, the empty result is a true negative and it
is told to say so plainly. Only under the `rows` tier, only on columns whose
values the model may read, and only when the model may know the row count.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import sqlglot
from django.conf import settings
from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.scope import Scope, traverse_scope
from sqlglot.schema import ensure_schema

from agent import sql_guard
from agent.value_lookup import (
    column_predicate,
    column_readable,
    is_text_type,
    literal_matches,
    lookups_within,
    values_near,
)
from connections.backends import UnknownDatabaseType, backend_for

if TYPE_CHECKING:
    from agent.catalog import SchemaCatalog
    from agent.privacy import Exposure, PrivacyPolicy

logger = logging.getLogger("agent.empty_results")

_PREDICATES = (exp.EQ, exp.In, exp.Like, exp.ILike)


@dataclass(frozen=True)
class Filter:
    """One literal a query compares a text column with."""

    table: str
    column: str
    op: str
    literal: str


@dataclass
class LiteralCheck:
    """What the column holds for one literal."""

    table: str
    column: str
    op: str
    literal: str
    found: bool
    close: list[str] = field(default_factory=list)


@dataclass
class Diagnosis:
    """The checks of one empty result, and what the model is told."""

    sql: str
    checks: list[LiteralCheck]

    @property
    def true_negative(self) -> bool:
        return all(check.found for check in self.checks)

    def as_dict(self) -> dict[str, Any]:
        return {
            "sql": self.sql,
            "true_negative": self.true_negative,
            "checks": [asdict(check) for check in self.checks],
        }

    def for_model(self) -> str:
        lines = []
        for check in self.checks:
            target = f"{check.table}.{check.column} {check.op} {_quoted(check.literal)}"
            if check.found:
                lines.append(f"- {target}: rows hold this value.")
            elif check.close:
                close = ", ".join(_quoted(v) for v in check.close)
                lines.append(
                    f"- {target}: matches no row; close stored values: {close}."
                )
            else:
                lines.append(
                    f"- {target}: matches no row, and no stored value is close."
                )
        head = "Checked against the data, the values this query filters on:\n"
        if self.true_negative:
            return (
                head
                + "\n".join(lines)
                + "\nEvery value exists, so the empty result is a true negative: "
                "say plainly that no rows match, and that the value(s) exist."
            )
        return (
            head
            + "\n".join(lines)
            + "\nIf a close value is what the question means, run the query again "
            "with it (one retry); otherwise say plainly that nothing matches."
        )


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def empty_result_diagnosis(
    *,
    sql: str,
    catalog: SchemaCatalog,
    policy: PrivacyPolicy,
    exposure: Exposure,
) -> Diagnosis | None:
    """Return the checks of an empty result's literals, or None when there is
    nothing the model may be told (no text literal, or values kept from it)."""
    if not policy.values_visible or exposure.count_hidden or exposure.rows_masked:
        return None
    try:
        filters = text_filters(sql, catalog=catalog)
    except Exception:  # an unreadable query is just not diagnosed
        logger.info("empty result not diagnosed: the query could not be read")
        return None
    filters = [
        f for f in filters if column_readable(policy, catalog, f.table, f.column)
    ][: settings.EMPTY_RESULT_MAX_LITERALS]
    if not filters:
        return None
    checks = []
    # All the checks of one empty result share one lookup time.
    with lookups_within(settings.VALUE_LOOKUP_TIMEOUT_S):
        for item in filters:
            check = _check(catalog, item)
            if check is not None:
                checks.append(check)
    return Diagnosis(sql=sql, checks=checks) if checks else None


def _check(catalog: SchemaCatalog, item: Filter) -> LiteralCheck | None:
    predicate = column_predicate(catalog, item.column, item.op, item.literal)
    if predicate is None:
        return None
    try:
        found = literal_matches(catalog, item.table, item.column, predicate)
        close = (
            []
            if found
            else values_near(
                catalog, item.table, item.column, item.literal.strip("%_"), limit=5
            )
        )
    except (sql_guard.QueryFailed, sql_guard.StatementRefused):
        return None
    return LiteralCheck(
        table=item.table,
        column=item.column,
        op=item.op,
        literal=item.literal,
        found=found,
        close=close,
    )


def text_filters(sql: str, *, catalog: SchemaCatalog) -> list[Filter]:
    """Return the text literals the query compares base-table text columns with."""
    try:
        dialect = backend_for(catalog.db_type).lineage_dialect
    except (UnknownDatabaseType, NotImplementedError):
        return []
    try:
        parsed = sqlglot.parse_one(sql, read=dialect)
    except SqlglotError:
        return []
    schema: dict[str, dict[str, str]] = {}
    for table in parsed.find_all(exp.Table):
        name = catalog.table_resolve(table.name) if table.name else None
        if name is not None and not catalog.is_view(name):
            schema[name] = catalog.column_types(name)
    qualified = qualify(
        parsed,
        schema=ensure_schema(schema, dialect=dialect),
        dialect=dialect,
        validate_qualify_columns=False,
        identify=False,
    )
    found: list[Filter] = []
    for scope in traverse_scope(qualified):
        for node in scope.expression.find_all(*_PREDICATES):
            if _scope_of(node) is not scope.expression:
                continue
            for item in _filters_of(node, scope, catalog):
                if item not in found:
                    found.append(item)
    return found


def _scope_of(node: exp.Expr) -> exp.Expr | None:
    return node.find_ancestor(exp.Select, exp.Union, exp.Subquery)


def _filters_of(node: exp.Expr, scope: Scope, catalog: SchemaCatalog) -> list[Filter]:
    op = {exp.EQ: "=", exp.In: "=", exp.Like: "LIKE", exp.ILike: "ILIKE"}[type(node)]
    if isinstance(node, exp.In):
        column, literals = node.this, node.expressions
    else:
        left, right = node.this, node.expression
        column, literals = (
            (left, [right])
            if isinstance(left, exp.Column)
            else (
                right,
                [left],
            )
        )
    if not isinstance(column, exp.Column):
        return []
    resolved = _column_source(column, scope, catalog)
    if resolved is None:
        return []
    table, name = resolved
    return [
        Filter(table=table, column=name, op=op, literal=literal.this)
        for literal in literals
        if isinstance(literal, exp.Literal) and literal.is_string and literal.this
    ]


def _column_source(
    column: exp.Column, scope: Scope, catalog: SchemaCatalog
) -> tuple[str, str] | None:
    """Return the base table and column a qualified column reads, if text."""
    source = scope.sources.get(column.table)
    if not isinstance(source, exp.Table):
        return None
    if source.db and source.db.lower() != catalog.default_schema_name.lower():
        return None
    table = catalog.table_resolve(source.name)
    if table is None or catalog.is_view(table):
        return None
    for known, declared in catalog.column_types(table).items():
        if known.lower() == column.name.lower():
            return (table, known) if is_text_type(declared) else None
    return None
