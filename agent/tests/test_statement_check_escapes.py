"""Layer 1 decides on the function the server resolves, not on how it is spelled.

Pure tests of `statement_check` (no database, layer 2 not involved), then the
same spellings sent to a real PostgreSQL with EXPLAIN VERBOSE to prove the
server resolves them to the real, dangerous function.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.sql_guard import StatementRefused, statement_check
from agent.sql_guard.functions import function_has_side_effects
from connections.backends import backend_for, registered
from testsupport.fixtures import TARGET_DB

QUERIES_DIR = Path(__file__).parent / "statement_queries"


def refusal(sql: str, db_type: str) -> str:
    with pytest.raises(StatementRefused) as caught:
        statement_check(sql, db_type=db_type)
    return caught.value.reason


def _escape_one(name: str, *, escape: str = "\\", long_form: bool = False) -> str:
    """Spell `name` with its third character as a Unicode escape."""
    code = ord(name[2])
    escaped = f"{escape}+{code:06x}" if long_form else f"{escape}{code:04x}"
    return name[:2] + escaped + name[3:]


def pg_spellings(name: str, args: str) -> list[str]:
    """Return ways to call `name` that PostgreSQL resolves to the same function."""
    return [
        f"SELECT {name}({args})",
        f"SELECT {name.upper()}({args})",
        f"SELECT {name[:3].upper()}{name[3:]}({args})",
        f'SELECT "{name}"({args})',
        f'SELECT U&"{_escape_one(name)}"({args})',
        f'SELECT u&"{_escape_one(name)}"({args})',
        f'SELECT U&"{_escape_one(name, long_form=True)}"({args})',
        f"SELECT U&\"{_escape_one(name, escape='!')}\" UESCAPE '!'({args})",
        f"SELECT pg_catalog.{name}({args})",
        f'SELECT "pg_catalog"."{name}"({args})',
        f'SELECT pg_catalog.U&"{_escape_one(name)}"({args})',
        f'SELECT public.U&"{_escape_one(name)}" ({args})',
        f'SELECT U&"{_escape_one(name)}" /* gap */ ({args})',
        f'SELECT * FROM U&"{_escape_one(name)}"({args}) AS f',
        f'SELECT (SELECT U&"{_escape_one(name)}"({args}))',
        f'SELECT 1 WHERE EXISTS (SELECT U&"{_escape_one(name)}"({args}))',
        f'WITH c AS (SELECT U&"{_escape_one(name)}"({args}) AS v) SELECT v FROM c',
        f'SELECT CASE WHEN true THEN U&"{_escape_one(name)}"({args}) END',
    ]


# The issue's payloads: each one ran on a real server before this check.
DENIED_POSTGRESQL = [
    ("dblink_exec", "'host=127.0.0.1 dbname=x user=postgres', 'DELETE FROM canary'"),
    ("dblink", "'host=127.0.0.1 dbname=x', 'SELECT 1'"),
    ("dblink_connect", "'host=127.0.0.1 dbname=x'"),
    ("lo_export", "1, '/tmp/sqlagent_lo'"),
    ("lo_import", "'/etc/hostname'"),
    ("pg_read_file", "'/etc/hostname'"),
    ("pg_read_binary_file", "'/etc/hostname'"),
    ("pg_terminate_backend", "0"),
    ("pg_cancel_backend", "0"),
    ("pg_advisory_lock", "4243"),
    ("pg_try_advisory_xact_lock", "4243"),
    ("pg_ls_dir", "'/'"),
    ("pg_stat_reset", ""),
    ("pg_reload_conf", ""),
    ("set_config", "'statement_timeout', '0', false"),
    ("pg_sleep", "5"),
    ("nextval", "'orders'"),  # any relation: EXPLAIN plans, it does not run
    ("txid_current", ""),
    ("pg_notify", "'c', 'x'"),
    ("query_to_xml", "'DELETE FROM orders RETURNING *', true, true, ''"),
]


def _pg_cases() -> Iterator[Any]:
    for name, args in DENIED_POSTGRESQL:
        for sql in pg_spellings(name, args):
            yield pytest.param(sql, name, id=sql[:70])


@pytest.mark.parametrize(("sql", "name"), list(_pg_cases()))
def test_a_side_effect_function_is_refused_on_postgresql_however_spelled(
    sql: str, name: str
):
    reason = refusal(sql, "postgresql")

    assert name in reason.lower()
    assert "is not allowed" in reason


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT repeat('x', 200000000)",
        "SELECT g, repeat('x', 1000000) FROM generate_series(1, 300) g",
    ],
)
def test_the_issues_size_payloads_pass_the_statement_check_for_the_bounds_to_cut(
    sql: str,
):
    # Big values are not a function-safety question: layer 3 caps them.
    assert statement_check(sql, db_type="postgresql") == sql


def test_an_escaped_name_is_reported_as_the_function_it_resolves_to():
    reason = refusal(
        'SELECT U&"pg\\005fterminate_backend"(pid) FROM pg_stat_activity',
        "postgresql",
    )

    assert reason.startswith("The function pg_terminate_backend() (written U&")
    assert "Leave it out" in reason


def test_a_quoted_upper_case_name_is_a_different_function_and_refused():
    # PostgreSQL keeps the case of a quoted name: "PG_READ_FILE" is not the
    # built-in. Nothing off the allow-list runs either way.
    assert "PG_READ_FILE()" in refusal("SELECT \"PG_READ_FILE\"('/x')", "postgresql")
    assert "LOWER()" in refusal("SELECT \"LOWER\"('A')", "postgresql")


@pytest.mark.parametrize(
    "sql",
    [
        'SELECT U&"pg\\d800fsleep"(1)',  # a lone surrogate
        'SELECT U&"pg\\005"(1)',  # too few hex digits
        'SELECT U&"pg\\zzzzsleep"(1)',  # not hex
        'SELECT U&"pg\\+00005"(1)',  # too few digits in the long form
        'SELECT U&"pg\\0000sleep"(1)',  # NUL
        "SELECT U&\"pg+005fsleep\" UESCAPE '+'(1)",  # '+' may not be the escape
        "SELECT U&\"pg0005fsleep\" UESCAPE '0'(1)",  # nor a hex digit
        "SELECT a.b.pg_sleep(1)",  # a three-part name
        "SELECT \"pg_sleep\" UESCAPE '!'(1)",  # UESCAPE on a plain quoted name
    ],
)
def test_a_name_that_cannot_be_decoded_with_certainty_is_refused(sql: str):
    reason = refusal(sql, "postgresql")

    assert "cannot be decoded with certainty" in reason or "is not allowed" in reason


def test_an_overlong_postgresql_name_is_refused_as_undecodable():
    reason = refusal(f"SELECT {'a' * 64}(1)", "postgresql")

    assert "cannot be decoded with certainty" in reason


def test_a_doubled_escape_is_a_literal_backslash_not_an_escape():
    reason = refusal('SELECT U&"pg\\\\005fsleep"(1)', "postgresql")

    assert "pg\\005fsleep()" in reason


# --- MySQL / MariaDB ---------------------------------------------------------

DENIED_MYSQL = [
    ("sleep", "5"),
    ("get_lock", "'x', 10"),
    ("release_lock", "'x'"),
    ("is_used_lock", "'x'"),
    ("load_file", "'/etc/passwd'"),
    ("benchmark", "100000000, md5('x')"),
    ("master_pos_wait", "'x', 1"),
    ("nextval", "s"),
    ("sys_exec", "'id'"),
]


def mysql_spellings(name: str, args: str) -> list[str]:
    return [
        f"SELECT {name}({args})",
        f"SELECT {name.upper()}({args})",
        f"SELECT `{name}`({args})",
        f"SELECT `{name.upper()}`({args})",
        f'SELECT "{name}"({args})',  # an identifier under ANSI_QUOTES
        f"SELECT {name} ({args})",
        f"SELECT {name}/**/({args})",
        f"SELECT `mysql`.`{name}`({args})",
        f"SELECT shop.{name}({args})",
        f"SELECT 1 /*!50000 , {name}({args}) */",
        f"SELECT 1 /*M!100000 , {name}({args}) */",
        f"SELECT * FROM orders WHERE id = (SELECT `{name}`({args}))",
        f"WITH c AS (SELECT `{name}`({args}) AS v) SELECT v FROM c",
    ]


def _mysql_cases() -> Iterator[Any]:
    for name, args in DENIED_MYSQL:
        for sql in mysql_spellings(name, args):
            yield pytest.param(sql, name, id=sql[:70])


@pytest.mark.parametrize(("sql", "name"), list(_mysql_cases()))
def test_a_side_effect_function_is_refused_on_mysql_however_spelled(
    sql: str, name: str
):
    reason = refusal(sql, "mysql")

    assert name in reason.lower() or "executable comments" in reason


def test_a_mysql_values_statement_is_refused_with_what_to_write_instead():
    reason = refusal("VALUES (1, 'a'), (2, 'b')", "mysql")

    assert "UNION ALL SELECT" in reason


# --- SQLite --------------------------------------------------------------------

DENIED_SQLITE = [
    ("load_extension", "'/tmp/evil.so'"),
    ("readfile", "'/etc/passwd'"),
    ("writefile", "'/tmp/x', 'y'"),
    ("fts3_tokenizer", "'simple'"),
    ("edit", "'x'"),
    ("fsdir", "'/'"),
]


def sqlite_spellings(name: str, args: str) -> list[str]:
    return [
        f"SELECT {name}({args})",
        f"SELECT {name.upper()}({args})",
        f'SELECT "{name}"({args})',
        f"SELECT [{name}]({args})",
        f"SELECT `{name}`({args})",
        f"SELECT '{name}'({args})",
        f"SELECT * FROM {name}({args})",
        f"SELECT * FROM (SELECT [{name}]({args}))",
        f'WITH c AS (SELECT "{name}"({args}) AS v) SELECT v FROM c',
    ]


def _sqlite_cases() -> Iterator[Any]:
    for name, args in DENIED_SQLITE:
        for sql in sqlite_spellings(name, args):
            yield pytest.param(sql, name, id=sql[:70])


@pytest.mark.parametrize(("sql", "name"), list(_sqlite_cases()))
def test_a_side_effect_function_is_refused_on_sqlite_however_spelled(
    sql: str, name: str
):
    assert f"{name}()" in refusal(sql, "sqlite")


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM pragma_table_info('orders')",
        "SELECT name, type FROM pragma_table_info('orders') ORDER BY cid",
        "SELECT m.name, p.name FROM sqlite_master m JOIN pragma_table_info(m.name) p",
        "SELECT * FROM pragma_index_list('orders')",
        "SELECT * FROM pragma_foreign_key_list('orders')",
        "SELECT key, value FROM json_each('[1, 2]')",
    ],
)
def test_a_read_only_table_valued_function_passes_on_sqlite(sql: str):
    assert statement_check(sql, db_type="sqlite") == sql


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM pragma_database_list",
        "SELECT * FROM main.pragma_database_list",
        'SELECT * FROM "PRAGMA_DATABASE_LIST"',
        "SELECT * FROM fsdir WHERE name = '/etc'",
        "SELECT * FROM pragma_database_list()",
    ],
)
def test_another_table_valued_function_is_refused_on_sqlite_even_without_parens(
    sql: str,
):
    assert "is not allowed" in refusal(sql, "sqlite")


@pytest.mark.parametrize(
    "sql", ["PRAGMA table_info('orders')", "PRAGMA query_only = 0"]
)
def test_a_pragma_statement_stays_refused_on_sqlite(sql: str):
    assert "PRAGMA" in refusal(sql, "sqlite")


# --- the allow-list and its setting -----------------------------------------


@pytest.mark.parametrize(
    ("sql", "db_type", "shown"),
    [
        ("SELECT my_report(1)", "postgresql", "my_report()"),
        ("SELECT reporting.my_report(1)", "postgresql", "reporting.my_report()"),
        ("SELECT myschema.count(*) FROM orders", "postgresql", "myschema.count()"),
        ("SELECT shop.my_report(1)", "mysql", "shop.my_report()"),
        ("SELECT my_report(1)", "sqlite", "my_report()"),
    ],
)
def test_a_user_defined_function_is_refused_and_the_reason_names_the_setting(
    sql: str, db_type: str, shown: str
):
    reason = refusal(sql, db_type)

    assert f"The function {shown} is not allowed" in reason
    assert "SQL_EXTRA_ALLOWED_FUNCTIONS" in reason


def test_the_setting_allows_a_named_function_in_any_schema(settings: Any):
    settings.SQL_EXTRA_ALLOWED_FUNCTIONS = ["my_report"]

    assert statement_check("SELECT my_report(1)", db_type="postgresql")
    assert statement_check("SELECT reporting.my_report(1)", db_type="postgresql")
    assert "other_report()" in refusal("SELECT other_report(1)", "postgresql")


def test_the_setting_allows_a_schema_qualified_function_only_there(settings: Any):
    settings.SQL_EXTRA_ALLOWED_FUNCTIONS = ["reporting.my_report"]

    assert statement_check("SELECT reporting.my_report(1)", db_type="postgresql")
    assert "my_report()" in refusal("SELECT my_report(1)", "postgresql")
    assert "public.my_report()" in refusal("SELECT public.my_report(1)", "postgresql")


def test_the_setting_cannot_let_a_side_effect_function_in(settings: Any):
    settings.SQL_EXTRA_ALLOWED_FUNCTIONS = ["dblink_exec", "public.dblink", "sleep"]

    assert "dblink_exec()" in refusal("SELECT dblink_exec('a', 'b')", "postgresql")
    assert "public.dblink()" in refusal("SELECT public.dblink('a', 'b')", "postgresql")
    assert "sleep()" in refusal("SELECT sleep(1)", "mysql")


@pytest.mark.parametrize("db_type", sorted(registered()))
def test_no_allowed_function_is_a_known_side_effect_function(db_type: str):
    allowed = backend_for(db_type).read_only_functions
    assert not [n for n in allowed if function_has_side_effects(n)]


# --- ordinary analytic queries still pass -------------------------------------


def _queries(db_type: str) -> list[Any]:
    lines = (QUERIES_DIR / f"{db_type}.sql").read_text().splitlines()
    return [pytest.param(line, id=line[:60]) for line in lines if line.strip()]


@pytest.mark.parametrize("sql", _queries("postgresql"))
def test_an_analytic_query_passes_on_postgresql(sql: str):
    assert statement_check(sql, db_type="postgresql") == sql


@pytest.mark.parametrize("sql", _queries("mysql"))
def test_an_analytic_query_passes_on_mysql(sql: str):
    assert statement_check(sql, db_type="mysql") == sql


@pytest.mark.parametrize("sql", _queries("sqlite"))
def test_an_analytic_query_passes_on_sqlite(sql: str):
    assert statement_check(sql, db_type="sqlite") == sql


# --- the real server resolves these spellings to the real function ------------


@pytest.fixture(scope="module")
def pg_with_dblink(shop_databases: dict[str, Any]) -> Iterator[Any]:
    """Connect as postgres to the target database, with dblink installed."""
    import psycopg

    with psycopg.connect(
        host="127.0.0.1", user="postgres", dbname=TARGET_DB, autocommit=True
    ) as conn:
        available = conn.execute(
            "SELECT 1 FROM pg_available_extensions WHERE name = 'dblink'"
        ).fetchone()
        assert available, "dblink is missing: install Debian's postgresql-contrib"
        conn.execute("CREATE EXTENSION IF NOT EXISTS dblink")
        yield conn


def _explain(conn: Any, sql: str) -> str:
    """Plan `sql` without running it and return the verbose plan text."""
    rows = conn.execute(f"EXPLAIN (VERBOSE, COSTS OFF) {sql}").fetchall()
    return "\n".join(row[0] for row in rows)


SET_RETURNING = {"dblink", "pg_ls_dir"}


def _server_cases() -> Iterator[Any]:
    for name, args in DENIED_POSTGRESQL:
        if name in {"txid_current", "query_to_xml"}:
            continue  # planned like any other: no new spelling to prove
        for sql in pg_spellings(name, args):
            if name in SET_RETURNING and ("FROM U&" in sql or "CASE" in sql):
                continue  # needs a column list / is not allowed in CASE
            if "EXISTS" in sql:
                continue  # the plan does not print an EXISTS subquery's output
            if "public." in sql and not name.startswith("dblink"):
                continue  # only dblink lives in public
            if "pg_catalog" in sql and name.startswith("dblink"):
                continue
            yield pytest.param(sql, name, id=sql[:70])


@pytest.mark.parametrize(("sql", "name"), list(_server_cases()))
def test_postgresql_resolves_the_spelling_to_the_real_function_the_check_refuses(
    pg_with_dblink: Any, sql: str, name: str
):
    plan = _explain(pg_with_dblink, sql)

    assert (
        f"{name}(" in plan
        or f"Function Scan on public.{name}" in plan
        or (f"Function Scan on pg_catalog.{name}" in plan)
    )
    assert name in refusal(sql, "postgresql").lower()


BACKEND_PID_SPELLINGS = [
    sql
    for sql in pg_spellings("pg_backend_pid", "")
    if not any(part in sql for part in ("public.", "EXISTS", "UESCAPE", "FROM U&"))
]


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT U&\"pg!005fbackend_pid\" UESCAPE '!'()",
        'SELECT * FROM U&"pg\\005fbackend_pid"() AS f',
    ],
)
def test_an_escaped_spelling_sqlglot_cannot_parse_is_refused_even_when_allowed(
    sql: str,
):
    # PostgreSQL runs these (pg_backend_pid), but the parser cannot see the
    # whole statement, so the check does not guess.
    assert "could not be parsed" in refusal(sql, "postgresql")


@pytest.mark.parametrize("sql", BACKEND_PID_SPELLINGS)
def test_postgresql_runs_an_escaped_allowed_function_as_the_built_in(
    pg_with_dblink: Any, sql: str
):
    checked = statement_check(sql, db_type="postgresql")

    assert pg_with_dblink.execute(checked).fetchone() == (
        pg_with_dblink.info.backend_pid,
    )


def test_an_allowed_name_in_another_schema_is_not_the_built_in_and_is_refused():
    reason = refusal('SELECT public.U&"pg\\005fbackend_pid"()', "postgresql")

    assert "public.pg_backend_pid()" in reason


@pytest.mark.parametrize("db_type", ["postgresql", "mysql", "sqlite"])
@pytest.mark.parametrize(
    ("sql", "shown"),
    [
        ("SELECT my$udf(1)", "my$udf()"),
        ("SELECT x.my$udf(1)", "x.my$udf()"),
        ("SELECT café(1)", "café()"),
        # A Cyrillic "e" (U+0435) makes another name, not pg_sleep.
        ("SELECT pg_sl\u0435\u0435p(1)", "pg_sl\u0435\u0435p()"),
    ],
)
def test_an_unusual_unquoted_name_is_decoded_and_refused(
    sql: str, shown: str, db_type: str
):
    assert shown in refusal(sql, db_type)


def test_a_mysql_name_with_a_leading_digit_is_a_name_and_refused():
    # MySQL reads 1abc as a name, sqlglot as 1 and abc: refused as ambiguous.
    assert "1abc" in refusal("SELECT 1abc(1)", "mysql")


def test_a_non_ascii_capital_is_not_folded_into_an_allowed_name():
    # PostgreSQL folds only A-Z: the Kelvin sign stays, so this is not `lock…`.
    reason = refusal("SELECT \u212aount(*) FROM orders", "postgresql")

    assert "\u212aount()" in reason


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT load_extension('/nonexistent.so')",
        "SELECT LOAD_EXTENSION('/nonexistent.so')",
        "SELECT \"load_extension\"('/nonexistent.so')",
        "SELECT [load_extension]('/nonexistent.so')",
        "SELECT `load_extension`('/nonexistent.so')",
    ],
)
def test_sqlite_resolves_the_quoted_spelling_to_the_real_function_the_check_refuses(
    sql: str,
):
    import sqlite3

    connection = sqlite3.connect(":memory:")
    # "not authorized" is load_extension itself refusing (extension loading is
    # off); an unknown name would say "no such function".
    with pytest.raises(sqlite3.OperationalError, match="not authorized"):
        connection.execute(sql)
    connection.close()

    assert "load_extension()" in refusal(sql, "sqlite")


@pytest.mark.parametrize(
    ("sql", "sql_mode"),
    [
        ("SELECT `sleep`(0)", ""),
        ("SELECT `SLEEP`(0)", ""),
        ("SELECT sleep /* gap */ (0)", ""),
        ('SELECT "sleep"(0)', "ANSI_QUOTES"),
    ],
)
def test_mariadb_resolves_the_quoted_spelling_to_the_built_in_the_check_refuses(
    sql: str, sql_mode: str
):
    import MySQLdb

    connection = MySQLdb.connect(host="127.0.0.1", user="root")
    try:
        cursor = connection.cursor()
        cursor.execute(f"SET SESSION sql_mode = '{sql_mode}'")
        cursor.execute(sql)
        assert cursor.fetchall() == ((0,),)  # SLEEP(0) returns 0
    finally:
        connection.close()

    assert "sleep()" in refusal(sql, "mysql")


@pytest.mark.parametrize(
    ("sql", "db_type"),
    [
        ("SELECT wee\u212a(created_at) FROM orders", "mysql"),  # not WEEK
        ("SELECT li\u212aely(1)", "sqlite"),  # not likely
    ],
)
def test_a_non_ascii_capital_is_not_folded_into_an_allowed_name_anywhere(
    sql: str, db_type: str
):
    # str.lower() would turn the Kelvin sign into "k"; the databases fold A-Z only.
    assert "\u212a" in refusal(sql, db_type)


# Allowed PostgreSQL names that are SQL syntax rather than pg_proc entries, or
# functions of releases newer than 15 (the test server's).
_PG_SYNTAX_OR_NEWER = """
    cast coalesce nullif greatest least grouping trim current_date current_time
    current_timestamp localtime localtimestamp current_catalog current_role
    json_array json_arrayagg json_objectagg json_exists json_query json_scalar
    json_serialize json_table json_value any_value array_sample array_shuffle
    casefold date_add date_subtract erf erfc random_normal to_bin to_oct
    pg_input_error_info pg_input_is_valid to_regtypemod uuid_extract_timestamp
    uuid_extract_version
"""
PG_SYNTAX_OR_NEWER = set(_PG_SYNTAX_OR_NEWER.split())
# Volatile, and reviewed: they read a clock, a random source or a size.
PG_REVIEWED_VOLATILE = {
    "clock_timestamp",
    "timeofday",
    "random",
    "gen_random_uuid",
    "pg_database_size",
    "pg_indexes_size",
    "pg_relation_size",
    "pg_table_size",
    "pg_total_relation_size",
}


def test_every_allowed_postgresql_function_exists_and_no_unreviewed_one_is_volatile(
    pg_with_dblink: Any,
):
    names = sorted(backend_for("postgresql").read_only_functions)
    rows = pg_with_dblink.execute(
        "SELECT p.proname, string_agg(DISTINCT p.provolatile::text, '') "
        "FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
        "WHERE n.nspname = 'pg_catalog' AND p.proname = ANY(%s) GROUP BY 1",
        [names],
    ).fetchall()
    volatility = dict(rows)

    assert {n for n in names if n not in volatility} <= PG_SYNTAX_OR_NEWER
    assert {n for n, v in volatility.items() if "v" in v} <= PG_REVIEWED_VOLATILE


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT system('id')",  # a classic extension function that runs a shell
        "SELECT first(total) FROM orders",
        "SELECT regexp(name) FROM customers",
        "SELECT tablesample(1)",
        "SELECT window(1)",
        "SELECT index(1)",
    ],
)
def test_a_syntax_word_used_as_a_postgresql_function_name_is_refused(sql: str):
    # PostgreSQL lets a user-defined function take these (non-reserved) names.
    assert "is not allowed" in refusal(sql, "postgresql")


def test_a_quoted_u_before_an_ampersand_is_a_column_not_a_unicode_prefix():
    # PostgreSQL reads "U"&"pg\005fsleep"(1) as column "U" AND a function whose
    # name holds a literal backslash: nothing is decoded, and it is refused.
    reason = refusal('SELECT "U"&"pg\\005fsleep"(1)', "postgresql")

    assert "pg\\005fsleep()" in reason
