"""Function calls: decide on the name the server resolves, not on its spelling.

Every `name(` in the token stream and every function in sqlglot's tree is
checked against the engine's allow-list (its backend's `read_only_functions`,
see `functions.py`), by the name the server resolves however it is quoted,
escaped or qualified (`names.py`); a name that cannot be decoded with certainty
is refused.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlglot import exp
from sqlglot.tokens import TokenType

from agent.sql_guard.errors import StatementRefused
from agent.sql_guard.functions import (
    ascii_lower,
    function_allowed,
    function_has_side_effects,
)
from agent.sql_guard.names import Call, Undecodable, call_at

if TYPE_CHECKING:
    from agent.sql_guard.dialect import Dialect

# Syntax words that could also name a function (a PostgreSQL `system()` from an
# extension): syntax only right after the word that introduces them.
_SYNTAX_ONLY_AFTER = {
    "system": {"tablesample"},
    "bernoulli": {"tablesample"},
    "repeatable": {")"},
}
# Reserved words (or PostgreSQL's "cannot be function or type") that sqlglot
# may turn into a function node: ROW (…), ARRAY (…), EXISTS (…), x = ANY (…).
_NEVER_FUNCTION_NAMES = frozenset(
    {"row", "array", "exists", "any", "some", "all", "values", "in"}
)


def _is_syntax(call: Call, word: str, dialect: Dialect) -> bool:
    if word in _SYNTAX_ONLY_AFTER:
        return call.before in _SYNTAX_ONLY_AFTER[word]
    return word in dialect.syntax_words


def _call_refusal(call: Call, *, dialect: Dialect, strict: bool) -> str | None:
    """Return why `call` may not run, or None when it may."""
    if function_allowed(name=call.name, schema=call.schema, dialect=dialect):
        return None
    if call.schema is None and not call.quoted:
        word = ascii_lower(call.name)
        # The tree pass sees what sqlglot made a function: only constructs that
        # can never name a function on any of the servers pass there (a
        # PostgreSQL user-defined function may be called `first` or `join`).
        if strict and call.keyword and word in _NEVER_FUNCTION_NAMES:
            return None
        if not strict and (call.type_name or _is_syntax(call, word, dialect)):
            return None
    shown = f"{call.schema}.{call.name}" if call.schema else call.name
    if not (dialect.names.quoted_keep_case and call.quoted):
        shown = ascii_lower(shown)
    spelled = ""
    if ascii_lower(call.written) != ascii_lower(shown):
        spelled = f" (written {call.written})"
    if function_has_side_effects(ascii_lower(call.name)):
        why = "it can change state, wait, lock, or reach files or the network"
        instead = "Leave it out and answer with plain SELECTs"
    else:
        why = (
            "it is not on the list of read-only built-in functions this agent may "
            "call (a user-defined, extension or unknown function"
            + (", or a built-in name quoted in another case" if call.quoted else "")
            + ")"
        )
        instead = (
            "Use standard built-in functions instead, unqualified; the operator "
            "can allow a read-only function with SQL_EXTRA_ALLOWED_FUNCTIONS"
        )
    return f"The function {shown}(){spelled} is not allowed: {why}. {instead}."


def _undecodable_refusal(exc: Undecodable) -> str:
    return (
        f"The function name {exc.written} cannot be decoded with certainty, so it "
        "is refused. Call functions by their plain, unqualified name, without "
        "Unicode escapes or unusual quoting."
    )


def alias_positions(root: exp.Expression) -> frozenset[int]:
    """Return where CTE and table aliases with column lists are named."""
    starts = set()
    for alias in root.find_all(exp.TableAlias):
        if alias.columns and isinstance(alias.this, exp.Identifier):
            start = alias.this.meta.get("start")
            if start is not None:
                starts.add(start)
    return frozenset(starts)


def calls_check(
    tokens: list[Any],
    sql: str,
    *,
    dialect: Dialect,
    skip: frozenset[int],
    only_certain: bool = False,
) -> None:
    """Refuse every `name(` in the token stream that is not allowed.

    This sees calls however sqlglot mapped them (a typed function, an operator,
    a table-valued function in FROM). With `only_certain` (the query did not
    parse) only side-effect functions and undecodable names are reported.
    """
    for j in range(len(tokens) - 1):
        if tokens[j + 1].token_type != TokenType.L_PAREN:
            continue
        try:
            call = call_at(tokens, j, sql, dialect, skip)
        except Undecodable as exc:
            raise StatementRefused(_undecodable_refusal(exc)) from None
        if call is None:
            continue
        if only_certain and not function_has_side_effects(ascii_lower(call.name)):
            continue
        reason = _call_refusal(call, dialect=dialect, strict=False)
        if reason is not None:
            raise StatementRefused(reason)


def _tables_as_functions_check(root: exp.Expression, dialect: Dialect) -> None:
    """Refuse a table-valued function read as a table unless it is allowed.

    SQLite reads `SELECT * FROM pragma_database_list` as a call when no real
    table has that name; the backend says which names an engine may read so.
    """
    for table in root.find_all(exp.Table):
        if not isinstance(table.this, exp.Identifier):
            continue
        name = ascii_lower(table.this.name)
        if not dialect.reads_table_as_function(name):
            continue
        if not function_allowed(name=name, schema=None, dialect=dialect):
            raise StatementRefused(
                f"The table-valued function {name} is not allowed: it is not on "
                f"the list of read-only functions this agent may call on "
                f"{dialect.label}. Read the schema through the tables and "
                "functions that list allows instead."
            )


def tree_calls_check(
    root: exp.Expression,
    tokens: list[Any],
    sql: str,
    *,
    dialect: Dialect,
    skip: frozenset[int],
) -> None:
    """Refuse every function in the sqlglot tree that is not allowed.

    An `Anonymous` node is a function sqlglot does not know: it must be on the
    allow-list by name, with no syntax-word leeway. A typed function is checked
    by the name written where it starts (what the server resolves, not
    sqlglot's own name for it); one written as syntax or an operator (`x::int`,
    `a || b`, `CURRENT_DATE`) calls nothing by name.
    """
    _tables_as_functions_check(root, dialect)
    index_at = {token.start: i for i, token in enumerate(tokens)}
    for node in root.find_all(exp.Func):
        j = index_at.get(node.meta.get("start", -1)) if node.meta else None
        anonymous = isinstance(node, exp.Anonymous)
        call = None
        if (
            j is not None
            and j + 1 < len(tokens)
            and (tokens[j + 1].token_type == TokenType.L_PAREN)
        ):
            try:
                call = call_at(tokens, j, sql, dialect, skip)
            except Undecodable as exc:
                raise StatementRefused(_undecodable_refusal(exc)) from None
        elif anonymous:
            identifier = node.this
            quoted = isinstance(identifier, exp.Identifier) and identifier.quoted
            raw = (
                identifier.name
                if isinstance(identifier, exp.Identifier)
                else str(identifier)
            )
            parent = node.parent
            schema = (
                parent.this.name
                if isinstance(parent, exp.Dot) and parent.expression is node
                else None
            )
            call = Call(
                name=raw if quoted else ascii_lower(raw),
                schema=schema,
                written=raw,
                quoted=quoted,
                keyword=False,
                type_name=False,
            )
        if call is None:
            continue
        reason = _call_refusal(call, dialect=dialect, strict=True)
        if reason is not None:
            raise StatementRefused(reason)
