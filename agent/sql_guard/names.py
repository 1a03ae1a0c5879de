"""Function names as the server resolves them, however quoted, escaped or qualified.

`call_at` reads the name before a "(" in sqlglot's token stream the way the
engine does (its backend's `identifier_rules` and `lexer_rules`: Unicode
escapes, quoted case, strings read as names, the longest name), or raises
`Undecodable` when the resolved name is not certain.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlglot.parser import Parser
from sqlglot.tokens import TokenType

from agent.sql_guard.functions import ascii_lower

if TYPE_CHECKING:
    from agent.sql_guard.dialect import Dialect

# Quoted names ("…", `…`, […]) and the tokens a U&"…" / U&'…' name ends with.
_QUOTED_NAME_TOKENS = {TokenType.IDENTIFIER}
_UNICODE_NAME_TOKENS = {TokenType.IDENTIFIER, TokenType.UNICODE_STRING}
_TYPE_OR_ALIAS_BEFORE = {TokenType.ALIAS, TokenType.DCOLON}
# Unquoted names: letters (any script), digits, "_" and "$" (PostgreSQL and
# MySQL allow "$"; MySQL even a leading digit). Anything else is not decoded.
_WORD = re.compile(r"[\w$]+\Z")
_NUMBER = re.compile(r"[0-9.]+(?:[eE][+-]?[0-9]+)?\Z")
_HEX = frozenset("0123456789abcdefABCDEF")


class Undecodable(Exception):
    """A function name whose resolved form is not certain."""

    def __init__(self, written: str) -> None:
        super().__init__(written)
        self.written = written


@dataclass(frozen=True)
class Call:
    """A function call as the server will resolve it."""

    name: str
    schema: str | None
    written: str
    quoted: bool
    keyword: bool
    type_name: bool
    before: str = ""  # the token before the name, lower case (context)


def _unicode_unescape(text: str, *, escape: str, written: str) -> str:
    """Decode PostgreSQL U&"…" / U&'…' escapes, or raise Undecodable."""
    if len(escape) != 1 or escape in _HEX or escape in "+'\" \t\r\n":
        raise Undecodable(written)
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
            raise Undecodable(written)
        code = int(digits, 16)
        # Surrogates (pairs or not) and NUL are refused rather than combined.
        if code == 0 or 0xD800 <= code <= 0xDFFF or code > 0x10FFFF:
            raise Undecodable(written)
        out.append(chr(code))
    return "".join(out)


def _adjacent(left: Any, right: Any) -> bool:
    return left.end + 1 == right.start


def _name_part(
    tokens: list[Any], j: int, sql: str, dialect: Dialect
) -> tuple[str, bool, int] | None:
    """Decode the name part ending at token j: (resolved, quoted, first index)."""
    token = tokens[j]
    kind = token.token_type
    if dialect.lexer.unicode_escapes:
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
                raise Undecodable(sql[token.start : tokens[first].end + 1])
            return token.text, True, j
    if kind == TokenType.STRING:
        if not dialect.names.strings_may_name:
            return None
        # MySQL with ANSI_QUOTES reads "name" as an identifier; SQLite may read a
        # string as a name. Either way a string before "(" is a name there.
        if "\\" in token.text:
            raise Undecodable(sql[token.start : token.end + 1])
        return token.text, True, j
    if kind in _QUOTED_NAME_TOKENS:
        return token.text, True, j
    text = token.text
    if kind != TokenType.VAR and len(text.split()) > 1:
        text = text.split()[-1]  # one keyword token of several words: GROUP BY (…)
    if _NUMBER.match(text) or not any(c.isalnum() or c in "_$" for c in text):
        return None  # a number, an operator or punctuation
    if not _WORD.match(text):
        raise Undecodable(sql[token.start : token.end + 1])
    return ascii_lower(text), False, j


def call_at(
    tokens: list[Any], j: int, sql: str, dialect: Dialect, skip: frozenset[int]
) -> Call | None:
    """Return the call whose name ends at token j (followed by "("), if any."""
    part = _name_part(tokens, j, sql, dialect)
    if part is None:
        return None
    name, quoted, first = part
    if first == j and tokens[j].start in skip:
        return None  # a CTE or table alias with a column list: `c(x) AS (…)`
    schema = None
    if first >= 1 and tokens[first - 1].token_type == TokenType.DOT:
        qualifier = _name_part(tokens, first - 2, sql, dialect) if first >= 2 else None
        if qualifier is None:
            raise Undecodable(sql[tokens[first - 1].start : tokens[j].end + 1])
        schema, _, first = qualifier
        if first >= 1 and tokens[first - 1].token_type == TokenType.DOT:
            raise Undecodable(sql[tokens[first - 2].start : tokens[j].end + 1])
    if first >= 1 and tokens[first - 1].token_type in _TYPE_OR_ALIAS_BEFORE:
        return None  # `AS t(a, b)`, `CAST(x AS varchar(20))`, `x::numeric(10, 2)`
    max_bytes = dialect.names.max_bytes
    if max_bytes is not None and len(name.encode()) > max_bytes:
        raise Undecodable(sql[tokens[first].start : tokens[j].end + 1])
    return Call(
        name=name,
        schema=schema,
        written=sql[tokens[first].start : tokens[j].end + 1],
        quoted=quoted,
        keyword=not quoted and tokens[j].token_type != TokenType.VAR,
        type_name=not quoted and tokens[j].token_type in Parser.TYPE_TOKENS,
        before=ascii_lower(tokens[first - 1].text) if first >= 1 else "",
    )
