"""PostgreSQL (psycopg 3): `BEGIN READ ONLY`, `statement_timeout`, `DISCARD ALL`."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import psycopg
from sqlalchemy import URL, Connection, Engine, create_engine

from connections.backends.base import (
    BoundedStatement,
    DatabaseBackend,
    PrivilegeFinding,
)
from connections.backends.postgresql_functions import FUNCTIONS
from connections.backends.server import pin_resolved_address, pool_args, server_url
from connections.backends.sql import (
    STANDARD_FUNCTIONS,
    STANDARD_SYNTAX_WORDS,
    IdentifierRules,
    LexerRules,
    names,
)

if TYPE_CHECKING:
    from connections.models import DatabaseConnection

logger = logging.getLogger(__name__)

_QUERY_CANCELED = "57014"

_ROLE_SQL = """
SELECT r.rolsuper,
       pg_has_role(current_user, 'pg_execute_server_program', 'MEMBER'),
       pg_has_role(current_user, 'pg_write_server_files', 'MEMBER'),
       pg_has_role(current_user, 'pg_read_server_files', 'MEMBER'),
       EXISTS (
           SELECT 1 FROM pg_class c
           JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE c.relkind IN ('r', 'p')
             AND n.nspname NOT IN ('pg_catalog', 'information_schema')
             AND has_table_privilege(c.oid, 'INSERT, UPDATE, DELETE, TRUNCATE')
       )
FROM pg_roles r WHERE r.rolname = current_user
"""

# Type OIDs (pg_type.oid) of the built-in types, by the vocabulary's names.
_TYPES_BY_OID = {
    16: "boolean",
    17: "binary",
    18: "text",
    19: "text",
    20: "integer",
    21: "integer",
    23: "integer",
    25: "text",
    26: "integer",
    114: "json",
    700: "float",
    701: "float",
    790: "decimal",
    1042: "text",
    1043: "text",
    1082: "date",
    1083: "time",
    1114: "datetime",
    1184: "datetime",
    1186: "interval",
    1266: "time",
    1700: "decimal",
    2950: "uuid",
    3802: "json",
}


class PostgreSQLBackend(DatabaseBackend):
    """PostgreSQL: every hook implemented."""

    db_type = "postgresql"
    label = "PostgreSQL"
    default_port = 5432
    sqlglot_dialect = "postgres"
    prompt_dialect_name = "PostgreSQL"
    version_sql = "SELECT current_setting('server_version')"
    lineage_dialect = "postgres"
    django_vendor = "postgresql"
    is_file = False
    schema_comments = True
    lexer_rules = LexerRules(
        number=re.compile(r"[0-9]+(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?"),
        string_prefixes=frozenset({"e", "b", "x", "n"}),
        escape_prefixes=frozenset({"e"}),
        # '…' reads backslashes as escapes when standard_conforming_strings is off.
        setting_escape_quotes=frozenset({"'"}),
        setting_escape_prefixes=frozenset({"", "n"}),
        nested_comments=True,
        unicode_escapes=True,
    )
    identifier_rules = IdentifierRules(
        quoted_keep_case=True,
        max_bytes=63,  # NAMEDATALEN - 1: longer names are truncated
        strings_may_name=False,
        attribute_calls=True,
    )
    read_only_functions = STANDARD_FUNCTIONS | FUNCTIONS
    side_effect_functions = names("""
        pg_read_file pg_read_binary_file pg_ls_dir pg_stat_file pg_file_write
        pg_file_rename pg_file_unlink pg_file_sync pg_logdir_ls loread lowrite
        query_to_xml query_to_xmlschema query_to_xml_and_xmlschema cursor_to_xml
        cursor_to_xmlschema table_to_xml table_to_xmlschema
        table_to_xml_and_xmlschema schema_to_xml schema_to_xmlschema
        schema_to_xml_and_xmlschema database_to_xml database_to_xmlschema
        database_to_xml_and_xmlschema ts_stat ts_rewrite pg_terminate_backend
        pg_cancel_backend pg_signal_backend pg_reload_conf pg_rotate_logfile
        pg_log_backend_memory_contexts pg_promote pg_switch_wal
        pg_create_restore_point pg_start_backup pg_stop_backup pg_backup_start
        pg_backup_stop pg_import_system_collations pg_notify pg_export_snapshot
        pg_replication_slot_advance pg_drop_replication_slot pg_wal_replay_pause
        pg_wal_replay_resume pg_logical_emit_message set_config setseed
        txid_current pg_current_xact_id nextval setval lastval currval
    """)
    side_effect_prefixes = (
        "lo_",
        "dblink",
        "postgres_fdw",
        "pg_advisory_",
        "pg_try_advisory_",
        "pg_sleep",
        "pg_read_",
        "pg_ls_",
        "pg_file_",
        "pg_stat_reset",
        "pg_stat_statements_reset",
        "pg_create_",
        "pg_logical_slot_",
        "pg_replication_origin_",
        "txid_",
    )
    # Also where an unqualified name that is not the user's own is found.
    builtin_schemas = frozenset({"pg_catalog"})
    syntax_words_before_paren = STANDARD_SYNTAX_WORDS | names(
        "ilike similar operator ordinality"
    )
    # `f(a := 1)` names an argument; PostgreSQL has no session variables.
    assigns_with_colon_equals = False
    values_statement_checkable = True
    allowed_options = {
        "sslmode": frozenset(
            {"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}
        ),
        "gssencmode": frozenset({"disable", "prefer", "require"}),
        "target_session_attrs": frozenset(
            {"any", "read-write", "read-only", "primary", "standby", "prefer-standby"}
        ),
    }

    def reads_table_as_function(self, name: str) -> bool:
        return False  # a table-valued function is always called with "("

    def engine_create_ungated(
        self, conn: DatabaseConnection, *, pooled: bool
    ) -> Engine:
        from django.conf import settings

        from connections import target_policy

        options = target_policy.validate_options(self.db_type, conn.options)
        engine = create_engine(
            server_url(conn, "postgresql+psycopg"),
            connect_args={
                "connect_timeout": settings.TARGET_CONNECT_TIMEOUT_S,
                "application_name": "sqlagent",
                **options,
            },
            **pool_args(pooled=pooled),
        )
        pin_resolved_address(engine, conn.host, conn.port, "hostaddr")
        return engine

    def target_describe(self, conn: DatabaseConnection) -> str:
        return f"{conn.host}:{conn.port}"

    def privileges_inspect(self, dbapi_connection: Any) -> list[PrivilegeFinding]:
        with dbapi_connection.cursor() as cursor:
            cursor.execute(_ROLE_SQL)
            row = cursor.fetchone()
        if row is None:
            return []
        superuser, programs, write_files, read_files, writes = row
        findings = []
        if superuser:
            findings.append(
                PrivilegeFinding("The role is a PostgreSQL superuser.", True)
            )
        if programs:
            findings.append(
                PrivilegeFinding(
                    "The role may run programs on the database server.", True
                )
            )
        if write_files:
            findings.append(
                PrivilegeFinding(
                    "The role may write files on the database server.", True
                )
            )
        if read_files:
            findings.append(
                PrivilegeFinding(
                    "The role may read files on the database server.", True
                )
            )
        if writes and not superuser:
            findings.append(
                PrivilegeFinding("The role may change data in some tables.", False)
            )
        return findings

    def begin_read_only(
        self, connection: Connection, *, statement: str, timeout_s: float
    ) -> tuple[Connection, str]:
        # The driver opens the transaction with BEGIN READ ONLY; after its first
        # statement it cannot be switched to READ WRITE. SET LOCAL ends with it.
        # standard_conforming_strings pins how backslashes in literals read, to
        # the way the statement check tokenized them.
        connection = connection.execution_options(postgresql_readonly=True)
        timeout_ms = max(1, int(timeout_s * 1000))
        connection.exec_driver_sql(
            f"SET LOCAL statement_timeout = {timeout_ms}; "
            f"SET LOCAL lock_timeout = {timeout_ms}; "
            "SET LOCAL standard_conforming_strings = on"
        )
        return connection, statement

    def is_timeout(self, exc: BaseException) -> bool:
        original = getattr(exc, "orig", None) or exc
        return getattr(original, "sqlstate", None) == _QUERY_CANCELED

    def cancel(self, engine: Engine, pooled_connection: Any) -> None:
        # A cancel request travels on its own short connection to the server.
        pooled_connection.driver_connection.cancel_safe(timeout=5.0)

    def session_identify(self, dbapi_connection: Any) -> tuple[int, int] | None:
        # libpq keeps both in its connection struct: no round trip.
        return (
            int(dbapi_connection.info.backend_pid),
            int(dbapi_connection.pgconn.socket),
        )

    def terminate_sql(self, session_id: int) -> str:
        # A role may terminate the sessions of its own role (not a superuser's).
        return f"SELECT pg_terminate_backend({int(session_id)})"

    def session_alive_sql(self, session_id: int) -> str:
        # Every role sees every pid in pg_stat_activity; backend_start tells a
        # later session that got the same pid from this one.
        return (
            "SELECT backend_start FROM pg_stat_activity "  # noqa: S608
            f"WHERE pid = {int(session_id)}"
        )

    def abandon_stream(self, connection: Connection, dbapi_cursor: Any) -> None:
        # Closing the named (server-side) cursor drops the rest of the result
        # on the server; nothing more crosses the wire.
        return None

    def session_reset(self, dbapi_connection: Any, url: URL) -> None:
        # DISCARD ALL cannot run inside a transaction: after the rollback, run
        # it in autocommit. It drops advisory locks, session settings
        # (SET, set_config(..., false)) back to the connection's own, temporary
        # tables, prepared statements, cursors and LISTENs.
        dbapi_connection.rollback()
        dbapi_connection.autocommit = True
        try:
            dbapi_connection.execute("DISCARD ALL")
        finally:
            dbapi_connection.autocommit = False

    def cells_bound(
        self, connection: Connection, statement: str, *, max_cell_bytes: int
    ) -> BoundedStatement:
        # Declaring a server-side cursor describes the result without running
        # it; the statement is then wrapped so a cell over the cap comes back
        # as its size and a prefix, and the server never ships the whole value
        # (SELECT repeat('x', 200000000) would otherwise cross as 200 MB).
        # On the driver's own named cursor: SQLAlchemy's streamed result would
        # prefetch a first row, i.e. run the statement. A savepoint keeps a
        # statement that fails here for the real run to report as usual.
        raw: Any = connection.connection.driver_connection
        raw.execute("SAVEPOINT sqlagent_describe")
        try:
            with raw.cursor(name="sqlagent_describe") as cursor:
                cursor.execute(statement)
                description = list(cursor.description or [])
        except psycopg.Error:
            raw.execute("ROLLBACK TO SAVEPOINT sqlagent_describe")
            return BoundedStatement(statement)
        raw.execute("RELEASE SAVEPOINT sqlagent_describe")
        if not description:
            return BoundedStatement(statement)
        columns = [str(column.name) for column in description]
        width = len(columns)
        names = ", ".join(f'"c{i}"' for i in range(width))
        sizes = ", ".join(
            f'octet_length(q."c{i}"::text) AS "s{i}"' for i in range(width)
        )
        cap = int(max_cell_bytes)
        cells = ", ".join(
            f'CASE WHEN z."s{i}" <= {cap} THEN q."c{i}" END, '
            f'CASE WHEN z."s{i}" > {cap} THEN z."s{i}" END, '
            f'CASE WHEN z."s{i}" > {cap} THEN left(q."c{i}"::text, {cap}) END'
            for i in range(width)
        )
        body = statement.strip().rstrip(";")
        # Only generated names and an integer are spliced in; the statement
        # itself is the checked one, run as it would be without the wrap.
        wrapped = (
            # OFFSET 0 keeps the subquery from being flattened, so each
            # value is computed once, not once per reference below.
            f"SELECT {cells} FROM (SELECT * FROM (\n{body}\n) AS q0 OFFSET 0) "  # noqa: S608
            f"AS q({names}) "
            f"CROSS JOIN LATERAL (SELECT {sizes}) AS z"
        )
        return BoundedStatement(
            wrapped, server_cut=True, columns=columns, description=description
        )

    def column_types(
        self, description: Sequence[Sequence[Any]], rows: Sequence[Sequence[Any]]
    ) -> list[str]:
        return [_TYPES_BY_OID.get(int(column[1]), "unknown") for column in description]
