"""MySQL and MariaDB (mysqlclient): `START TRANSACTION READ ONLY`, a timeout."""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import URL, Connection, Engine, create_engine, event

from connections.backends.base import (
    BoundedStatement,
    DatabaseBackend,
    PrivilegeFinding,
    column_types_from_values,
    control_connection_open,
)
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

# Error numbers MySQL/MariaDB use for a statement stopped by its time limit or
# by KILL QUERY (the client-side deadline).
_TIMEOUT_ERRORS = {1969, 3024, 1317}
_SQL_MODE = "STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION"
_WRITE_PRIVILEGES = frozenset(
    {
        "ALL PRIVILEGES",
        "ALL",
        "INSERT",
        "UPDATE",
        "DELETE",
        "DROP",
        "CREATE",
        "ALTER",
        "INDEX",
        "CREATE VIEW",
        "CREATE ROUTINE",
        "ALTER ROUTINE",
        "EXECUTE",
        "TRIGGER",
        "EVENT",
        "CREATE TEMPORARY TABLES",
        "LOCK TABLES",
        "DELETE HISTORY",
    }
)
_GRANT = re.compile(r"^GRANT (.+?) ON (\S+) TO ", re.IGNORECASE)

# mysqlclient FIELD_TYPE codes.
_TYPES_BY_CODE = {
    0: "decimal",
    1: "integer",
    2: "integer",
    3: "integer",
    4: "float",
    5: "float",
    7: "datetime",
    8: "integer",
    9: "integer",
    10: "date",
    11: "time",
    12: "datetime",
    13: "integer",
    14: "date",
    15: "text",
    16: "integer",
    245: "json",
    246: "decimal",
    247: "text",
    248: "text",
    253: "text",
    254: "text",
}
# TEXT and BLOB columns share these codes: the values tell them apart.
_BLOB_CODES = {249, 250, 251, 252}


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes | bytearray) else str(value)


# Read-only built-ins beyond the standard's (see `read_only_functions`).
_FUNCTIONS = names("""
    group_concat bit_and bit_or bit_xor std stddev stddev_pop stddev_samp
    variance var_pop var_samp json_arrayagg json_objectagg any_value median
    percentile_cont percentile_disc

    ceiling conv cot crc32 div log2 pow rand truncate oct bin hex unhex format
    greatest least interval

    ascii bit_length char char_length character_length concat concat_ws elt
    export_set field find_in_set from_base64 to_base64 insert instr lcase left
    locate lpad make_set mid octet_length ord position quote regexp
    regexp_instr regexp_like regexp_replace regexp_substr repeat reverse right
    rpad soundex space strcmp substring_index ucase md5 sha sha1 sha2
    natural_sort_key sformat charset collation coercibility convert binary

    adddate addtime convert_tz curdate curtime date date_add date_format
    date_sub datediff day dayname dayofmonth dayofweek dayofyear extract
    from_days from_unixtime get_format hour last_day localtime localtimestamp
    makedate maketime microsecond minute month monthname now period_add
    period_diff quarter sec_to_time second str_to_date subdate subtime sysdate
    time time_format time_to_sec timediff timestamp timestampadd timestampdiff
    to_days to_seconds unix_timestamp utc_date utc_time utc_timestamp week
    weekday weekofyear year yearweek

    json_array json_array_append json_array_insert json_contains
    json_contains_path json_depth json_extract json_insert json_keys
    json_length json_merge json_merge_patch json_merge_preserve json_object
    json_overlaps json_pretty json_quote json_remove json_replace
    json_schema_valid json_search json_set json_storage_size json_table
    json_type json_unquote json_valid json_value json_exists json_query
    json_compact json_detailed json_loose json_equals json_normalize

    if ifnull isnull
    database schema version user current_user session_user system_user connection_id
    current_role

    uuid inet_aton inet_ntoa inet6_aton inet6_ntoa is_ipv4 is_ipv6 bin_to_uuid
    uuid_to_bin
""")


class MySQLBackend(DatabaseBackend):
    """MySQL and MariaDB: every hook implemented."""

    db_type = "mysql"
    label = "MySQL / MariaDB"
    default_port = 3306
    sqlglot_dialect = "mysql"
    prompt_dialect_name = "MySQL/MariaDB"
    version_sql = "SELECT VERSION()"
    lineage_dialect = "mysql"
    django_vendor = "mysql"
    is_file = False
    schema_comments = True
    lexer_rules = LexerRules(
        number=re.compile(
            r"0x[0-9a-fA-F]+|0b[01]+|[0-9]+(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?"
        ),
        string_prefixes=frozenset({"b", "x", "n"}),
        # NO_BACKSLASH_ESCAPES turns escapes off; ANSI_QUOTES makes "…" a name,
        # where a backslash never escapes: both readings must agree.
        setting_escape_quotes=frozenset({"'", '"'}),
        setting_escape_prefixes=frozenset({"", "b", "x", "n"}),
        hash_comments=True,
        dash_comment_needs_space=True,
    )
    identifier_rules = IdentifierRules(
        quoted_keep_case=False,  # function names are case-blind, quoted or not
        max_bytes=None,
        strings_may_name=True,  # with ANSI_QUOTES "name" is a name
    )
    read_only_functions = STANDARD_FUNCTIONS | _FUNCTIONS
    side_effect_functions = names("""
        load_file sleep benchmark get_lock release_lock release_all_locks
        is_free_lock is_used_lock master_pos_wait source_pos_wait master_gtid_wait
        wait_for_executed_gtid_set wait_until_sql_thread_after_gtids sys_exec
        sys_eval
    """)
    side_effect_prefixes: tuple[str, ...] = ()
    # A database prefix names a user-defined function.
    builtin_schemas: frozenset[str] = frozenset()
    syntax_words_before_paren = STANDARD_SYNTAX_WORDS | names(
        "regexp rlike match against index key"
    )
    assigns_with_colon_equals = True  # SELECT @v := 1 sets a session variable
    # sqlglot reads MySQL's VALUES statement (8.0.19+) differently from MariaDB.
    values_statement_checkable = False
    allowed_options = {
        "ssl_mode": frozenset(
            {"DISABLED", "PREFERRED", "REQUIRED", "VERIFY_CA", "VERIFY_IDENTITY"}
        ),
        "charset": frozenset({"utf8mb4", "utf8", "latin1"}),
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
            server_url(conn, "mysql+mysqldb"),
            connect_args={
                "connect_timeout": settings.TARGET_CONNECT_TIMEOUT_S,
                "charset": "utf8mb4",
                "local_infile": False,
                **options,
                # mysqlclient enables multi-statements by default: one execute
                # could then run `SELECT 1; DROP TABLE t`.
                "multi_statements": False,
            },
            **pool_args(pooled=pooled),
        )
        # mysqlclient has no separate "address" parameter (libpq's hostaddr):
        # VERIFY_IDENTITY checks the certificate against `host`, so that mode
        # gets the name the user gave (checked against the policy just before).
        verify_identity = options.get("ssl_mode") == "VERIFY_IDENTITY"
        pin_resolved_address(
            engine, conn.host, conn.port, "host", keep_name=verify_identity
        )

        @event.listens_for(engine, "connect")
        def _note_thread_id(dbapi_connection: Any, record: Any) -> None:
            record.info["thread_id"] = dbapi_connection.thread_id()

        return engine

    def target_describe(self, conn: DatabaseConnection) -> str:
        return f"{conn.host}:{conn.port}"

    def privileges_inspect(self, dbapi_connection: Any) -> list[PrivilegeFinding]:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("SELECT DATABASE()")
            (current,) = cursor.fetchone()
            database = None if current is None else _text(current)
            cursor.execute("SHOW GRANTS")
            grants = [_text(row[0]) for row in cursor.fetchall()]
        finally:
            cursor.close()
        global_privileges: set[str] = set()
        write_elsewhere = write_here = False
        for grant in grants:
            match = _GRANT.match(grant)
            if not match:
                continue  # role grants (GRANT role TO user), PROXY
            privileges = {p.strip().upper() for p in match.group(1).split(",")}
            privileges = {re.sub(r"\s*\(.*\)$", "", p) for p in privileges}
            scope_db = match.group(2).split(".")[0].strip("`'\"")
            writes = bool(privileges & _WRITE_PRIVILEGES)
            if scope_db == "*":
                global_privileges |= privileges
                write_elsewhere = write_elsewhere or writes
            elif database is not None and scope_db == database:
                write_here = write_here or writes
            else:
                write_elsewhere = write_elsewhere or writes
        findings = []
        if global_privileges & {"ALL PRIVILEGES", "ALL", "SUPER"}:
            findings.append(
                PrivilegeFinding(
                    "The account has all privileges (administrator).", True
                )
            )
        if global_privileges & {"ALL PRIVILEGES", "ALL", "FILE"}:
            findings.append(
                PrivilegeFinding(
                    "The account has the FILE privilege (server files).", True
                )
            )
        if write_elsewhere:
            findings.append(
                PrivilegeFinding(
                    "The account may change data or schema beyond its database.",
                    True,
                )
            )
        if write_here:
            findings.append(
                PrivilegeFinding("The account may change data or schema.", False)
            )
        return findings

    def begin_read_only(
        self, connection: Connection, *, statement: str, timeout_s: float
    ) -> tuple[Connection, str]:
        is_mariadb = bool(getattr(connection.dialect, "is_mariadb", False))
        if not is_mariadb:
            # MySQL: SELECT-only limit in ms (a hint could lift it; the
            # statement check refuses hints).
            timeout_ms = max(1, int(timeout_s * 1000))
            connection.exec_driver_sql(f"SET SESSION max_execution_time = {timeout_ms}")
        # DDL commits the open transaction implicitly and runs in a new one that
        # takes the session's default access mode, so that default is read-only
        # too. A fixed sql_mode without ANSI_QUOTES / NO_BACKSLASH_ESCAPES: the
        # server then reads quotes and backslashes the way the check did.
        connection.exec_driver_sql(f"SET SESSION sql_mode = '{_SQL_MODE}'")
        connection.exec_driver_sql("SET SESSION TRANSACTION READ ONLY")
        connection.exec_driver_sql("START TRANSACTION READ ONLY")
        if is_mariadb:
            statement = (
                f"SET STATEMENT max_statement_time={timeout_s:.3f} FOR {statement}"
            )
        return connection, statement

    def is_timeout(self, exc: BaseException) -> bool:
        original = getattr(exc, "orig", None) or exc
        args: tuple[Any, ...] = getattr(original, "args", ())
        return bool(args) and args[0] in _TIMEOUT_ERRORS

    def cancel(self, engine: Engine, pooled_connection: Any) -> None:
        # KILL QUERY over a separate short connection (same account, same
        # pinned address): the account may always kill its own statements.
        # mysqlclient refuses any call on a connection busy in another thread:
        # the id was noted when the connection opened.
        thread_id = int(pooled_connection.info["thread_id"])
        killer = control_connection_open(engine)
        try:
            cursor = killer.cursor()
            cursor.execute(f"KILL QUERY {thread_id}")
            cursor.close()
        finally:
            killer.close()

    def session_identify(self, dbapi_connection: Any) -> tuple[int, int] | None:
        # Both are read from libmysqlclient's struct: no round trip.
        return int(dbapi_connection.thread_id()), int(dbapi_connection.fileno())

    def terminate_sql(self, session_id: int) -> str:
        # An account may always kill its own connections.
        return f"KILL CONNECTION {int(session_id)}"

    def session_alive_sql(self, session_id: int) -> str:
        # Without PROCESS an account sees its own threads, which this one is.
        return (
            "SELECT 1 FROM information_schema.PROCESSLIST "  # noqa: S608
            f"WHERE ID = {int(session_id)}"
        )

    def abandon_stream(self, connection: Connection, dbapi_cursor: Any) -> None:
        # mysqlclient reads and discards every remaining row when the cursor
        # closes (0.8 s for 10**6 narrow rows); closing the socket ends the
        # query at once, and the pool opens a fresh connection next time.
        connection.invalidate()
        with contextlib.suppress(Exception):
            dbapi_cursor.close()  # fails on the closed socket, then counts as closed

    def session_reset(self, dbapi_connection: Any, url: URL) -> None:
        # GET_LOCK locks, user variables (@v), temporary tables, prepared
        # statements and session settings live as long as the session.
        # mysqlclient has no binding for COM_RESET_CONNECTION; COM_CHANGE_USER
        # as the same account resets all of them on the same connection. It
        # sets the server's autocommit default too: the driver's is put back.
        dbapi_connection.rollback()
        dbapi_connection.change_user(
            url.username or "", url.password or "", url.database or ""
        )
        dbapi_connection.autocommit(False)

    def cells_bound(
        self, connection: Connection, statement: str, *, max_cell_bytes: int
    ) -> BoundedStatement:
        # The result streams (SSCursor) and is cut row by row on the client;
        # one value can be no larger than the server's max_allowed_packet.
        return BoundedStatement(statement)

    def column_types(
        self, description: Sequence[Sequence[Any]], rows: Sequence[Sequence[Any]]
    ) -> list[str]:
        guessed = column_types_from_values(len(description), rows)
        kinds = []
        for index, column in enumerate(description):
            code = int(column[1])
            if code in _BLOB_CODES:
                kinds.append(guessed[index] if guessed[index] != "unknown" else "text")
            else:
                kinds.append(_TYPES_BY_CODE.get(code, "unknown"))
        return kinds
