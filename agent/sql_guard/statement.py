"""Layer 1: the statement check (one read-only statement, no side effects)."""

from __future__ import annotations

import re
from typing import Any

import sqlglot
from django.conf import settings
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect as SqlglotDialect
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokens import TokenType

from agent.sql_guard.calls import alias_positions, calls_check, tree_calls_check
from agent.sql_guard.dialect import Dialect, dialect_for
from agent.sql_guard.errors import StatementRefused
from agent.sql_guard.lexer import Lexed, Literal, lex

# ---------------------------------------------------------------------------
# Layer 1: the statement check (every engine fact comes from its backend)
# ---------------------------------------------------------------------------

# Statement kinds that may not appear anywhere in the tree.
_WRITE_NODES: dict[type[exp.Expression], str] = {
    node: label
    for name, label in (
        ("Insert", "INSERT"),
        ("Update", "UPDATE"),
        ("Delete", "DELETE"),
        ("Merge", "MERGE"),
        ("Create", "CREATE"),
        ("Drop", "DROP"),
        ("Alter", "ALTER"),
        ("TruncateTable", "TRUNCATE"),
        ("Grant", "GRANT"),
        ("Revoke", "REVOKE"),
        ("Copy", "COPY"),
        ("LoadData", "LOAD DATA"),
        ("Set", "SET"),
        ("Pragma", "PRAGMA"),
        ("Use", "USE"),
        ("Transaction", "a transaction statement"),
        ("Commit", "COMMIT"),
        ("Rollback", "ROLLBACK"),
        ("Kill", "KILL"),
        ("Analyze", "ANALYZE"),
        ("Cache", "CACHE"),
        ("Uncache", "UNCACHE"),
        ("Refresh", "REFRESH"),
        ("Comment", "COMMENT"),
        ("Describe", "DESCRIBE"),
        ("Show", "SHOW"),
        ("Declare", "DECLARE"),
        ("Execute", "EXECUTE"),
        ("Command", "a statement the checker cannot analyse"),
        ("DML", "a data-modifying statement"),
        ("DDL", "a schema-changing statement"),
    )
    if (node := getattr(exp, name, None)) is not None
}
_READ_ROOTS: tuple[type[exp.Expression], ...] = (
    exp.Select,
    exp.Union,
    exp.Intersect,
    exp.Except,
    exp.Values,
)
# Matched on the code alone (comments gone, strings blanked): INTO/**/OUTFILE
# is INTO OUTFILE to the server.
_INTO_FILE = re.compile(r"\binto\s+(?:outfile|dumpfile)\b", re.IGNORECASE)
_ONLY_SELECT = "Only a single read-only SELECT is allowed"


def _write_label(node: exp.Expression) -> str | None:
    for node_type, label in _WRITE_NODES.items():
        if isinstance(node, node_type):
            return label
    return None


def _where(node: exp.Expression, root: exp.Expression) -> str:
    parent = node.parent
    while parent is not None and parent is not root:
        if isinstance(parent, exp.CTE):
            return " inside a CTE"
        if isinstance(parent, exp.Subquery):
            return " inside a subquery"
        parent = parent.parent
    return ""


def _tree_check(root: exp.Expression, *, dialect: Dialect) -> None:
    for node in root.walk():
        label = _write_label(node)
        if label is not None:
            raise StatementRefused(
                f"{_ONLY_SELECT}; found {label}{_where(node, root)}."
            )
        if isinstance(node, exp.Into):
            raise StatementRefused(
                f"{_ONLY_SELECT}; SELECT … INTO writes its result and is refused."
            )
        if isinstance(node, exp.Lock):
            raise StatementRefused(
                f"{_ONLY_SELECT}; locking clauses (FOR UPDATE / FOR SHARE) are refused."
            )
        if dialect.assigns_with_colon_equals and isinstance(node, exp.PropertyEQ):
            raise StatementRefused(
                f"{_ONLY_SELECT}; assigning variables (:=) is refused."
            )


def statement_check(sql: str, *, db_type: str) -> str:
    """Return the one read-only statement in `sql`, or raise StatementRefused.

    The statement returned is the text as the server reads it with every
    comment replaced by a space (see `lexer`): run it, not `sql`.
    """
    dialect = dialect_for(db_type)
    if not sql or not sql.strip():
        raise StatementRefused("The query is empty.")
    limit = settings.SQL_MAX_LENGTH
    if len(sql) > limit:
        raise StatementRefused(
            f"The query is {len(sql)} characters long; at most {limit} are "
            "allowed. Write a shorter query."
        )
    try:
        return _statement(lex(sql, rules=dialect.lexer), dialect=dialect)
    except RecursionError:
        # A backstop: the lexer bounds nesting well below Python's limit.
        raise StatementRefused(
            "The query is nested too deeply to be checked. Write it flatter, for "
            "example with a CTE."
        ) from None


def _statement(lexed: Lexed, *, dialect: Dialect) -> str:
    sql = lexed.text
    if _INTO_FILE.search(lexed.code):
        raise StatementRefused(
            f"{_ONLY_SELECT}; INTO OUTFILE / DUMPFILE is refused. Return the rows "
            "as the SELECT's result instead."
        )
    try:
        all_tokens = SqlglotDialect.get_or_raise(dialect.sqlglot).tokenize(sql)
    except TokenError as exc:
        raise StatementRefused(_parse_refusal(exc, dialect=dialect)) from exc
    _tokens_agree(all_tokens, lexed)
    tokens = [t for t in all_tokens if t.token_type != TokenType.SEMICOLON]
    if not tokens:
        raise StatementRefused("The query is empty.")
    if any(
        t.token_type == TokenType.SEMICOLON and t.start < tokens[-1].start
        for t in all_tokens
    ):
        # Whatever follows a semicolon is another statement, even one sqlglot
        # parses as nothing (`SELECT 1; AS`).
        raise StatementRefused(
            f"{_ONLY_SELECT}; the text goes on after a semicolon. "
            "Send one statement without semicolons between statements."
        )
    if not dialect.values_statement_checkable and _starts_with_values(tokens):
        raise StatementRefused(
            f"{_ONLY_SELECT}; a VALUES statement cannot be checked on {dialect.label}. "
            "Write SELECT 1 AS a, 'x' AS b UNION ALL SELECT 2, 'y' instead."
        )
    try:
        parsed = sqlglot.parse(sql, read=dialect.sqlglot)
    except ParseError as exc:
        # Name a refused function when there is one: a clearer reason than the
        # parser's, and UESCAPE names never parse.
        calls_check(tokens, sql, dialect=dialect, skip=frozenset(), only_certain=True)
        raise StatementRefused(_parse_refusal(exc, dialect=dialect)) from exc
    statements = [
        s for s in parsed if s is not None and not isinstance(s, exp.Semicolon)
    ]
    if not statements:
        raise StatementRefused("The query is empty.")
    if len(statements) > 1:
        raise StatementRefused(
            f"{_ONLY_SELECT}; found {len(statements)} statements. "
            "Send one statement without semicolons between statements."
        )
    root = statements[0]
    inner = root
    while isinstance(inner, exp.Subquery):
        inner = inner.this
    if not isinstance(inner, _READ_ROOTS):
        label = _write_label(inner) or type(inner).__name__.upper()
        raise StatementRefused(f"{_ONLY_SELECT}; found {label}.")
    _tree_check(root, dialect=dialect)
    skip = alias_positions(root)
    calls_check(tokens, sql, dialect=dialect, skip=skip)
    tree_calls_check(root, tokens, sql, dialect=dialect, skip=skip)
    # Run exactly the checked tokens: text after the last token (a trailing
    # semicolon) is cut off.
    return sql[tokens[0].start : tokens[-1].end + 1]


# sqlglot tokens that hold a string or a quoted name, prefix and quotes included.
_LITERAL_TOKENS = frozenset(
    getattr(TokenType, name)
    for name in (
        "STRING",
        "IDENTIFIER",
        "NATIONAL_STRING",
        "HEX_STRING",
        "BIT_STRING",
        "BYTE_STRING",
        "RAW_STRING",
        "UNICODE_STRING",
        "HEREDOC_STRING",
    )
    if hasattr(TokenType, name)
)


def _tokens_agree(tokens: list[Any], lexed: Lexed) -> None:
    """Refuse unless sqlglot read the same strings, names and nothing else.

    Each string or quoted name the lexer found must be exactly one sqlglot
    token, sqlglot may find no other, no comment (there is none left) and
    must cover every character that is not whitespace.
    """
    spans: dict[tuple[int, int], Literal] = {}
    for literal in lexed.literals:
        spans[(literal.start, literal.end)] = literal
        spans[(literal.quote_start, literal.end)] = literal
    matched: set[Literal] = set()
    covered = [False] * len(lexed.text)
    for token in tokens:
        if token.comments:
            raise _disagreement()
        if token.token_type in _LITERAL_TOKENS:
            spanned = spans.get((token.start, token.end))
            if spanned is None:
                raise _disagreement()
            matched.add(spanned)
        for k in range(token.start, token.end + 1):
            covered[k] = True
    if len(matched) != len(lexed.literals):
        raise _disagreement()
    for k, char in enumerate(lexed.text):
        if not covered[k] and not char.isspace():
            raise _disagreement()


def _disagreement() -> StatementRefused:
    return StatementRefused(
        "The query's strings, quoted names or comments are read differently by "
        "the checker and by the server, so it is refused. Write plain SQL with "
        "simple quoting."
    )


def _starts_with_values(tokens: list[Any]) -> bool:
    for token in tokens:
        if token.token_type != TokenType.L_PAREN:
            return token.token_type == TokenType.VALUES
    return False


def _parse_refusal(exc: Exception, *, dialect: Dialect) -> str:
    first_line = (
        str(exc).strip().splitlines()[0].rstrip(".") if str(exc).strip() else ""
    )
    return (
        f"The query could not be parsed as {dialect.db_type} SQL: {first_line[:200]}. "
        "Write one plain SELECT in this dialect."
    )
