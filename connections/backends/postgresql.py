"""PostgreSQL (psycopg 3): `BEGIN READ ONLY`, `statement_timeout`, `DISCARD ALL`."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, create_engine, text

from connections.backends.base import DatabaseBackend, PrivilegeFinding
from connections.backends.server import pin_resolved_address, pool_args, server_url

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

    db_type = "postgresql"  # type: ignore[assignment]
    label = "PostgreSQL"  # type: ignore[assignment]
    default_port = 5432  # type: ignore[assignment]
    sqlglot_dialect = "postgres"  # type: ignore[assignment]
    prompt_dialect_name = "PostgreSQL"  # type: ignore[assignment]
    version_sql = "SELECT current_setting('server_version')"  # type: ignore[assignment]
    allowed_options = {  # type: ignore[assignment]
        "sslmode": frozenset(
            {"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}
        ),
        "gssencmode": frozenset({"disable", "prefer", "require"}),
        "target_session_attrs": frozenset(
            {"any", "read-write", "read-only", "primary", "standby", "prefer-standby"}
        ),
    }

    def engine_create(self, conn: DatabaseConnection, *, pooled: bool) -> Engine:
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

    def privileges_inspect(self, connection: Connection) -> list[PrivilegeFinding]:
        row = connection.execute(text(_ROLE_SQL)).one_or_none()
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

    def cancel(self, engine: Engine, dbapi_connection: Any) -> None:
        # A cancel request travels on its own short connection to the server.
        dbapi_connection.cancel_safe(timeout=5.0)

    def abandon_stream(self, connection: Connection, dbapi_cursor: Any) -> None:
        # Closing the named (server-side) cursor drops the rest of the result
        # on the server; nothing more crosses the wire.
        return None

    def session_reset(self, connection: Connection) -> None:
        # DISCARD ALL cannot run inside a transaction: after the rollback, run
        # it in autocommit. It drops advisory locks, session settings
        # (set_config(..., false)), temporary tables and prepared statements.
        raw: Any = connection.connection.driver_connection
        raw.autocommit = True
        try:
            raw.execute("DISCARD ALL")
        finally:
            raw.autocommit = False

    def column_types(
        self, description: Sequence[Sequence[Any]], rows: Sequence[Sequence[Any]]
    ) -> list[str]:
        return [_TYPES_BY_OID.get(int(column[1]), "unknown") for column in description]
