"""One backend per database engine, behind one registry.

Adding an engine: write `connections/backends/<engine>.py` with a subclass of
`DatabaseBackend` implementing every hook, and register it in `BACKENDS`. The
`DbType` choices, the options allow-list and every engine-specific step of a
query follow from the registry; a missing hook raises `NotImplementedError` at
first use.
"""

from __future__ import annotations

from connections.backends.base import (
    COLUMN_TYPES,
    BoundedStatement,
    DatabaseBackend,
    PrivilegeFinding,
)
from connections.backends.mysql import MySQLBackend
from connections.backends.postgresql import PostgreSQLBackend
from connections.backends.sqlite import SQLiteBackend

BACKENDS: dict[str, DatabaseBackend] = {
    backend.db_type: backend
    for backend in (PostgreSQLBackend(), MySQLBackend(), SQLiteBackend())
}


class UnknownDatabaseType(LookupError):
    """No backend is registered for this database type."""


def backend_for(db_type: str) -> DatabaseBackend:
    """Return the backend registered for `db_type`; refuse unknown types."""
    try:
        return BACKENDS[str(db_type)]
    except KeyError:
        known = ", ".join(sorted(BACKENDS))
        raise UnknownDatabaseType(
            f"Unknown database type '{db_type}' (known: {known})."
        ) from None


__all__ = [
    "BACKENDS",
    "COLUMN_TYPES",
    "BoundedStatement",
    "DatabaseBackend",
    "PrivilegeFinding",
    "UnknownDatabaseType",
    "backend_for",
]
