"""Layer 1: the statement check (one read-only statement, no side effects)."""

from __future__ import annotations

import itertools
import re
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokens import TokenType

from agent.sql_guard.errors import StatementRefused

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
