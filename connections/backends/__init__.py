"""One backend per database engine, registered by dotted path in a setting.

Adding an engine: write `connections/backends/<engine>.py` with a subclass of
`DatabaseBackend` implementing every hook, and add one line to
`DATABASE_BACKENDS` in settings. Everything engine-specific (connecting,
running a query read-only, how the statement check and column lineage read its
SQL, its default port, whether it is a file) is asked of the backend. A
backend that is not registered, does not load, or leaves a hook out is refused
as a whole (`UnknownDatabaseType`): every path that needs it refuses, and
`manage.py check` reports it.

This module imports no engine and no model: `connections.models` takes its
choices from here, and the backends may import the models.
"""

from __future__ import annotations

import functools

from django.conf import settings
from django.utils.module_loading import import_string

from connections.backends.base import (
    COLUMN_TYPES,
    BoundedStatement,
    DatabaseBackend,
    PrivilegeFinding,
    hooks_missing,
)


class UnknownDatabaseType(LookupError):
    """No complete backend is registered for this database type."""


def registered() -> dict[str, str]:
    """Return the DATABASE_BACKENDS setting: database type → dotted class path."""
    return dict(settings.DATABASE_BACKENDS)


def backend_for(db_type: str) -> DatabaseBackend:
    """Return the backend registered for `db_type`; refuse unknown or incomplete."""
    paths = registered()
    path = paths.get(str(db_type))
    if path is None:
        known = ", ".join(sorted(paths))
        raise UnknownDatabaseType(
            f"Unknown database type '{db_type}' (known: {known})."
        )
    return _load(str(db_type), path)


@functools.cache
def _load(db_type: str, path: str) -> DatabaseBackend:
    # A failure is not cached: the next call tries (and refuses) again.
    try:
        backend = import_string(path)()
    except ImportError as exc:
        raise UnknownDatabaseType(
            f"The backend for '{db_type}' ({path}) cannot be loaded: {exc}"
        ) from None
    if not isinstance(backend, DatabaseBackend):
        raise UnknownDatabaseType(f"{path} is not a DatabaseBackend.")
    missing = hooks_missing(backend)
    if missing:
        raise UnknownDatabaseType(
            f"The backend for '{db_type}' ({path}) does not implement "
            f"{', '.join(missing)}; it is refused until it does."
        )
    if backend.db_type != db_type:
        raise UnknownDatabaseType(
            f"{path} is registered as '{db_type}' but says it is '{backend.db_type}'."
        )
    return backend


def backends() -> list[DatabaseBackend]:
    """Return every registered backend that loads complete, in setting order."""
    found = []
    for db_type in registered():
        try:
            found.append(backend_for(db_type))
        except UnknownDatabaseType:
            # Not offered; `manage.py check` (connections/checks.py) reports it.
            continue
    return found


def db_type_choices() -> list[tuple[str, str]]:
    """Return (value, label) per usable backend: the choices of a db_type."""
    return [(backend.db_type, backend.label) for backend in backends()]


__all__ = [
    "COLUMN_TYPES",
    "BoundedStatement",
    "DatabaseBackend",
    "PrivilegeFinding",
    "UnknownDatabaseType",
    "backend_for",
    "backends",
    "db_type_choices",
    "registered",
]
