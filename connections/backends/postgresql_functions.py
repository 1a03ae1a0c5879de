"""PostgreSQL's read-only built-in functions beyond the SQL standard's: the
backend's `read_only_functions`, kept apart because the list is long."""

from __future__ import annotations

from connections.backends.sql import names

# Read-only built-ins beyond the standard's (see `read_only_functions`).
FUNCTIONS = names("""
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
