"""Function calls: decide on the name the server resolves, not on its spelling.

Every `name(` in the token stream and every function in sqlglot's tree is
checked against the per-dialect allow-list (`functions.py`), by the name the
server resolves however it is quoted, escaped or qualified; a name that cannot
be decoded with certainty is refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlglot import exp
from sqlglot.parser import Parser
from sqlglot.tokens import TokenType

from agent.sql_guard.errors import StatementRefused
from agent.sql_guard.functions import (
    ascii_lower,
    function_allowed,
    function_has_side_effects,
)

# Words that come before "(" as syntax rather than as a function name (IN (…),
# OVER (…), WITHIN GROUP (…), CAST(x AS t), JOIN (…), USING (…), …). They only
# count when written unquoted; a quoted name is always a name.
_SYNTAX_WORDS = """
    in exists as values from join on using over filter group select where having
    then else when case union intersect except all any some not and or by lateral
    with recursive is between like distinct interval limit offset sets cube rollup
    columns escape partition only materialized into to at zone array row nulls
    order for of natural inner outer full cross left right collate path nested
"""
_SYNTAX_BEFORE_PAREN: dict[str, frozenset[str]] = {
    "postgresql": frozenset(
        [*_SYNTAX_WORDS.split(), "ilike", "similar", "operator", "ordinality"]
    ),
    "mysql": frozenset(
        [*_SYNTAX_WORDS.split(), "regexp", "rlike", "match", "against", "index", "key"]
    ),
    "sqlite": frozenset([*_SYNTAX_WORDS.split(), "glob", "regexp", "match"]),
}
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
# Quoted names ("…", `…`, […]) and the tokens a U&"…" / U&'…' name ends with.
_QUOTED_NAME_TOKENS = {TokenType.IDENTIFIER}
_UNICODE_NAME_TOKENS = {TokenType.IDENTIFIER, TokenType.UNICODE_STRING}
_TYPE_OR_ALIAS_BEFORE = {TokenType.ALIAS, TokenType.DCOLON}
# Unquoted names: letters (any script), digits, "_" and "$" (PostgreSQL and
# MySQL allow "$"; MySQL even a leading digit). Anything else is not decoded.
_WORD = re.compile(r"[\w$]+\Z")
_NUMBER = re.compile(r"[0-9.]+(?:[eE][+-]?[0-9]+)?\Z")
_PG_MAX_IDENTIFIER_BYTES = 63
_HEX = frozenset("0123456789abcdefABCDEF")


class _Undecodable(Exception):
    """A function name whose resolved form is not certain."""

    def __init__(self, written: str) -> None:
        super().__init__(written)
        self.written = written


@dataclass(frozen=True)
class _Call:
    """A function call as the server will resolve it."""

    name: str
    schema: str | None
    written: str
    quoted: bool
    keyword: bool
    type_name: bool
    before: str = ""  # the token before the name, lower case (context)


def _unicode_unescape(text: str, *, escape: str, written: str) -> str:
    """Decode PostgreSQL U&"…" / U&'…' escapes, or raise _Undecodable."""
    if len(escape) != 1 or escape in _HEX or escape in "+'\" \t\r\n":
        raise _Undecodable(written)
    out: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char != escape:
            out.append(char)
            i += 1
            continue
        if text[i + 1 : i + 2] == escape:
            out.append(escape)
            i += 2
            continue
        if text[i + 1 : i + 2] == "+":
            digits, i = text[i + 2 : i + 8], i + 8
        else:
            digits, i = text[i + 1 : i + 5], i + 5
        if len(digits) not in (4, 6) or not set(digits) <= _HEX:
            raise _Undecodable(written)
        code = int(digits, 16)
        # Surrogates (pairs or not) and NUL are refused rather than combined.
        if code == 0 or 0xD800 <= code <= 0xDFFF or code > 0x10FFFF:
            raise _Undecodable(written)
        out.append(chr(code))
    return "".join(out)


def _adjacent(left: Any, right: Any) -> bool:
    return left.end + 1 == right.start


def _name_part(
    tokens: list[Any], j: int, sql: str, db_type: str
) -> tuple[str, bool, int] | None:
    """Decode the name part ending at token j: (resolved, quoted, first index)."""
    token = tokens[j]
    kind = token.token_type
    if db_type == "postgresql":
        escape = "\\"
        first = j
        if (
            kind == TokenType.STRING
            and j >= 2
            and tokens[j - 1].text.upper() == "UESCAPE"
            and tokens[j - 2].token_type in _UNICODE_NAME_TOKENS
        ):
            escape, j = token.text, j - 2
            token, kind = tokens[j], tokens[j].token_type
        if kind == TokenType.UNICODE_STRING:
            written = sql[token.start : tokens[first].end + 1]
            name = _unicode_unescape(token.text, escape=escape, written=written)
            return name, True, j
        if kind == TokenType.IDENTIFIER:
            if (
                j >= 2
                and tokens[j - 1].token_type == TokenType.AMP
                and tokens[j - 2].token_type == TokenType.VAR
                and tokens[j - 2].text in ("U", "u")
                and _adjacent(tokens[j - 2], tokens[j - 1])
                and _adjacent(tokens[j - 1], token)
            ):
                written = sql[tokens[j - 2].start : tokens[first].end + 1]
                name = _unicode_unescape(token.text, escape=escape, written=written)
                return name, True, j - 2
            if first != j:
                # UESCAPE after a plain quoted name is a syntax error on the server.
                raise _Undecodable(sql[token.start : tokens[first].end + 1])
            return token.text, True, j
        if kind == TokenType.STRING:
            return None
    elif kind == TokenType.STRING:
        # MySQL with ANSI_QUOTES reads "name" as an identifier; SQLite may read a
        # string as a name. Either way a string before "(" is a name here.
        if "\\" in token.text:
            raise _Undecodable(sql[token.start : token.end + 1])
        return token.text, True, j
    if kind in _QUOTED_NAME_TOKENS:
        return token.text, True, j
    text = token.text
    if kind != TokenType.VAR and len(text.split()) > 1:
        text = text.split()[-1]  # one keyword token of several words: GROUP BY (…)
    if _NUMBER.match(text) or not any(c.isalnum() or c in "_$" for c in text):
        return None  # a number, an operator or punctuation
    if not _WORD.match(text):
        raise _Undecodable(sql[token.start : token.end + 1])
    return ascii_lower(text), False, j


def _call_at(
    tokens: list[Any], j: int, sql: str, db_type: str, skip: frozenset[int]
) -> _Call | None:
    """Return the call whose name ends at token j (followed by "("), if any."""
    part = _name_part(tokens, j, sql, db_type)
    if part is None:
        return None
    name, quoted, first = part
    if first == j and tokens[j].start in skip:
        return None  # a CTE or table alias with a column list: `c(x) AS (…)`
    schema = None
    if first >= 1 and tokens[first - 1].token_type == TokenType.DOT:
        qualifier = _name_part(tokens, first - 2, sql, db_type) if first >= 2 else None
        if qualifier is None:
            raise _Undecodable(sql[tokens[first - 1].start : tokens[j].end + 1])
        schema, _, first = qualifier
        if first >= 1 and tokens[first - 1].token_type == TokenType.DOT:
            raise _Undecodable(sql[tokens[first - 2].start : tokens[j].end + 1])
    if first >= 1 and tokens[first - 1].token_type in _TYPE_OR_ALIAS_BEFORE:
        return None  # `AS t(a, b)`, `CAST(x AS varchar(20))`, `x::numeric(10, 2)`
    if db_type == "postgresql" and len(name.encode()) > _PG_MAX_IDENTIFIER_BYTES:
        raise _Undecodable(sql[tokens[first].start : tokens[j].end + 1])
    return _Call(
        name=name,
        schema=schema,
        written=sql[tokens[first].start : tokens[j].end + 1],
        quoted=quoted,
        keyword=not quoted and tokens[j].token_type != TokenType.VAR,
        type_name=not quoted and tokens[j].token_type in Parser.TYPE_TOKENS,
        before=ascii_lower(tokens[first - 1].text) if first >= 1 else "",
    )


def _is_syntax(call: _Call, word: str, db_type: str) -> bool:
    if word in _SYNTAX_ONLY_AFTER:
        return call.before in _SYNTAX_ONLY_AFTER[word]
    return word in _SYNTAX_BEFORE_PAREN.get(db_type, frozenset())


def _call_refusal(call: _Call, *, db_type: str, strict: bool) -> str | None:
    """Return why `call` may not run, or None when it may."""
    if function_allowed(name=call.name, schema=call.schema, db_type=db_type):
        return None
    if call.schema is None and not call.quoted:
        word = ascii_lower(call.name)
        # The tree pass sees what sqlglot made a function: only constructs that
        # can never name a function on any of the servers pass there (a
        # PostgreSQL user-defined function may be called `first` or `join`).
        if strict and call.keyword and word in _NEVER_FUNCTION_NAMES:
            return None
        if not strict and (call.type_name or _is_syntax(call, word, db_type)):
            return None
    shown = f"{call.schema}.{call.name}" if call.schema else call.name
    if db_type != "postgresql" or not call.quoted:
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


def _undecodable_refusal(exc: _Undecodable) -> str:
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
    db_type: str,
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
            call = _call_at(tokens, j, sql, db_type, skip)
        except _Undecodable as exc:
            raise StatementRefused(_undecodable_refusal(exc)) from None
        if call is None:
            continue
        if only_certain and not function_has_side_effects(ascii_lower(call.name)):
            continue
        reason = _call_refusal(call, db_type=db_type, strict=False)
        if reason is not None:
            raise StatementRefused(reason)


# SQLite reads a table-valued function named like a table, without parentheses
# (`SELECT * FROM pragma_database_list`), when no real table has that name.
_SQLITE_EPONYMOUS_TABLES = frozenset(
    {
        "json_each",
        "json_tree",
        "jsonb_each",
        "jsonb_tree",
        "generate_series",
        "fsdir",
        "lsdir",
        "zipfile",
        "sqlite_dbpage",
        "sqlite_stmt",
        "dbstat",
        "carray",
        "completion",
    }
)


def _sqlite_virtual_tables_check(root: exp.Expression) -> None:
    """Refuse a table-valued function read as a table unless it is allowed."""
    for table in root.find_all(exp.Table):
        if not isinstance(table.this, exp.Identifier):
            continue
        name = ascii_lower(table.this.name)
        if not (name.startswith("pragma_") or name in _SQLITE_EPONYMOUS_TABLES):
            continue
        if not function_allowed(name=name, schema=None, db_type="sqlite"):
            raise StatementRefused(
                f"The table-valued function {name} is not allowed: it is not on "
                "the list of read-only functions this agent may call. Read the "
                "schema with sqlite_master, pragma_table_info('t'), "
                "pragma_index_list('t') or pragma_foreign_key_list('t') instead."
            )


def tree_calls_check(
    root: exp.Expression,
    tokens: list[Any],
    sql: str,
    *,
    db_type: str,
    skip: frozenset[int],
) -> None:
    """Refuse every function in the sqlglot tree that is not allowed.

    An `Anonymous` node is a function sqlglot does not know: it must be on the
    allow-list by name, with no syntax-word leeway. A typed function is checked
    by the name written where it starts (what the server resolves, not
    sqlglot's own name for it); one written as syntax or an operator (`x::int`,
    `a || b`, `CURRENT_DATE`) calls nothing by name.
    """
    if db_type == "sqlite":
        _sqlite_virtual_tables_check(root)
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
                call = _call_at(tokens, j, sql, db_type, skip)
            except _Undecodable as exc:
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
            call = _Call(
                name=raw if quoted else ascii_lower(raw),
                schema=schema,
                written=raw,
                quoted=quoted,
                keyword=False,
                type_name=False,
            )
        if call is None:
            continue
        reason = _call_refusal(call, db_type=db_type, strict=True)
        if reason is not None:
            raise StatementRefused(reason)
