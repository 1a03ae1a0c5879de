"""Which table columns decide a query's rows, and which it reads at all.

A value can leave a query without being one of its output values: which rows
come back, how many and in what order depend on the columns read by FROM
(a table function's arguments), JOIN, WHERE, GROUP BY, HAVING, DISTINCT and
ORDER BY, and `COUNT(*)` over `generate_series(1, ascii(email))` is a stored
character as a number. This walks a qualified query's scopes and resolves every
column it meets down to the table columns behind it (through derived tables,
CTEs, set operations and table functions); a column it cannot resolve is
`UNKNOWN`, so the caller fails closed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from sqlglot import exp
from sqlglot.optimizer.scope import Scope


@dataclass(frozen=True)
class Source:
    """A table column a result column reads, as the catalog spells it."""

    table: str
    column: str


# A value of unknown origin: an unknown table, a view that cannot be read, a
# whole-row reference, a function that runs SQL held in a string, ...
UNKNOWN = Source("?", "?")

# Resolves a base table's column to the catalog's Source (or UNKNOWN).
TableColumn = Callable[[exp.Table, str], Source]

# Select arguments that hold projections or other scopes, not row clauses.
_NOT_ROW_CLAUSES = {"expressions", "with_"}


class QueryReads:
    """Resolve the columns of one qualified query, memoising per scope."""

    def __init__(self, root: Scope, table_column: TableColumn):
        self.root = root
        self._table_column = table_column
        self._owner: dict[int, Scope] = {}
        for scope in root.traverse():
            self._owner[id(scope.expression)] = scope
        self._rows: dict[int, frozenset[Source]] = {}
        self._visiting: set[tuple[int, object]] = set()

    # -- what the caller asks ---------------------------------------------

    def output(self, index: int) -> frozenset[Source]:
        """Return every table column the root's output column `index` reads."""
        return self._value_at(self.root, index)

    def passes_through(self, index: int) -> bool:
        """Say whether the root's output column `index` is a stored value as
        stored (a column through aliases, derived tables, CTEs, set operations,
        MIN or MAX), not one computed from it."""
        return self._stored_at(self.root, index)

    def rows(self, *, with_order: bool) -> frozenset[Source]:
        """Return the columns that decide which rows come back, how many, and
        (with_order) in what order."""
        if with_order:
            return self._rows_of(self.root)
        return self._rows_uncached(self.root, skip=frozenset({"order"}))

    def everything(self) -> frozenset[Source]:
        """Return every table column the query reads anywhere."""
        return self._reads(self.root.expression, self.root)

    # -- the walk ----------------------------------------------------------

    def _owner_of(self, node: exp.Expr, default: Scope) -> Scope:
        current: exp.Expr | None = node.parent
        while current is not None:
            scope = self._owner.get(id(current))
            if scope is not None:
                return scope
            current = current.parent
        return default

    def _reads(
        self, node: exp.Expr, scope: Scope, *, skip_derived: bool = False
    ) -> frozenset[Source]:
        """Return what every column in `node` reads, nested subqueries included
        (with the columns deciding their rows)."""
        found: set[Source] = set()
        skipped = (
            {id(s.expression) for s in scope.derived_table_scopes}
            if skip_derived
            else set()
        )
        for part in _walk(node, skipped):
            if isinstance(part, exp.Column):
                found |= self._resolve(part, self._owner_of(part, scope))
            elif isinstance(part, (exp.Star, exp.TableColumn)) and not isinstance(
                part.parent, exp.Count
            ):
                found.add(UNKNOWN)  # reads columns nobody named
            elif isinstance(part, exp.Query) and part is not scope.expression:
                nested = self._owner.get(id(part))
                if nested is not None and nested is not scope:
                    found |= self._rows_of(nested)
        return frozenset(found)

    def _resolve(self, column: exp.Column, scope: Scope) -> frozenset[Source]:
        table = column.table
        if not table:
            # An output alias (ORDER BY n) or a name nothing resolved.
            names = _named_selects(scope.expression)
            if column.name in names:
                return self._value_at(scope, names.index(column.name))
            return frozenset({UNKNOWN})
        current: Scope | None = scope
        while current is not None:
            source = current.sources.get(table)
            if source is not None:
                return self._from_source(source, column.name, current)
            current = current.parent
        return frozenset({UNKNOWN})

    def _from_source(
        self, source: exp.Table | Scope, name: str, scope: Scope
    ) -> frozenset[Source]:
        if isinstance(source, Scope):
            names = _named_selects(source.expression)
            if name not in names:
                return frozenset({UNKNOWN})
            # A derived column carries its own values and, through which of
            # them exist, the columns that chose its rows.
            return self._value_at(source, names.index(name)) | self._rows_of(source)
        if isinstance(source, exp.Table):
            if isinstance(source.this, exp.Identifier):
                return frozenset({self._table_column(source, name)})
            # A table function (generate_series(1, length(email)) AS p): its
            # values come from its arguments.
            return self._reads(source.this, scope)
        return frozenset({UNKNOWN})

    def _value_at(self, scope: Scope, index: int) -> frozenset[Source]:
        key = (id(scope), index)
        if key in self._visiting:  # a recursive CTE: the other branch tells
            return frozenset()
        self._visiting.add(key)
        try:
            expression = scope.expression
            if isinstance(expression, exp.SetOperation):
                found: set[Source] = set()
                for branch in scope.set_operation_scopes:
                    found |= self._value_at(branch, index)
                return frozenset(found)
            if not isinstance(expression, exp.Select):
                return frozenset({UNKNOWN})
            selects = expression.expressions
            if index >= len(selects):
                return frozenset({UNKNOWN})
            return self._reads(selects[index], scope)
        finally:
            self._visiting.discard(key)

    def _stored_at(self, scope: Scope, index: int) -> bool:
        key = (id(scope), ("stored", index))
        if key in self._visiting:
            return False
        self._visiting.add(key)
        try:
            expression = scope.expression
            if isinstance(expression, exp.SetOperation):
                return all(
                    self._stored_at(branch, index)
                    for branch in scope.set_operation_scopes
                )
            if not isinstance(expression, exp.Select):
                return False
            selects = expression.expressions
            if index >= len(selects):
                return False
            value = selects[index].unalias()
            if isinstance(value, (exp.Max, exp.Min)) and not value.expressions:
                value = value.this
            if not isinstance(value, exp.Column) or not value.table:
                return False
            current: Scope | None = scope
            while current is not None:
                source = current.sources.get(value.table)
                if isinstance(source, Scope):
                    names = _named_selects(source.expression)
                    return value.name in names and self._stored_at(
                        source, names.index(value.name)
                    )
                if isinstance(source, exp.Table):
                    return isinstance(source.this, exp.Identifier)
                current = current.parent
            return False
        finally:
            self._visiting.discard(key)

    def _rows_of(self, scope: Scope) -> frozenset[Source]:
        cached = self._rows.get(id(scope))
        if cached is not None:
            return cached
        key = (id(scope), "rows")
        if key in self._visiting:
            return frozenset()
        self._visiting.add(key)
        try:
            found = self._rows_uncached(scope)
        finally:
            self._visiting.discard(key)
        self._rows[id(scope)] = found
        return found

    def _rows_uncached(
        self, scope: Scope, skip: frozenset[str] = frozenset()
    ) -> frozenset[Source]:
        expression = scope.expression
        found: set[Source] = set()
        if isinstance(expression, exp.SetOperation):
            for branch in scope.set_operation_scopes:
                found |= self._rows_of(branch)
            # UNION (distinct), INTERSECT and EXCEPT compare the values.
            union_all = isinstance(expression, exp.Union) and (
                expression.args.get("distinct") is False
            )
            if not union_all:
                found |= self._all_values(scope)
            for key in ("order", "limit", "offset"):
                if key not in skip and expression.args.get(key) is not None:
                    found |= self._reads(expression.args[key], scope)
            return frozenset(found)
        if not isinstance(expression, exp.Select):
            return frozenset({UNKNOWN})
        for key, value in expression.args.items():
            if key in _NOT_ROW_CLAUSES or key in skip or value is None:
                continue
            for node in value if isinstance(value, list) else [value]:
                if isinstance(node, exp.Expr):
                    found |= self._reads(node, scope, skip_derived=True)
        for source in scope.sources.values():
            if isinstance(source, Scope) and source is not scope:
                found |= self._rows_of(source)
        if expression.args.get("distinct") is not None:
            found |= self._all_values(scope)
        return frozenset(found)

    def _all_values(self, scope: Scope) -> frozenset[Source]:
        found: set[Source] = set()
        for index in range(len(_named_selects(scope.expression))):
            found |= self._value_at(scope, index)
        return frozenset(found)


def _named_selects(expression: exp.Expr) -> list[str]:
    if isinstance(expression, exp.Query):
        return list(expression.named_selects)
    return []


def _walk(node: exp.Expr, skipped: set[int]) -> Iterator[exp.Expr]:
    """Walk `node`, not descending into the derived tables in `skipped`."""
    stack = [node]
    while stack:
        current = stack.pop()
        if id(current) in skipped:
            continue
        yield current
        stack.extend(current.iter_expressions())
