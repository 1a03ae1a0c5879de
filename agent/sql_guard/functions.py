"""The functions the agent's SQL may call: each backend's allow-list, nothing else.

Each engine's backend lists its read-only built-ins (`read_only_functions`,
built from `connections.backends.sql.STANDARD_FUNCTIONS`); anything not listed
is refused by the statement check, so a function the database gains later (an
extension, a user-defined function, a new release) is refused until someone
decides it is safe. Listed are functions without side
effects: aggregates, window, math, string, date/time, JSON, conditional, casts,
and the catalog/introspection functions a read-only agent needs. Left out on
purpose: anything that locks, sleeps, signals other sessions, reads or writes
server files, opens connections (dblink, postgres_fdw), sets configuration,
touches sequences, large objects, advisory locks, transaction ids or
notifications, or runs SQL given in a string (`query_to_xml`, `ts_stat`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings

if TYPE_CHECKING:
    from agent.sql_guard.dialect import Dialect


def _names(text: str) -> frozenset[str]:
    return frozenset(text.split())


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


def function_allowed(*, name: str, schema: str | None, dialect: Dialect) -> bool:
    """Tell whether the function the server resolves to (schema, name) may run.

    `name` and `schema` are what the server resolves, already unquoted and case
    folded; where a quoted name keeps its case (PostgreSQL) it is a different
    function from the lower-case built-in.
    """
    case_blind = not dialect.names.quoted_keep_case
    key = ascii_lower(name) if case_blind else name
    schema_key = None
    if schema is not None:
        schema_key = ascii_lower(schema) if case_blind else schema
    if function_has_side_effects(ascii_lower(name)):
        return False
    if key in dialect.functions and (
        schema_key is None or schema_key in dialect.builtin_schemas
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
