"""Run the agent's SQL read-only and bounded, in three layers that each hold alone.

1. `statement_check`: parse with sqlglot in the connection's dialect and allow
   exactly one read statement, with no write anywhere in its tree, no locking
   clause, no `SELECT … INTO`, no side-effecting or file/network function and no
   MySQL executable comment or optimizer hint.
2. `query_run` opens a transaction the database itself keeps read-only
   (PostgreSQL `BEGIN READ ONLY`, MySQL/MariaDB `START TRANSACTION READ ONLY` on
   a session whose default access mode is read-only too, SQLite opened `mode=ro`
   with an authorizer by `connections.engines`) and always rolls it back.
3. Bounds: a statement timeout on every engine and a row cap read with
   `fetchmany` from a server-side cursor, so a huge result is never pulled whole.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import re
import sqlite3
import time
from dataclasses import dataclass
from typing import Any, cast

import sqlglot
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokens import TokenType

from agent.jsonable import to_jsonable
from connections import target_policy
from connections.engines import TargetUnavailable

logger = logging.getLogger(__name__)


class StatementRefused(Exception):
    """The statement is not a single read-only query; `reason` says why."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class QueryFailed(Exception):
    """The database refused or failed the statement, or it ran out of time."""

    def __init__(self, message: str, *, timed_out: bool = False):
        super().__init__(message)
        self.message = message
        self.timed_out = timed_out


class TargetDown(Exception):
    """The target database could not be reached or went away."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class QueryResult:
    """The capped, JSON-safe result of one query."""

    columns: list[str]
    rows: list[list[Any]]
    row_count: int
    truncated: bool
    duration_ms: float


# ---------------------------------------------------------------------------
# Layer 1: the statement check
# ---------------------------------------------------------------------------

_SQLGLOT_DIALECTS = {"postgresql": "postgres", "mysql": "mysql", "sqlite": "sqlite"}

# Functions that write, sleep, lock, signal other sessions, touch files or the
# network, or run SQL hidden in a string (where this check cannot see it).
# Matched case-insensitively on the bare name, so `pg_catalog.pg_read_file` and
# `"PG_READ_FILE"` are caught too.
_DENIED_BY_KIND = {
    "PostgreSQL files and programs": """
        pg_read_file pg_read_binary_file pg_ls_dir pg_stat_file pg_file_write
        pg_file_rename pg_file_unlink pg_file_sync pg_logdir_ls loread lowrite
    """,
    "PostgreSQL SQL run from a string": """
        query_to_xml query_to_xmlschema query_to_xml_and_xmlschema cursor_to_xml
        cursor_to_xmlschema table_to_xml table_to_xmlschema
        table_to_xml_and_xmlschema schema_to_xml schema_to_xmlschema
        schema_to_xml_and_xmlschema database_to_xml database_to_xmlschema
        database_to_xml_and_xmlschema ts_stat ts_rewrite
    """,
    "PostgreSQL other sessions, server state, settings": """
        pg_terminate_backend pg_cancel_backend pg_signal_backend pg_reload_conf
        pg_rotate_logfile pg_log_backend_memory_contexts pg_promote pg_switch_wal
        pg_create_restore_point pg_start_backup pg_stop_backup pg_backup_start
        pg_backup_stop pg_import_system_collations pg_notify pg_export_snapshot
        pg_replication_slot_advance pg_drop_replication_slot pg_wal_replay_pause
        pg_wal_replay_resume pg_logical_emit_message set_config txid_current
        pg_current_xact_id
    """,
    "sequences (PostgreSQL and MariaDB)": "nextval setval lastval",
    "MySQL and MariaDB": """
        load_file sleep benchmark get_lock release_lock release_all_locks
        is_free_lock is_used_lock master_pos_wait source_pos_wait master_gtid_wait
        wait_for_executed_gtid_set wait_until_sql_thread_after_gtids sys_exec
        sys_eval
    """,
    "SQLite": "load_extension readfile writefile edit fts3_tokenizer lsdir fsdir",
}
DENIED_FUNCTIONS = frozenset(
    name for names in _DENIED_BY_KIND.values() for name in names.split()
)
DENIED_FUNCTION_PREFIXES = (
    "lo_",  # large objects: lo_import, lo_export, lo_unlink, lo_create, ...
    "dblink",  # dblink, dblink_exec, dblink_connect, ...
    "pg_advisory_",  # pg_advisory_lock, pg_advisory_xact_lock, ...
    "pg_try_advisory_",
    "pg_sleep",  # pg_sleep, pg_sleep_for, pg_sleep_until
    "pg_read_",
    "pg_ls_",  # pg_ls_dir, pg_ls_logdir, pg_ls_waldir, ...
    "pg_file_",
    "pg_stat_reset",
    "pg_stat_statements_reset",
    "pg_create_",  # replication slots, restore points
    "pg_logical_slot_",
    "pg_replication_origin_",
)

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
# MySQL runs `/*! … */` and MariaDB `/*M! … */` as SQL; `/*+ … */` are optimizer
# hints (MAX_EXECUTION_TIME can lift the timeout). sqlglot drops all three as
# comments, so they are refused on the raw text, in any dialect.
_EXECUTABLE_COMMENT = re.compile(r"/\*\s*(?:M?!|\+)", re.IGNORECASE)
_INTO_FILE = re.compile(r"\binto\s+(?:outfile|dumpfile)\b", re.IGNORECASE)
_ONLY_SELECT = "Only a single read-only SELECT is allowed"


def _function_denied(name: str) -> bool:
    bare = name.strip().strip('"`[]').rsplit(".", 1)[-1].lower()
    return bare in DENIED_FUNCTIONS or bare.startswith(DENIED_FUNCTION_PREFIXES)


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


def _tree_check(root: exp.Expression, *, dialect: str) -> None:
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
        if dialect == "mysql" and isinstance(node, exp.PropertyEQ):
            raise StatementRefused(
                f"{_ONLY_SELECT}; assigning variables (:=) is refused."
            )
        if isinstance(node, exp.Func):
            names = {node.sql_name(), type(node).__name__}
            if isinstance(node, exp.Anonymous):
                names.add(node.name)
            for name in names:
                if _function_denied(name):
                    raise StatementRefused(
                        f"The function {name.lower()}() is not allowed: it can "
                        "change state, wait, lock, or reach files or the network."
                    )


def _tokens_check(tokens: list[Any]) -> None:
    """Refuse a denied function however the parser mapped it (a second net)."""
    for current, following in itertools.pairwise(tokens):
        if following.token_type == TokenType.L_PAREN and _function_denied(current.text):
            raise StatementRefused(
                f"The function {current.text.lower()}() is not allowed: it can "
                "change state, wait, lock, or reach files or the network."
            )


def statement_check(sql: str, *, db_type: str) -> str:
    """Return the one read-only statement in `sql`, or raise StatementRefused."""
    dialect = _SQLGLOT_DIALECTS.get(db_type)
    if dialect is None:
        raise StatementRefused(f"Unknown database type '{db_type}'.")
    if not sql or not sql.strip():
        raise StatementRefused("The query is empty.")
    if _EXECUTABLE_COMMENT.search(sql):
        raise StatementRefused(
            "MySQL executable comments (/*! … */) and optimizer hints (/*+ … */) "
            "are not allowed."
        )
    if _INTO_FILE.search(sql):
        raise StatementRefused(f"{_ONLY_SELECT}; INTO OUTFILE / DUMPFILE is refused.")
    try:
        tokens = [
            t
            for t in Dialect.get_or_raise(dialect).tokenize(sql)
            if t.token_type != TokenType.SEMICOLON
        ]
        parsed = sqlglot.parse(sql, read=dialect)
    except (ParseError, TokenError) as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise StatementRefused(
            f"The query could not be parsed as {db_type} SQL: {first_line[:200]}"
        ) from exc
    statements = [
        s for s in parsed if s is not None and not isinstance(s, exp.Semicolon)
    ]
    if not statements or not tokens:
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
    _tokens_check(tokens)
    # Run exactly the checked tokens: text after the last token (a trailing
    # comment or semicolon) is cut off, so nothing the parser took for a comment
    # can trail the statement.
    return sql[tokens[0].start : tokens[-1].end + 1]


# ---------------------------------------------------------------------------
# Layers 2 and 3: read-only transaction, timeout, row cap
# ---------------------------------------------------------------------------

# Error numbers MySQL/MariaDB use for a statement stopped by its time limit.
_MYSQL_TIMEOUT_ERRORS = {1969, 3024, 1317}
_PG_QUERY_CANCELED = "57014"
_MESSAGE_LIMIT = 500
_MYSQL_SQL_MODE = (
    "STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION"
)


def _timeout_message(timeout_s: float) -> str:
    return f"Query exceeded the {timeout_s:g} s time limit and was cancelled."


def _scrub(message: str, engine: Engine) -> str:
    password = engine.url.password
    if password:
        message = message.replace(str(password), "***")
    return re.sub(r"(?i)(password\s*=\s*)\S+", r"\1***", message)


def _db_message(exc: BaseException, engine: Engine) -> str:
    original = getattr(exc, "orig", None) or exc
    args = getattr(original, "args", ())
    if len(args) >= 2 and isinstance(args[0], int) and isinstance(args[1], str):
        message = f"{args[1]} (error {args[0]})"  # MySQLdb: (errno, text)
    else:
        message = str(original)
    lines = [line.rstrip() for line in message.strip().splitlines() if line.strip()]
    message = "\n".join(lines[:4]) or type(original).__name__
    if len(message) > _MESSAGE_LIMIT:
        message = message[: _MESSAGE_LIMIT - 1] + "…"
    return _scrub(message, engine)


def _is_timeout(exc: BaseException, db_type: str) -> bool:
    original = getattr(exc, "orig", None) or exc
    if db_type == "postgresql":
        return getattr(original, "sqlstate", None) == _PG_QUERY_CANCELED
    if db_type == "mysql":
        args = getattr(original, "args", ())
        return bool(args) and args[0] in _MYSQL_TIMEOUT_ERRORS
    return False


def _log_sql(sql: str) -> str:
    flat = " ".join(sql.split())
    return flat if len(flat) <= 200 else flat[:199] + "…"


def _connect(engine: Engine) -> Connection:
    try:
        return engine.connect()
    except PoolTimeoutError as exc:
        raise QueryFailed(
            "All connections to the database are busy; try again shortly."
        ) from exc
    except (TargetUnavailable, target_policy.TargetRefused) as exc:
        raise TargetDown(str(exc)) from exc
    except SQLAlchemyError as exc:
        raise TargetDown(
            f"The database could not be reached: {_db_message(exc, engine)}"
        ) from exc


def _begin_postgresql(connection: Connection, timeout_s: float) -> Connection:
    # The driver opens the transaction with BEGIN READ ONLY; after its first
    # statement it cannot be switched to READ WRITE. SET LOCAL ends with it.
    # standard_conforming_strings pins how backslashes in literals read, to the
    # way the statement check tokenized them.
    connection = connection.execution_options(postgresql_readonly=True)
    timeout_ms = max(1, int(timeout_s * 1000))
    connection.exec_driver_sql(
        f"SET LOCAL statement_timeout = {timeout_ms}; "
        f"SET LOCAL lock_timeout = {timeout_ms}; "
        "SET LOCAL standard_conforming_strings = on"
    )
    return connection


def _begin_mysql(connection: Connection, timeout_s: float) -> bool:
    """Start a read-only transaction; return True on MariaDB."""
    is_mariadb = bool(getattr(connection.dialect, "is_mariadb", False))
    if not is_mariadb:
        # MySQL: SELECT-only limit in ms (a hint could lift it; layer 1 refuses
        # hints).
        timeout_ms = max(1, int(timeout_s * 1000))
        connection.exec_driver_sql(f"SET SESSION max_execution_time = {timeout_ms}")
    # DDL commits the open transaction implicitly and runs in a new one that
    # takes the session's default access mode, so that default is read-only too
    # (set before every query: a query could have changed it).
    # A fixed sql_mode without ANSI_QUOTES / NO_BACKSLASH_ESCAPES: the server
    # then reads quotes and backslashes the way the statement check did.
    connection.exec_driver_sql(f"SET SESSION sql_mode = '{_MYSQL_SQL_MODE}'")
    connection.exec_driver_sql("SET SESSION TRANSACTION READ ONLY")
    connection.exec_driver_sql("START TRANSACTION READ ONLY")
    return is_mariadb


def _fetch(
    connection: Connection, statement: str, max_rows: int, *, db_type: str
) -> tuple[list[str], list[Any], bool]:
    # Server-side cursor: only max_rows + 1 rows ever cross the wire (a plain
    # cursor on PostgreSQL or MySQL pulls the whole result first).
    result = connection.execution_options(
        stream_results=True, yield_per=max_rows + 1, no_parameters=True
    ).exec_driver_sql(statement)
    try:
        columns = list(result.keys()) if result.returns_rows else []
        rows = result.fetchmany(max_rows + 1) if result.returns_rows else []
        if db_type == "mysql" and len(rows) > max_rows:
            _mysql_abandon(connection, result.cursor)
    finally:
        result.close()
    return columns, rows[:max_rows], len(rows) > max_rows


def _mysql_abandon(connection: Connection, dbapi_cursor: Any) -> None:
    """Drop the connection instead of draining the rest of a streamed result."""
    # mysqlclient reads and discards every remaining row when the cursor closes
    # (0.8 s for 10**6 narrow rows); closing the socket ends the query at once,
    # and the pool opens a fresh connection next time.
    connection.invalidate()
    with contextlib.suppress(Exception):
        dbapi_cursor.close()  # fails on the closed socket, then counts as closed


def _run(
    connection: Connection,
    *,
    db_type: str,
    statement: str,
    max_rows: int,
    timeout_s: float,
) -> tuple[list[str], list[Any], bool]:
    if db_type == "postgresql":
        connection = _begin_postgresql(connection, timeout_s)
    elif db_type == "mysql" and _begin_mysql(connection, timeout_s):
        statement = f"SET STATEMENT max_statement_time={timeout_s:.3f} FOR {statement}"
    return _fetch(connection, statement, max_rows, db_type=db_type)


def query_run(
    engine: Engine,
    *,
    db_type: str,
    sql: str,
    max_rows: int,
    timeout_s: float,
    check: bool = True,
) -> QueryResult:
    """Run one read-only query with a timeout and a row cap; return its rows."""
    started = time.perf_counter()
    try:
        statement = statement_check(sql, db_type=db_type) if check else sql
    except StatementRefused as exc:
        logger.info("query refused db_type=%s reason=%s", db_type, exc.reason)
        raise
    connection = _connect(engine)
    deadline = time.monotonic() + timeout_s
    timed_out = False

    def sqlite_progress() -> int:
        nonlocal timed_out
        if time.monotonic() > deadline:
            timed_out = True
            return 1  # non-zero interrupts the running statement
        return 0

    raw_sqlite: sqlite3.Connection | None = None
    try:
        if db_type == "sqlite":
            raw_sqlite = cast(
                sqlite3.Connection, connection.connection.driver_connection
            )
            raw_sqlite.set_progress_handler(sqlite_progress, 1000)
        columns, raw_rows, truncated = _run(
            connection,
            db_type=db_type,
            statement=statement,
            max_rows=max_rows,
            timeout_s=timeout_s,
        )
    except DBAPIError as exc:
        duration_ms = (time.perf_counter() - started) * 1000
        if timed_out or _is_timeout(exc, db_type):
            logger.info(
                "query timed out db_type=%s duration_ms=%.1f sql=%s",
                db_type,
                duration_ms,
                _log_sql(statement),
            )
            raise QueryFailed(_timeout_message(timeout_s), timed_out=True) from exc
        if exc.connection_invalidated:
            logger.warning("query lost its connection db_type=%s", db_type)
            raise TargetDown(
                f"The connection to the database was lost: {_db_message(exc, engine)}"
            ) from exc
        message = _db_message(exc, engine)
        logger.info(
            "query failed db_type=%s duration_ms=%.1f error=%s sql=%s",
            db_type,
            duration_ms,
            message.splitlines()[0],
            _log_sql(statement),
        )
        raise QueryFailed(message) from exc
    finally:
        if raw_sqlite is not None:
            raw_sqlite.set_progress_handler(None, 0)
        try:
            connection.rollback()
            connection.close()
        except SQLAlchemyError:
            logger.warning("rollback failed; connection discarded", exc_info=True)
            connection.invalidate()
    duration_ms = round((time.perf_counter() - started) * 1000, 1)
    rows = [[to_jsonable(value) for value in row] for row in raw_rows]
    logger.info(
        "query ok db_type=%s rows=%d truncated=%s duration_ms=%.1f sql=%s",
        db_type,
        len(rows),
        truncated,
        duration_ms,
        _log_sql(statement),
    )
    return QueryResult(
        columns=[str(c) for c in columns],
        rows=rows,
        row_count=len(rows),
        truncated=truncated,
        duration_ms=duration_ms,
    )
