"""SQLite files in SQLITE_DATABASES_DIR: `mode=ro`, an authorizer, bounded values."""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import URL, Connection, Engine, create_engine

from connections.backends.base import (
    BoundedStatement,
    DatabaseBackend,
    PrivilegeFinding,
    column_types_from_values,
)
from connections.backends.server import pool_args
from connections.backends.sql import (
    STANDARD_FUNCTIONS,
    STANDARD_SYNTAX_WORDS,
    IdentifierRules,
    LexerRules,
    names,
)
from connections.backends.sqlite_costs import costs_bound

if TYPE_CHECKING:
    from connections.models import DatabaseConnection

# Authorizer: an allow-list. Everything not named here is denied, so new write
# actions in future SQLite versions are denied too.
_ALLOWED_ACTIONS = {
    sqlite3.SQLITE_SELECT,
    sqlite3.SQLITE_READ,
    sqlite3.SQLITE_FUNCTION,
    sqlite3.SQLITE_RECURSIVE,
    sqlite3.SQLITE_TRANSACTION,
}
# Pragmas that only read the schema (SQLAlchemy's inspector uses them).
_READ_PRAGMAS = {
    "table_info",
    "table_xinfo",
    "table_list",
    "index_list",
    "index_info",
    "index_xinfo",
    "foreign_key_list",
    "database_list",
    "collation_list",
}
# Pragmas SQLAlchemy reads (with no value) when it opens a connection.
_QUERY_PRAGMAS = {
    "read_uncommitted",
    "encoding",
    "user_version",
    "schema_version",
}
_DENIED_FUNCTIONS = {
    "load_extension",
    "readfile",
    "writefile",
    "edit",
    "fts3_tokenizer",
    "sqlite_compileoption_get",
}
# Floor of the per-value length limit: enough for any cell a user is shown.
_MIN_LENGTH_LIMIT = 1024 * 1024

# Declared-type affinity (https://sqlite.org/datatype3.html §3.1), finer.
_DECLARED = (
    ("INT", "integer"),
    ("BOOL", "boolean"),
    ("DATETIME", "datetime"),
    ("TIMESTAMP", "datetime"),
    ("DATE", "date"),
    ("TIME", "time"),
    ("UUID", "uuid"),
    ("JSON", "json"),
    ("CHAR", "text"),
    ("CLOB", "text"),
    ("TEXT", "text"),
    ("BLOB", "binary"),
    ("REAL", "float"),
    ("FLOA", "float"),
    ("DOUB", "float"),
    ("DEC", "decimal"),
    ("NUMERIC", "decimal"),
)


def sqlite_authorizer(action: int, arg1: str | None, arg2: str | None, *_: Any) -> int:
    """Allow reads only: no ATTACH, no PRAGMA writes, no writes of any kind."""
    if action == sqlite3.SQLITE_PRAGMA:
        name = (arg1 or "").lower()
        if name in _READ_PRAGMAS or (name in _QUERY_PRAGMAS and arg2 is None):
            return sqlite3.SQLITE_OK
        return sqlite3.SQLITE_DENY
    if action == sqlite3.SQLITE_FUNCTION:
        if (arg2 or "").lower() in _DENIED_FUNCTIONS:
            return sqlite3.SQLITE_DENY
        return sqlite3.SQLITE_OK
    if action == sqlite3.SQLITE_UPDATE and _is_schema_probe(arg1, arg2, *_):
        return sqlite3.SQLITE_OK
    if action in _ALLOWED_ACTIONS:
        return sqlite3.SQLITE_OK
    return sqlite3.SQLITE_DENY


_SCHEMA_TABLES = {"sqlite_master", "sqlite_schema"}
_SCHEMA_COLUMNS = {"type", "name", "tbl_name", "rootpage", "sql"}


def _is_schema_probe(table: str | None, column: str | None, *rest: Any) -> bool:
    """Tell SQLite's own check of the schema table from a write.

    The first table-valued function of a connection (`pragma_table_info('t')`,
    `json_each(...)`) makes SQLite ask for UPDATE on the schema table's columns,
    outside any trigger. Nothing is written: the file is opened read-only, the
    schema table refuses changes without `writable_schema` (a pragma this
    authorizer denies), and the statement check refuses UPDATE anyway.
    """
    database, trigger = [*rest, None, None][:2]
    return (
        (table or "").lower() in _SCHEMA_TABLES
        and (column or "").lower() in _SCHEMA_COLUMNS
        and database == "main"
        and trigger is None
    )


# printf's width and precision: `%.*c` with 1e9 runs for a minute inside one
# function call, out of reach of the progress handler and interrupt(), even
# though its result is then refused as too big.
_PRINTF_SPEC = re.compile(r"%[-+ 0#,!]*(\*|\d+)?(?:\.(\*|\d+))?(?:ll|l)?(.)")


class _BoundedPrintf:
    """printf()/format() that refuse widths past the value limit, then run SQLite's."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        # SQLite's own printf, on a private connection that never sees user data
        # beyond these arguments.
        self._builtin = sqlite3.connect(":memory:", check_same_thread=False)
        self._builtin.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, limit)

    def __call__(self, *args: Any) -> Any:
        if not args or args[0] is None:
            return None
        self._check(str(args[0]), args[1:])
        marks = ", ".join("?" for _ in args)
        return self._builtin.execute(f"SELECT printf({marks})", args).fetchone()[0]

    def _check(self, fmt: str, rest: tuple[Any, ...]) -> None:
        position = 0
        for width, precision, conversion in _PRINTF_SPEC.findall(fmt):
            for number in (width, precision):
                if number == "*":
                    value = rest[position] if position < len(rest) else 0
                    position += 1
                else:
                    value = number or 0
                try:
                    too_big = abs(int(value)) > self._limit
                except (TypeError, ValueError):
                    too_big = False
                if too_big:
                    raise ValueError("string or blob too big")
            if conversion != "%":
                position += 1


def value_length_limit() -> int:
    """Return the longest string or blob SQLite may build in one step."""
    from django.conf import settings

    return max(settings.QUERY_MAX_CELL_BYTES, _MIN_LENGTH_LIMIT)


def sqlite_connect_readonly(database_name: str) -> sqlite3.Connection:
    """Open a SQLite file inside SQLITE_DATABASES_DIR, read-only at three levels."""
    from django.conf import settings

    from connections import target_policy

    path = target_policy.sqlite_path_resolve(database_name)
    raw = sqlite3.connect(
        f"{path.as_uri()}?mode=ro",
        uri=True,
        check_same_thread=False,
        timeout=settings.TARGET_CONNECT_TIMEOUT_S,
    )
    raw.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
    # One function call (`printf('%.*c', 1e9, 'x')`, `randomblob(1e9)`) runs
    # to its end without reaching the progress handler: bound what one value
    # may grow to, so such a call fails at once instead of running for a minute.
    raw.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, value_length_limit())
    bounded_printf = _BoundedPrintf(value_length_limit())
    for name in ("printf", "format"):
        raw.create_function(name, -1, bounded_printf)
    # instr/replace/trim are quadratic in one call: linear versions instead.
    costs_bound(raw, value_length_limit())
    raw.set_authorizer(sqlite_authorizer)
    return raw


def _declared_kind(declared: str | None) -> str | None:
    if not declared:
        return None
    upper = declared.upper()
    for marker, kind in _DECLARED:
        if marker in upper:
            return kind
    return None


# Read-only built-ins beyond the standard's (see `read_only_functions`).
_FUNCTIONS = names("""
    char concat concat_ws format glob hex ifnull iif instr like likelihood
    likely octet_length printf quote random randomblob rtrim soundex
    sqlite_source_id sqlite_version substring typeof unhex unicode unlikely
    zeroblob unistr changes total_changes

    total group_concat string_agg json_group_array json_group_object
    jsonb_group_array jsonb_group_object

    date time datetime julianday unixepoch strftime timediff

    acosh asinh atanh cosh sinh tanh log2 pow trunc

    json jsonb json_array jsonb_array json_array_length json_error_position
    json_extract jsonb_extract json_insert jsonb_insert json_object jsonb_object
    json_patch jsonb_patch json_pretty json_remove jsonb_remove json_replace
    jsonb_replace json_set jsonb_set json_type json_valid json_quote json_each
    json_tree jsonb_each jsonb_tree

    pragma_table_info pragma_table_xinfo pragma_table_list pragma_index_list
    pragma_index_info pragma_index_xinfo pragma_foreign_key_list
    pragma_collation_list pragma_function_list pragma_module_list
    generate_series
""")
# Table-valued functions SQLite reads named like a table, without parentheses
# (`SELECT * FROM pragma_database_list`), when no real table has that name.
_EPONYMOUS_TABLES = names("""
    json_each json_tree jsonb_each jsonb_tree generate_series fsdir lsdir zipfile
    sqlite_dbpage sqlite_stmt dbstat carray completion
""")


class SQLiteBackend(DatabaseBackend):
    """SQLite: every hook implemented."""

    db_type = "sqlite"
    label = "SQLite"
    default_port = 0
    sqlglot_dialect = "sqlite"
    prompt_dialect_name = "SQLite"
    version_sql = "SELECT sqlite_version()"
    lineage_dialect = "sqlite"
    django_vendor = "sqlite"
    is_file = True
    schema_comments = False
    lexer_rules = LexerRules(
        number=re.compile(r"0x[0-9a-fA-F]+|[0-9]+(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?"),
        string_prefixes=frozenset({"x"}),
        bracket_names=True,
        parameter_marks="?:@$#",
    )
    identifier_rules = IdentifierRules(
        quoted_keep_case=False,
        max_bytes=None,
        strings_may_name=True,  # SQLite may read a 'string' as a name
    )
    read_only_functions = STANDARD_FUNCTIONS | _FUNCTIONS
    side_effect_functions = names("""
        load_extension readfile writefile edit fts3_tokenizer lsdir fsdir
    """)
    side_effect_prefixes: tuple[str, ...] = ()
    builtin_schemas: frozenset[str] = frozenset()
    syntax_words_before_paren = STANDARD_SYNTAX_WORDS | names("glob regexp match")
    assigns_with_colon_equals = False
    values_statement_checkable = True
    allowed_options: dict[str, frozenset[str]] = {}

    def reads_table_as_function(self, name: str) -> bool:
        return name.startswith("pragma_") or name in _EPONYMOUS_TABLES

    def engine_create_ungated(
        self, conn: DatabaseConnection, *, pooled: bool
    ) -> Engine:
        database_name = conn.database_name
        return create_engine(
            "sqlite://",
            creator=lambda: sqlite_connect_readonly(database_name),
            **pool_args(pooled=pooled),
        )

    def target_describe(self, conn: DatabaseConnection) -> str:
        return f"the SQLite file '{conn.database_name}'"

    def privileges_inspect(self, dbapi_connection: Any) -> list[PrivilegeFinding]:
        # The file is opened read-only with an authorizer: no role to inspect.
        return []

    def begin_read_only(
        self, connection: Connection, *, statement: str, timeout_s: float
    ) -> tuple[Connection, str]:
        # mode=ro and the authorizer hold for the whole connection. The
        # progress handler ends a statement past the deadline (the next query
        # installs its own, replacing this one).
        raw: Any = connection.connection.driver_connection
        deadline = time.monotonic() + timeout_s

        def past_deadline() -> int:
            return 1 if time.monotonic() > deadline else 0  # non-zero interrupts

        raw.set_progress_handler(past_deadline, 1000)
        return connection, statement

    def is_timeout(self, exc: BaseException) -> bool:
        # interrupt() answers "interrupted"; only query_run knows whether its
        # deadline caused it, so that is what decides.
        return False

    def cancel(self, engine: Engine, pooled_connection: Any) -> None:
        pooled_connection.driver_connection.interrupt()

    def session_identify(self, dbapi_connection: Any) -> tuple[int, int] | None:
        # The statement runs in this process: interrupt() and the progress
        # handler are all there is; what one C call may cost is bounded instead.
        return None

    def terminate_sql(self, session_id: int) -> str:
        raise NotImplementedError("SQLite has no server session to terminate.")

    def session_alive_sql(self, session_id: int) -> str:
        raise NotImplementedError("SQLite has no server session to look up.")

    def abandon_stream(self, connection: Connection, dbapi_cursor: Any) -> None:
        # SQLite steps rows on demand: an unread rest costs nothing.
        return None

    def session_reset(self, dbapi_connection: Any, url: URL) -> None:
        # Nothing outlives the rolled-back transaction: the authorizer denies
        # temporary objects, ATTACH and PRAGMA writes, and SQLite has no
        # session variables or advisory locks. The last query's deadline goes
        # too: a schema read on this connection next is not interrupted.
        dbapi_connection.rollback()
        dbapi_connection.set_progress_handler(None, 0)

    def cells_bound(
        self, connection: Connection, statement: str, *, max_cell_bytes: int
    ) -> BoundedStatement:
        # SQLITE_LIMIT_LENGTH already bounds every value SQLite can build; the
        # client cuts what lies between that and the cell cap.
        return BoundedStatement(statement)

    def column_types(
        self, description: Sequence[Sequence[Any]], rows: Sequence[Sequence[Any]]
    ) -> list[str]:
        # sqlite3 puts no type in the description; the values tell.
        return column_types_from_values(len(description), rows)
