"""The functions the agent's SQL may call: a per-dialect allow-list.

Anything not listed here is refused by the statement check, so a function the
database gains later (an extension, a user-defined function, a new release) is
refused until someone decides it is safe. Listed are functions without side
effects: aggregates, window, math, string, date/time, JSON, conditional, casts,
and the catalog/introspection functions a read-only agent needs. Left out on
purpose: anything that locks, sleeps, signals other sessions, reads or writes
server files, opens connections (dblink, postgres_fdw), sets configuration,
touches sequences, large objects, advisory locks, transaction ids or
notifications, or runs SQL given in a string (`query_to_xml`, `ts_stat`).
"""

from __future__ import annotations

from django.conf import settings


def _names(text: str) -> frozenset[str]:
    return frozenset(text.split())


_SQL_STANDARD = """
    count sum avg min max
    row_number rank dense_rank percent_rank cume_dist ntile lag lead
    first_value last_value nth_value
    abs ceil ceiling floor round sign sqrt exp ln log log10 mod power pi
    radians degrees sin cos tan asin acos atan atan2
    lower upper trim ltrim rtrim substr substring replace length
    coalesce nullif cast
    current_date current_time current_timestamp
"""

_POSTGRESQL = """
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
"""

_MYSQL = """
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
"""

_SQLITE = """
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
"""

ALLOWED_FUNCTIONS: dict[str, frozenset[str]] = {
    "postgresql": _names(_SQL_STANDARD) | _names(_POSTGRESQL),
    "mysql": _names(_SQL_STANDARD) | _names(_MYSQL),
    "sqlite": _names(_SQL_STANDARD) | _names(_SQLITE),
}

# Where a schema-qualified call still reaches the built-in function; any other
# schema (and, on MySQL, any database prefix) names a user-defined function.
BUILTIN_SCHEMAS: dict[str, frozenset[str]] = {
    "postgresql": frozenset({"pg_catalog"}),
    "mysql": frozenset(),
    "sqlite": frozenset(),
}

# Functions known to write, lock, sleep, signal, reach files or the network, or
# run SQL from a string. None is on an allow-list; they are named here so the
# refusal can say why, and so SQL_EXTRA_ALLOWED_FUNCTIONS cannot let them in.
SIDE_EFFECT_FUNCTIONS = _names("""
    pg_read_file pg_read_binary_file pg_ls_dir pg_stat_file pg_file_write
    pg_file_rename pg_file_unlink pg_file_sync pg_logdir_ls loread lowrite
    query_to_xml query_to_xmlschema query_to_xml_and_xmlschema cursor_to_xml
    cursor_to_xmlschema table_to_xml table_to_xmlschema table_to_xml_and_xmlschema
    schema_to_xml schema_to_xmlschema schema_to_xml_and_xmlschema database_to_xml
    database_to_xmlschema database_to_xml_and_xmlschema ts_stat ts_rewrite
    pg_terminate_backend pg_cancel_backend pg_signal_backend pg_reload_conf
    pg_rotate_logfile pg_log_backend_memory_contexts pg_promote pg_switch_wal
    pg_create_restore_point pg_start_backup pg_stop_backup pg_backup_start
    pg_backup_stop pg_import_system_collations pg_notify pg_export_snapshot
    pg_replication_slot_advance pg_drop_replication_slot pg_wal_replay_pause
    pg_wal_replay_resume pg_logical_emit_message set_config setseed
    txid_current pg_current_xact_id nextval setval lastval currval
    load_file sleep benchmark get_lock release_lock release_all_locks
    is_free_lock is_used_lock master_pos_wait source_pos_wait master_gtid_wait
    wait_for_executed_gtid_set wait_until_sql_thread_after_gtids sys_exec
    sys_eval load_extension readfile writefile edit fts3_tokenizer lsdir fsdir
""")
SIDE_EFFECT_PREFIXES = (
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


_ASCII_UPPER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def ascii_lower(name: str) -> str:
    """Fold A-Z only, as the databases do: `\u212a` (Kelvin) is not a `k`."""
    return name.translate(_ASCII_UPPER)


def function_has_side_effects(name: str) -> bool:
    """Tell whether `name` (lower case, unqualified) is a known side-effect function."""
    return name in SIDE_EFFECT_FUNCTIONS or name.startswith(SIDE_EFFECT_PREFIXES)


def _extra_allowed() -> frozenset[str]:
    # Read at each check, not at import, so settings overrides take effect.
    extra = getattr(settings, "SQL_EXTRA_ALLOWED_FUNCTIONS", None) or []
    return frozenset(name.strip() for name in extra if name.strip())


def function_allowed(*, name: str, schema: str | None, db_type: str) -> bool:
    """Tell whether the function the server resolves to (schema, name) may run.

    `name` and `schema` are what the server resolves, already unquoted and case
    folded; on PostgreSQL a quoted name keeps its case and so is a different
    function from the lower-case built-in.
    """
    case_blind = db_type != "postgresql"
    key = ascii_lower(name) if case_blind else name
    schema_key = None
    if schema is not None:
        schema_key = ascii_lower(schema) if case_blind else schema
    if function_has_side_effects(ascii_lower(name)):
        return False
    builtin = ALLOWED_FUNCTIONS.get(db_type, frozenset())
    if key in builtin and (
        schema_key is None or schema_key in BUILTIN_SCHEMAS.get(db_type, frozenset())
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
