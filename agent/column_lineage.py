"""Trace each column of a query's result to the table columns its values come from.

Masking must follow what a query resolves to, not the names it writes:
`SELECT email AS e`, `lower(email)`, `SELECT *`, subqueries, CTEs and views all
carry a column's values under other names. sqlglot qualifies the query against
the catalog's columns and its lineage walks every output column down to the
table columns it reads. Whatever cannot be traced with certainty is reported
as `UNKNOWN`, and a query that cannot be traced at all as None, so the caller
can fail closed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.lineage import Node, to_node
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.scope import build_scope
from sqlglot.schema import ensure_schema

from agent.query_reads import UNKNOWN, QueryReads, Source
from connections.backends import UnknownDatabaseType, backend_for

if TYPE_CHECKING:
    from agent.catalog import SchemaCatalog

# Views expanded into their definitions, at most this deep (views of views).
MAX_VIEW_DEPTH = 4


# Functions that read tables named in a string argument (PostgreSQL's
# query_to_xml('SELECT …'), table_to_xml('customers', …), dblink): what they
# return cannot be traced to columns.
_OPAQUE_FUNCTION_MARKERS = ("to_xml", "dblink", "xmlschema")

# Expressions a constant output column may be built of: no column, no table.
_CONSTANT_NODES: tuple[type[exp.Expr], ...] = (
    exp.Literal,
    exp.Null,
    exp.Boolean,
    exp.Paren,
    exp.Neg,
    exp.Binary,
    exp.Not,
    exp.Cast,
    exp.TryCast,
    exp.DataType,
    exp.DataTypeParam,
    exp.Alias,
    exp.Identifier,
    exp.Tuple,
    exp.Interval,
    exp.Var,
    exp.CurrentDate,
    exp.CurrentTimestamp,
    exp.CurrentTime,
    exp.Count,
)


@dataclass(frozen=True)
class Traced:
    """What a query's result is made of, as table columns.

    `columns`: per output column, every column its values are computed from.
    `count`: the columns that decide which rows come back and how many (FROM's
    table functions, JOIN, WHERE, GROUP BY, HAVING, DISTINCT, LIMIT, and the
    same inside derived tables and CTEs). `rows`: those and ORDER BY's.
    `reads`: every column the query reads anywhere. `stored`: the output
    columns whose values are stored values as stored, not computed from them.
    """

    columns: list[frozenset[Source]]
    count: frozenset[Source]
    rows: frozenset[Source]
    reads: frozenset[Source]
    stored: frozenset[int] = frozenset()


def result_sources(
    *, sql: str, db_type: str, column_count: int | None, catalog: SchemaCatalog
) -> Traced | None:
    """Return the table columns the query's result is made of.

    None when the query cannot be traced (unparsable, a different number of
    output columns than the database returned, an opaque function, a reference
    that sqlglot could not resolve): the caller must then treat every column as
    carrying anything. `column_count` None skips the count check (errors, where
    no result came back).
    """
    try:
        # The backend's lineage dialect; an unknown engine, or one whose backend
        # names none, is not traced (None: the caller masks every column).
        dialect = backend_for(db_type).lineage_dialect
    except (UnknownDatabaseType, NotImplementedError):
        return None
    try:
        parsed = sqlglot.parse_one(sql, read=dialect)
        return _trace(parsed, dialect, column_count, catalog)
    except (SqlglotError, RecursionError, ValueError, KeyError, AttributeError):
        return None


def _trace(
    parsed: exp.Expr,
    dialect: str | None,
    column_count: int | None,
    catalog: SchemaCatalog,
) -> Traced | None:
    if not isinstance(parsed, exp.Query):
        return None
    if _has_opaque_function(parsed):
        return None
    schema: dict[str, dict[str, str]] = {}
    opaque: set[str] = set()
    expanded = _expand_views(parsed, dialect, catalog, schema, opaque)
    if expanded is None or _has_opaque_function(expanded):
        return None
    qualified = qualify(
        expanded,
        schema=ensure_schema(schema, dialect=dialect),
        dialect=dialect,
        validate_qualify_columns=False,
        identify=False,
    )
    # PostgreSQL's whole-row reference (`row_to_json(c)`, `SELECT c FROM t c`)
    # reads every column; a `*` left unexpanded reads columns we do not know.
    if qualified.find(exp.TableColumn) is not None or not _is_count(qualified):
        return None
    if not isinstance(qualified, exp.Query):
        return None
    selects = qualified.selects
    if column_count is not None and len(selects) != column_count:
        return None
    scope = build_scope(qualified)
    if scope is None:
        return None
    reads = QueryReads(
        scope, lambda table, column: _table_source(table, column, catalog, opaque)
    )
    ensured = ensure_schema(schema, dialect=dialect)
    sources: list[frozenset[Source]] = []
    for index in range(len(selects)):
        # sqlglot's lineage, and every column the expression reads besides
        # (a scalar subquery's WHERE, a derived column's filters).
        node = to_node(index, scope, dialect, schema=ensured, trim_selects=False)
        sources.append(_leaf_sources(node, catalog, opaque) | reads.output(index))
    return Traced(
        columns=sources,
        count=reads.rows(with_order=False),
        rows=reads.rows(with_order=True),
        reads=reads.everything(),
        stored=frozenset(i for i in range(len(selects)) if reads.passes_through(i)),
    )


def _table_source(
    table: exp.Table, column: str, catalog: SchemaCatalog, opaque: set[str]
) -> Source:
    """Return a base table's column as the catalog spells it, or UNKNOWN."""
    if table.db and table.db.lower() != catalog.default_schema_name.lower():
        return UNKNOWN
    name = catalog.table_resolve(table.name)
    if name is None or name.lower() in opaque:
        return UNKNOWN
    for known in catalog.column_types(name):
        if known.lower() == column.lower():
            return Source(name, known)
    return UNKNOWN


def _is_count(tree: exp.Expr) -> bool:
    """Say whether every `*` left in the tree is COUNT(*)'s."""
    return all(isinstance(star.parent, exp.Count) for star in tree.find_all(exp.Star))


def _has_opaque_function(tree: exp.Expr) -> bool:
    for function in tree.find_all(exp.Func):
        name = function.sql_name() if not isinstance(function, exp.Anonymous) else ""
        name = (name or function.name or "").lower()
        if any(marker in name for marker in _OPAQUE_FUNCTION_MARKERS):
            return True
    return False


def _expand_views(
    parsed: exp.Expr,
    dialect: str | None,
    catalog: SchemaCatalog,
    schema: dict[str, dict[str, str]],
    opaque: set[str],
) -> exp.Expr | None:
    """Fill `schema` with the columns of every table the query reads, replacing
    each view by its definition so lineage reaches the view's own tables."""
    tree = parsed
    for _ in range(MAX_VIEW_DEPTH + 1):
        cte_names = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
        views: dict[str, exp.Query] = {}
        for table in tree.find_all(exp.Table):
            if not table.name or (not table.db and table.name.lower() in cte_names):
                continue
            if table.db and table.db.lower() != catalog.default_schema_name.lower():
                continue  # another schema: unknown to the catalog, left opaque
            name = catalog.table_resolve(table.name)
            if name is None:
                continue
            schema[name] = catalog.column_types(name)
            if catalog.is_view(name):
                definition = catalog.view_definition(name)
                query = _parse_query(definition, dialect) if definition else None
                if query is None:
                    opaque.add(name.lower())
                else:
                    views[table.name] = query
        if not views:
            return tree
        tree = exp.expand(tree, views, dialect=dialect, copy=True)
    return None  # views nested deeper than we follow


def _parse_query(sql: str, dialect: str | None) -> exp.Query | None:
    try:
        query = sqlglot.parse_one(sql, read=dialect)
    except SqlglotError:
        return None
    return query if isinstance(query, exp.Query) else None


def _leaf_sources(
    node: Node, catalog: SchemaCatalog, opaque: set[str]
) -> frozenset[Source]:
    found: set[Source] = set()
    for leaf in node.walk():
        if leaf.downstream:
            continue
        found.add(_leaf_source(leaf, catalog, opaque))
    found.discard(_CONSTANT)
    return frozenset(found)


_CONSTANT = Source("", "")


def _leaf_source(leaf: Node, catalog: SchemaCatalog, opaque: set[str]) -> Source:
    expression = leaf.expression
    if isinstance(expression, exp.Table):
        if expression.db and (
            expression.db.lower() != catalog.default_schema_name.lower()
        ):
            return UNKNOWN
        table = catalog.table_resolve(expression.name)
        if table is None or table.lower() in opaque:
            return UNKNOWN
        try:
            column = exp.to_column(leaf.name).name
        except (SqlglotError, ValueError):
            return UNKNOWN
        for known in catalog.column_types(table):
            if known.lower() == column.lower():
                return Source(table, known)
        return UNKNOWN
    if all(isinstance(part, _CONSTANT_NODES) for part in expression.walk()) or (
        _only_count_star(expression)
    ):
        return _CONSTANT
    return UNKNOWN


def _only_count_star(expression: exp.Expr) -> bool:
    return all(
        isinstance(part, _CONSTANT_NODES)
        or (isinstance(part, exp.Star) and isinstance(part.parent, exp.Count))
        for part in expression.walk()
    )
