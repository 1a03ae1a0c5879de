"""PostgreSQL (psycopg 3): `BEGIN READ ONLY`, `statement_timeout`, `DISCARD ALL`."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import psycopg
from sqlalchemy import Connection, Engine, create_engine

from connections.backends.base import (
    BoundedStatement,
    DatabaseBackend,
    PrivilegeFinding,
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


# Read-only built-ins beyond the standard's (see `read_only_functions`).
_FUNCTIONS = names("""
    array_agg string_agg bool_and bool_or every bit_and bit_or bit_xor
    json_agg jsonb_agg json_object_agg jsonb_object_agg json_objectagg
    json_arrayagg stddev stddev_pop stddev_samp variance var_pop var_samp
    corr covar_pop covar_samp regr_avgx regr_avgy regr_count regr_intercept
    regr_r2 regr_slope regr_sxx regr_sxy regr_syy percentile_cont percentile_disc
    mode any_value range_agg range_intersect_agg grouping

    cbrt div factorial gcd lcm min_scale scale trim_scale trunc width_bucket
    random random_normal acosd asind atand atan2d cosd cot cotd sind tand sinh
    cosh tanh asinh acosh atanh erf erfc greatest least num_nulls num_nonnulls

    ascii bit_length btrim char_length character_length chr concat concat_ws
    format initcap left lpad md5 normalize octet_length overlay parse_ident
    position quote_ident quote_literal quote_nullable regexp_count regexp_instr
    regexp_like regexp_match regexp_matches regexp_replace regexp_split_to_array
    regexp_split_to_table regexp_substr repeat reverse right rpad split_part
    starts_with string_to_array string_to_table strpos to_ascii to_hex to_bin
    to_oct translate unistr encode decode convert convert_from convert_to sha224
    sha256 sha384 sha512 get_bit get_byte bit_count gen_random_uuid
    uuid_extract_timestamp uuid_extract_version casefold

    to_char to_date to_number to_timestamp
    age clock_timestamp date_add date_bin date_part date_subtract date_trunc
    extract isfinite justify_days justify_hours justify_interval localtime
    localtimestamp make_date make_interval make_time make_timestamp
    make_timestamptz now statement_timestamp timeofday transaction_timestamp
    timezone

    array_append array_cat array_dims array_fill array_length array_lower
    array_ndims array_position array_positions array_prepend array_remove
    array_replace array_sample array_shuffle array_to_string array_upper
    cardinality trim_array unnest generate_series generate_subscripts
    isempty lower_inc upper_inc lower_inf upper_inf range_merge multirange
    int4range int8range numrange tsrange tstzrange daterange

    to_json to_jsonb array_to_json row_to_json json_build_array
    jsonb_build_array json_build_object jsonb_build_object json_object
    jsonb_object json_array json_array_length jsonb_array_length json_each
    jsonb_each json_each_text jsonb_each_text json_extract_path
    jsonb_extract_path json_extract_path_text jsonb_extract_path_text
    json_object_keys jsonb_object_keys json_array_elements jsonb_array_elements
    json_array_elements_text jsonb_array_elements_text json_typeof jsonb_typeof
    json_strip_nulls jsonb_strip_nulls jsonb_pretty jsonb_set jsonb_set_lax
    jsonb_insert jsonb_path_exists jsonb_path_match jsonb_path_query
    jsonb_path_query_array jsonb_path_query_first jsonb_path_exists_tz
    jsonb_path_match_tz jsonb_path_query_tz jsonb_path_query_array_tz
    jsonb_path_query_first_tz json_populate_record jsonb_populate_record
    json_populate_recordset jsonb_populate_recordset json_to_record
    jsonb_to_record json_to_recordset jsonb_to_recordset json_scalar
    json_serialize json_exists json_query json_value json_table

    to_tsvector to_tsquery plainto_tsquery phraseto_tsquery
    websearch_to_tsquery ts_rank ts_rank_cd ts_headline setweight strip numnode
    querytree tsvector_to_array array_to_tsvector ts_delete ts_filter

    host masklen network broadcast family abbrev netmask hostmask set_masklen
    inet_merge inet_same_family

    text int2 int4 int8 float4 float8 numeric bool date time timestamp
    timestamptz interval varchar bpchar

    pg_typeof format_type col_description obj_description shobj_description
    pg_get_viewdef pg_get_constraintdef pg_get_indexdef pg_get_functiondef
    pg_get_function_arguments pg_get_function_result
    pg_get_function_identity_arguments pg_get_expr pg_get_triggerdef
    pg_get_ruledef pg_get_keywords pg_get_serial_sequence pg_get_userbyid
    pg_get_statisticsobjdef pg_get_partkeydef pg_table_is_visible
    pg_type_is_visible pg_function_is_visible pg_relation_size
    pg_total_relation_size pg_table_size pg_indexes_size pg_size_pretty
    pg_size_bytes pg_column_size pg_database_size current_schema
    current_schemas current_database current_catalog current_user session_user
    current_role version current_setting has_table_privilege
    has_column_privilege has_schema_privilege has_database_privilege
    has_function_privilege has_sequence_privilege has_any_column_privilege
    has_type_privilege pg_has_role to_regclass to_regtype to_regproc
    to_regprocedure to_regnamespace to_regrole to_regoper to_regtypemod
    pg_encoding_to_char pg_client_encoding pg_backend_pid pg_input_is_valid
    pg_input_error_info
""")


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
    read_only_functions = STANDARD_FUNCTIONS | _FUNCTIONS
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
