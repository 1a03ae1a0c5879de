"""PostgreSQL attribute notation: `c.f` calls f(c) when c has no column f.

PostgreSQL reads `t.name` as the column `name` of `t` and, when `t` has no
such column, as the function call `name(t)` (the same for `(expr).name`). The
statement check sees a column; the server may run a user-defined function. So
on PostgreSQL every qualified column reference must name a real column of its
source, as the catalog lists it, and field selection on an expression is
refused.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlglot
from sqlalchemy.exc import NoSuchTableError, SQLAlchemyError
from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.optimizer.normalize_identifiers import normalize_identifiers
from sqlglot.optimizer.scope import Scope, traverse_scope

from agent.sql_guard.dialect import dialect_for
from agent.sql_guard.errors import StatementRefused
from agent.sql_guard.statement import statement_check

if TYPE_CHECKING:
    from agent.catalog import SchemaCatalog


def attribute_calls_check(sql: str, *, db_type: str, catalog: SchemaCatalog) -> None:
    """Refuse a column reference that is not a column of its source, on an engine
    whose backend says `t.f` may call f(t) (PostgreSQL)."""
    dialect = dialect_for(db_type)
    if not dialect.names.attribute_calls:
        return
    statement = statement_check(sql, db_type=db_type)
    try:
        root = normalize_identifiers(
            sqlglot.parse_one(statement, read=dialect.sqlglot),
            dialect=dialect.sqlglot,
        )
        scopes = traverse_scope(root)
    except (SqlglotError, RecursionError, ValueError) as exc:
        raise StatementRefused(
            "The query's column references cannot be checked against the catalog. "
            "Write plain table.column references."
        ) from exc
    for dot in root.find_all(exp.Dot):
        if isinstance(dot.this, exp.Paren):
            raise StatementRefused(
                "Field selection on an expression "
                f"({dot.sql(dialect.sqlglot)[:80]}) is refused: "
                f"{dialect.label} may read it as a function call. Select the "
                "columns of a table by name."
            )
    # Where the server finds an unqualified table that is not the user's own.
    resolver = _Columns(catalog, implicit_schemas=tuple(dialect.builtin_schemas))
    for scope in scopes:
        for column in scope.columns:
            if not column.table:
                continue  # unqualified: a column or an error, never a call
            try:
                known = resolver.of_reference(scope, column)
            except SQLAlchemyError as exc:
                raise StatementRefused(
                    "The catalog could not be read to check the query's column "
                    "references; try again."
                ) from exc
            if known is None or column.name not in known:
                raise StatementRefused(
                    f"{column.table}.{column.name} is not a column the catalog "
                    f"lists for {column.table}, and {dialect.label} would read it as "
                    f"the function call {column.name}({column.table}). Use the "
                    "table's own column names."
                )


# The output columns of the allow-listed set-returning functions whose row has
# named columns of its own (`jsonb_array_elements(x) e` gives `e.value`).
_FUNCTION_COLUMNS = {
    "json_each": {"key", "value"},
    "jsonb_each": {"key", "value"},
    "json_each_text": {"key", "value"},
    "jsonb_each_text": {"key", "value"},
    "json_array_elements": {"value"},
    "jsonb_array_elements": {"value"},
    "json_array_elements_text": {"value"},
    "jsonb_array_elements_text": {"value"},
}


def _function_columns(function: Any, alias: Any) -> set[str] | None:
    """Return what a function in FROM names its columns: its column list, else
    its alias, its own name and the columns it is declared with."""
    if isinstance(alias, exp.TableAlias) and alias.columns:
        return {c.name for c in alias.columns}
    if isinstance(function, exp.Anonymous):
        name = function.name.lower()
    elif isinstance(function, exp.Func):
        name = function.sql_name().lower()
    else:
        return None
    names = {name, *_FUNCTION_COLUMNS.get(name, ())}
    if isinstance(alias, exp.TableAlias) and alias.name:
        names.add(alias.name)
    return names


class _Columns:
    """The columns of a query's sources, from the catalog; None when unknown."""

    def __init__(self, catalog: SchemaCatalog, *, implicit_schemas: tuple[str, ...]):
        self.catalog = catalog
        self.implicit_schemas = implicit_schemas

    def of_reference(self, scope: Scope, column: exp.Column) -> set[str] | None:
        current: Scope | None = scope
        while current is not None:
            source = current.sources.get(column.table)
            if source is not None:
                if column.args.get("db") is not None and not isinstance(
                    source, exp.Table
                ):
                    return None
                return self.of_source(source, current)
            current = current.parent
        return None

    def of_source(self, source: Any, scope: Scope) -> set[str] | None:
        if isinstance(source, Scope):
            return self._of_scope(source)
        if isinstance(source, exp.Table):
            return self._of_table(source)
        return None

    def _of_table(self, table: exp.Table) -> set[str] | None:
        if not isinstance(table.this, exp.Identifier):
            return _function_columns(table.this, table.args.get("alias"))
        schema = table.db or None
        if schema is None or schema == self.catalog.default_schema_name:
            name = self.catalog.table_resolve(table.name)
            if name is not None and (schema is not None or name == table.name):
                return set(self.catalog.column_types(name))
        for candidate in (schema,) if schema else self.implicit_schemas:
            try:
                columns = self.catalog.inspector.get_columns(
                    table.name, schema=candidate
                )
            except NoSuchTableError:  # unknown to the inspector: not certain
                continue
            if columns:
                return {c["name"] for c in columns}
        return None

    def _of_scope(self, scope: Scope) -> set[str] | None:
        expression = scope.expression
        if isinstance(expression, exp.Unnest):
            return _function_columns(expression, expression.args.get("alias"))
        if not isinstance(expression, exp.Select):
            selects = getattr(expression, "selects", None)
            if not selects or any(s.is_star for s in selects):
                return None
            return {s.alias_or_name for s in selects}
        names: set[str] = set()
        for select in expression.selects:
            if isinstance(select, exp.Star):
                for source in scope.sources.values():
                    columns = self.of_source(source, scope)
                    if columns is None:
                        return None
                    names |= columns
            elif isinstance(select, exp.Column) and isinstance(select.this, exp.Star):
                source = scope.sources.get(select.table)
                columns = self.of_source(source, scope) if source else None
                if columns is None:
                    return None
                names |= columns
            else:
                names.add(select.alias_or_name)
        return names
