"""The hooks every database engine must implement; none has a default.

Modelled on Django's `db/backends/base/operations.py` and healthchecks'
`Transport.notify()`: the base class raises `NotImplementedError` from every
hook, so an engine registered without one of them fails loudly the first time
it is used, never silently without a read-only transaction or a timeout.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy import URL, Connection, Engine

    from connections.backends.sql import IdentifierRules, LexerRules
    from connections.models import DatabaseConnection

# The small vocabulary of column types a query result carries.
COLUMN_TYPES = frozenset(
    {
        "integer",
        "decimal",
        "float",
        "text",
        "date",
        "datetime",
        "time",
        "boolean",
        "binary",
        "json",
        "interval",
        "uuid",
        "unknown",
    }
)


@dataclass(frozen=True)
class PrivilegeFinding:
    """One excess right of the connected role; `blocking` ones refuse the connect."""

    message: str
    blocking: bool


@dataclass(frozen=True)
class BoundedStatement:
    """What to execute so no cell larger than the cap leaves the server.

    With `server_cut`, each original column comes back as three values: the
    value when it fits, else None; the full size in bytes when it does not;
    and a prefix of it as text. `columns` and `description` are the original
    statement's.
    """

    statement: str
    server_cut: bool = False
    columns: list[str] | None = None
    description: Sequence[Sequence[Any]] | None = None


class DatabaseBackend:
    """One database engine as the service needs it; subclass and implement all."""

    def _missing(self, hook: str) -> NotImplementedError:
        return NotImplementedError(
            f"{type(self).__name__} does not implement the '{hook}' hook; "
            "every DatabaseBackend hook must be implemented before use."
        )

    # --- what the engine is -------------------------------------------------
    @property
    def db_type(self) -> str:
        """Return the value stored in DatabaseConnection.db_type."""
        raise self._missing("db_type")

    @property
    def label(self) -> str:
        """Return the name shown to people."""
        raise self._missing("label")

    @property
    def default_port(self) -> int:
        """Return the port used when none is given (0 for file databases)."""
        raise self._missing("default_port")

    @property
    def sqlglot_dialect(self) -> str:
        """Return the sqlglot dialect the statement check parses with."""
        raise self._missing("sqlglot_dialect")

    @property
    def prompt_dialect_name(self) -> str:
        """Return the dialect's name as the model is told it."""
        raise self._missing("prompt_dialect_name")

    @property
    def is_file(self) -> bool:
        """Return whether a connection is a file (no host, port or user)."""
        raise self._missing("is_file")

    @property
    def django_vendor(self) -> str:
        """Return Django's `connection.vendor` for this engine (to spot the app's own
        database among the targets)."""
        raise self._missing("django_vendor")

    @property
    def schema_comments(self) -> bool:
        """Return whether the engine keeps comments on tables and columns."""
        raise self._missing("schema_comments")

    # --- how the engine reads SQL (the statement check and lineage ask) ------
    @property
    def lineage_dialect(self) -> str:
        """Return the sqlglot dialect column lineage (privacy masking) traces in."""
        raise self._missing("lineage_dialect")

    @property
    def lexer_rules(self) -> LexerRules:
        """Return how the server scans strings, quoted names and comments."""
        raise self._missing("lexer_rules")

    @property
    def identifier_rules(self) -> IdentifierRules:
        """Return how the server folds, cuts and resolves names."""
        raise self._missing("identifier_rules")

    @property
    def read_only_functions(self) -> frozenset[str]:
        """Return the built-in functions (lower case) a query may call: no side
        effects. Anything else is refused."""
        raise self._missing("read_only_functions")

    @property
    def builtin_schemas(self) -> frozenset[str]:
        """Return the schemas where a qualified name still reaches a built-in."""
        raise self._missing("builtin_schemas")

    @property
    def side_effect_functions(self) -> frozenset[str]:
        """Return built-ins known to write, lock, sleep, signal, reach files or the
        network, or run SQL from a string. Refused on every engine, named so the
        refusal says why and SQL_EXTRA_ALLOWED_FUNCTIONS cannot let them in."""
        raise self._missing("side_effect_functions")

    @property
    def side_effect_prefixes(self) -> tuple[str, ...]:
        """Return name prefixes of such functions (`pg_advisory_`, `lo_`, ...)."""
        raise self._missing("side_effect_prefixes")

    @property
    def syntax_words_before_paren(self) -> frozenset[str]:
        """Return the unquoted words that come before "(" as syntax, not a call."""
        raise self._missing("syntax_words_before_paren")

    @property
    def assigns_with_colon_equals(self) -> bool:
        """Return whether `x := v` inside a query assigns a variable."""
        raise self._missing("assigns_with_colon_equals")

    @property
    def values_statement_checkable(self) -> bool:
        """Return whether sqlglot reads a bare VALUES statement as the server does."""
        raise self._missing("values_statement_checkable")

    def reads_table_as_function(self, name: str) -> bool:
        """Return whether a table named `name` (lower case) may be a table-valued
        function the server calls without parentheses."""
        raise self._missing("reads_table_as_function")

    @property
    def allowed_options(self) -> dict[str, frozenset[str]]:
        """Return the driver options a user may set, with the values allowed."""
        raise self._missing("allowed_options")

    @property
    def version_sql(self) -> str:
        """Return a query whose one value is the server version."""
        raise self._missing("version_sql")

    # --- connecting ---------------------------------------------------------
    def engine_create_ungated(
        self, conn: DatabaseConnection, *, pooled: bool
    ) -> Engine:
        """Return an engine for `conn`, read-only where the driver allows.

        Ungated: no privilege check. Only `connections.engines` calls it, and
        puts its gate on what it returns (a test keeps it so)."""
        raise self._missing("engine_create_ungated")

    def target_describe(self, conn: DatabaseConnection) -> str:
        """Return where `conn` points, for error messages (no secrets)."""
        raise self._missing("target_describe")

    def privileges_inspect(self, dbapi_connection: Any) -> list[PrivilegeFinding]:
        """Return the excess rights of the role a driver connection is logged in as.

        Takes the driver's own connection: the gate inspects each physical
        connection as it opens, before anything else runs on it."""
        raise self._missing("privileges_inspect")

    # --- running one query --------------------------------------------------
    def begin_read_only(
        self, connection: Connection, *, statement: str, timeout_s: float
    ) -> tuple[Connection, str]:
        """Open a read-only transaction with a timeout; return what to execute."""
        raise self._missing("begin_read_only")

    def is_timeout(self, exc: BaseException) -> bool:
        """Return whether `exc` is the server stopping a statement at its limit."""
        raise self._missing("is_timeout")

    def cancel(self, engine: Engine, pooled_connection: Any) -> None:
        """Cancel the statement running on `pooled_connection`, from another thread.

        Called from a timer thread while the query thread is inside the driver:
        use only what is safe concurrently (`.info`, a cancel request, a new
        connection)."""
        raise self._missing("cancel")

    # --- ending a statement the server does not stop ------------------------
    def session_identify(self, dbapi_connection: Any) -> tuple[int, int] | None:
        """Return the server's id of this session and the socket's file descriptor,
        read without a round trip; None where no server session exists (SQLite)."""
        raise self._missing("session_identify")

    def terminate_sql(self, session_id: int) -> str:
        """Return the statement that ends session `session_id` on the server, run
        by the same account on another connection."""
        raise self._missing("terminate_sql")

    def session_alive_sql(self, session_id: int) -> str:
        """Return a query that has a row while session `session_id` still lives,
        the same row for as long as it is the same session."""
        raise self._missing("session_alive_sql")

    def abandon_stream(self, connection: Connection, dbapi_cursor: Any) -> None:
        """Stop reading a streamed result before its end, cheaply."""
        raise self._missing("abandon_stream")

    def session_reset(self, dbapi_connection: Any, url: URL) -> None:
        """Drop every session state on a driver connection going back to its pool
        (transaction, locks, variables, temporary tables, prepared statements),
        so nothing one session did reaches the next that uses it. Raising makes
        the pool discard the connection instead."""
        raise self._missing("session_reset")

    def cells_bound(
        self, connection: Connection, statement: str, *, max_cell_bytes: int
    ) -> BoundedStatement:
        """Return the statement to run so cells over the cap are cut at the server
        where the engine can (else the client cuts them while fetching)."""
        raise self._missing("cells_bound")

    def column_types(
        self, description: Sequence[Sequence[Any]], rows: Sequence[Sequence[Any]]
    ) -> list[str]:
        """Map a cursor description to COLUMN_TYPES, one per column."""
        raise self._missing("column_types")


def control_connection_open(engine: Engine) -> Any:
    """Open a separate DBAPI connection of the engine's own account, through its
    connect function (target policy and host pinning included), for control
    statements only: cancelling or terminating its own sessions. It never runs a
    user's SQL, so it is not a gate of its own."""
    creator: Any = engine.pool._creator
    return creator(None)


def hooks_missing(backend: DatabaseBackend) -> list[str]:
    """Return the hooks `backend`'s class leaves to the base (which refuses them)."""
    return [
        name
        for name, member in vars(DatabaseBackend).items()
        if not name.startswith("_")
        and (isinstance(member, property) or callable(member))
        and getattr(type(backend), name) is member
    ]


def column_types_from_values(width: int, rows: Sequence[Sequence[Any]]) -> list[str]:
    """Guess each column's type from its first non-null value."""
    import datetime
    import uuid
    from decimal import Decimal

    found = ["unknown"] * width
    for index in range(width):
        for row in rows:
            value = row[index]
            if value is None:
                continue
            if isinstance(value, bool):
                kind = "boolean"
            elif isinstance(value, int):
                kind = "integer"
            elif isinstance(value, float):
                kind = "float"
            elif isinstance(value, Decimal):
                kind = "decimal"
            elif isinstance(value, str):
                kind = "text"
            elif isinstance(value, bytes | bytearray | memoryview):
                kind = "binary"
            elif isinstance(value, datetime.datetime):
                kind = "datetime"
            elif isinstance(value, datetime.date):
                kind = "date"
            elif isinstance(value, datetime.time):
                kind = "time"
            elif isinstance(value, datetime.timedelta):
                kind = "interval"
            elif isinstance(value, uuid.UUID):
                kind = "uuid"
            elif isinstance(value, dict | list):
                kind = "json"
            else:
                kind = "unknown"
            found[index] = kind
            break
    return found
