"""The functions the agent's SQL may call: each backend's allow-list, nothing else.

Each engine's backend lists its read-only built-ins (`read_only_functions`,
built from `connections.backends.sql.STANDARD_FUNCTIONS`); anything not listed
is refused by the statement check, so a function the database gains later (an
extension, a user-defined function, a new release) is refused until someone
decides it is safe. Listed are functions without side
effects: aggregates, window, math, string, date/time, JSON, conditional, casts,
and the catalog/introspection functions a read-only agent needs. Left out on
purpose: anything that locks, sleeps, signals other sessions, reads or writes
server files, opens connections (dblink, postgres_fdw), sets configuration,
touches sequences, large objects, advisory locks, transaction ids or
notifications, or runs SQL given in a string (`query_to_xml`, `ts_stat`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings

from connections.backends import backends

if TYPE_CHECKING:
    from agent.sql_guard.dialect import Dialect


_ASCII_UPPER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def ascii_lower(name: str) -> str:
    """Fold A-Z only, as the databases do: `\u212a` (Kelvin) is not a `k`."""
    return name.translate(_ASCII_UPPER)


def function_has_side_effects(name: str) -> bool:
    """Tell whether `name` (lower case, unqualified) is a known side-effect function
    of any registered engine (each backend's `side_effect_functions`): refused
    everywhere, as a name that is dangerous on one server is on no allow-list."""
    for backend in backends():
        if name in backend.side_effect_functions or name.startswith(
            backend.side_effect_prefixes
        ):
            return True
    return False


def _extra_allowed() -> frozenset[str]:
    # Read at each check, not at import, so settings overrides take effect.
    extra = getattr(settings, "SQL_EXTRA_ALLOWED_FUNCTIONS", None) or []
    return frozenset(name.strip() for name in extra if name.strip())


def function_allowed(*, name: str, schema: str | None, dialect: Dialect) -> bool:
    """Tell whether the function the server resolves to (schema, name) may run.

    `name` and `schema` are what the server resolves, already unquoted and case
    folded; where a quoted name keeps its case (PostgreSQL) it is a different
    function from the lower-case built-in.
    """
    case_blind = not dialect.names.quoted_keep_case
    key = ascii_lower(name) if case_blind else name
    schema_key = None
    if schema is not None:
        schema_key = ascii_lower(schema) if case_blind else schema
    if function_has_side_effects(ascii_lower(name)):
        return False
    if key in dialect.functions and (
        schema_key is None or schema_key in dialect.builtin_schemas
    ):
        return True
    for entry in _extra_allowed():
        entry_key = ascii_lower(entry) if case_blind else entry
        if "." in entry_key:
            if schema_key is not None and entry_key == f"{schema_key}.{key}":
                return True
        elif entry_key == key:
            return True
    return False
