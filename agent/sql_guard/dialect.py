"""What the statement check knows of an engine: only what its backend declares.

`dialect_for` reads every fact the check needs from the connection's
`DatabaseBackend` at once. An engine that is not registered, or whose backend
leaves one of them out, is refused here, before any text is read: the check
never falls back to another engine's rules.
"""

from __future__ import annotations

from dataclasses import dataclass

from agent.sql_guard.errors import StatementRefused
from connections.backends import DatabaseBackend, UnknownDatabaseType, backend_for
from connections.backends.sql import IdentifierRules, LexerRules


@dataclass(frozen=True)
class Dialect:
    """One engine's reading of SQL, as its backend declares it."""

    db_type: str
    label: str
    sqlglot: str
    lexer: LexerRules
    names: IdentifierRules
    functions: frozenset[str]
    builtin_schemas: frozenset[str]
    syntax_words: frozenset[str]
    assigns_with_colon_equals: bool
    values_statement_checkable: bool
    backend: DatabaseBackend

    def reads_table_as_function(self, name: str) -> bool:
        return self.backend.reads_table_as_function(name)


def dialect_for(db_type: str) -> Dialect:
    """Return the engine's rules, or raise StatementRefused (fail closed)."""
    try:
        backend = backend_for(db_type)
        return Dialect(
            db_type=backend.db_type,
            label=backend.label,
            sqlglot=backend.sqlglot_dialect,
            lexer=backend.lexer_rules,
            names=backend.identifier_rules,
            functions=backend.read_only_functions,
            builtin_schemas=backend.builtin_schemas,
            syntax_words=backend.syntax_words_before_paren,
            assigns_with_colon_equals=backend.assigns_with_colon_equals,
            values_statement_checkable=backend.values_statement_checkable,
            backend=backend,
        )
    except (UnknownDatabaseType, NotImplementedError) as exc:
        raise StatementRefused(
            f"{exc} The query cannot be checked for this database, so it is refused."
        ) from None
