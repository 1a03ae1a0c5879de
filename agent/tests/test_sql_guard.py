"""Layer 1, the statement check: pure parsing, in every dialect."""

from __future__ import annotations

import pytest

from agent.sql_guard import StatementRefused, statement_check

DIALECTS = ("postgresql", "mysql", "sqlite")


def refusal(sql: str, db_type: str) -> str:
    with pytest.raises(StatementRefused) as caught:
        statement_check(sql, db_type=db_type)
    assert str(caught.value) == caught.value.reason
    return caught.value.reason


# --- what is allowed -----------------------------------------------------------


@pytest.mark.parametrize("db_type", DIALECTS)
@pytest.mark.parametrize(
    "sql",
    [
        "SELECT 1",
        "select name, country from customers where country = 'Germany'",
        "SELECT c.name, count(o.id) AS n FROM customers c "
        "LEFT JOIN orders o ON o.customer_id = c.id GROUP BY c.name ORDER BY n DESC",
        "WITH big AS (SELECT * FROM orders WHERE total > 50) SELECT count(*) FROM big",
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 5) "
        "SELECT x FROM c",
        "SELECT id FROM customers UNION SELECT customer_id FROM orders",
        "SELECT id FROM customers INTERSECT SELECT customer_id FROM orders",
        "SELECT id FROM customers EXCEPT SELECT customer_id FROM orders",
        "(SELECT 1) UNION ALL (SELECT 2)",
        "SELECT * FROM (SELECT id FROM orders) AS sub WHERE id IN "
        "(SELECT id FROM orders WHERE total > 10)",
        "SELECT name FROM customers WHERE note = 'DELETE FROM orders; DROP TABLE x'",
        "SELECT 'pg_sleep(60)' AS harmless_text",
    ],
)
def test_a_read_statement_is_allowed(sql: str, db_type: str):
    assert statement_check(sql, db_type=db_type) == sql


@pytest.mark.parametrize("db_type", ["postgresql", "sqlite"])
def test_a_values_list_is_allowed(db_type: str):
    assert statement_check("VALUES (1, 'a'), (2, 'b')", db_type=db_type) == (
        "VALUES (1, 'a'), (2, 'b')"
    )


@pytest.mark.parametrize("db_type", DIALECTS)
@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT 1;", "SELECT 1"),
        ("  SELECT 1 ;  \n", "SELECT 1"),
        ("SELECT 1; -- the end", "SELECT 1"),
        ("SELECT 1 /* ; DROP TABLE t */", "SELECT 1"),
        ("-- count them\nSELECT count(*) FROM orders", "SELECT count(*) FROM orders"),
    ],
)
def test_the_statement_to_run_stops_at_its_last_token(
    sql: str, expected: str, db_type: str
):
    assert statement_check(sql, db_type=db_type) == expected


# --- what is refused -----------------------------------------------------------


@pytest.mark.parametrize("db_type", DIALECTS)
@pytest.mark.parametrize(
    ("sql", "named"),
    [
        ("INSERT INTO t VALUES (1)", "INSERT"),
        ("insert into t select * from u", "INSERT"),
        ("UPDATE t SET a = 1", "UPDATE"),
        ("DELETE FROM t", "DELETE"),
        ("DROP TABLE t", "DROP"),
        ("CREATE TABLE t (i INTEGER)", "CREATE"),
        ("CREATE VIEW v AS SELECT 1", "CREATE"),
        ("ALTER TABLE t ADD COLUMN c INTEGER", "ALTER"),
    ],
)
def test_a_write_statement_is_refused_with_its_kind(sql: str, named: str, db_type: str):
    reason = refusal(sql, db_type)

    assert reason.startswith("Only a single read-only SELECT is allowed")
    assert named in reason


@pytest.mark.parametrize("db_type", DIALECTS)
@pytest.mark.parametrize(
    "sql",
    [
        "TRUNCATE TABLE t",
        "GRANT SELECT ON t TO someone",
        "REVOKE SELECT ON t FROM someone",
        "SET statement_timeout = 0",
        "SET TRANSACTION READ WRITE",
        "BEGIN",
        "COMMIT",
        "EXPLAIN ANALYZE DELETE FROM t",
        "PRAGMA query_only = 0",
        "ATTACH DATABASE 'x.db' AS x",
        "COPY t TO '/tmp/t.csv'",
        "CALL do_things()",
        "LOAD DATA INFILE '/etc/passwd' INTO TABLE t",
        "VACUUM",
        "SHOW TABLES",
        "USE other",
        "LOCK TABLES t WRITE",
        "KILL 12",
        "SELECT FROM WHERE",
        "this is not sql",
    ],
)
def test_anything_but_a_read_statement_is_refused(sql: str, db_type: str):
    assert refusal(sql, db_type)


@pytest.mark.parametrize("db_type", DIALECTS)
@pytest.mark.parametrize(
    "sql",
    [
        "SELECT 1; DROP TABLE t",
        "SELECT 1; SELECT 2",
        "SELECT 1;;SELECT 2",
        "SELECT 1 /* comment */; DELETE FROM t",
        "SELECT 1 -- comment\n; DELETE FROM t",
    ],
)
def test_more_than_one_statement_is_refused(sql: str, db_type: str):
    assert "statements" in refusal(sql, db_type)


@pytest.mark.parametrize("db_type", DIALECTS)
@pytest.mark.parametrize("sql", ["", "   ", ";", "-- only a comment", "/* x */"])
def test_an_empty_query_is_refused(sql: str, db_type: str):
    assert refusal(sql, db_type) == "The query is empty."


@pytest.mark.parametrize("db_type", DIALECTS)
def test_delete_inside_a_cte_is_refused_and_named(db_type: str):
    reason = refusal(
        "WITH d AS (DELETE FROM orders RETURNING *) SELECT * FROM d", db_type
    )

    assert reason == (
        "Only a single read-only SELECT is allowed; found DELETE inside a CTE."
    )


@pytest.mark.parametrize("db_type", DIALECTS)
@pytest.mark.parametrize(
    "sql",
    [
        "WITH n AS (INSERT INTO t VALUES (1) RETURNING *) SELECT * FROM n",
        "WITH u AS (UPDATE t SET a = 1 RETURNING *) SELECT * FROM u",
        "WITH a AS (SELECT 1), d AS (DELETE FROM t RETURNING *) SELECT * FROM a",
        "SELECT * FROM (WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d) s",
    ],
)
def test_dml_anywhere_in_the_tree_is_refused(sql: str, db_type: str):
    reason = refusal(sql, db_type)

    assert "INSERT" in reason or "UPDATE" in reason or "DELETE" in reason


@pytest.mark.parametrize("db_type", DIALECTS)
def test_select_into_is_refused(db_type: str):
    assert "INTO" in refusal("SELECT * INTO copy FROM orders", db_type)


@pytest.mark.parametrize("db_type", DIALECTS)
@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM orders INTO OUTFILE '/tmp/o.txt'",
        "SELECT * FROM orders INTO DUMPFILE '/tmp/o.bin'",
        "SELECT * INTO OUTFILE '/tmp/o.txt' FROM orders",
    ],
)
def test_into_outfile_is_refused(sql: str, db_type: str):
    assert "OUTFILE" in refusal(sql, db_type)


@pytest.mark.parametrize("db_type", ["postgresql", "mysql"])
@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM orders FOR UPDATE",
        "SELECT * FROM orders FOR SHARE",
        "SELECT * FROM orders FOR UPDATE NOWAIT",
        "SELECT * FROM orders FOR UPDATE SKIP LOCKED",
    ],
)
def test_a_locking_clause_is_refused(sql: str, db_type: str):
    assert "FOR UPDATE" in refusal(sql, db_type)


@pytest.mark.parametrize("db_type", DIALECTS)
def test_lock_in_share_mode_is_refused(db_type: str):
    assert refusal("SELECT * FROM orders LOCK IN SHARE MODE", db_type)


@pytest.mark.parametrize("db_type", DIALECTS)
@pytest.mark.parametrize(
    "sql",
    [
        "SELECT 1 /*!; DELETE FROM t */",
        "/*!50000 SELECT */ 1",
        "SELECT /*!32302 SLEEP(10), */ 1",
        "SELECT 1 /*M!100000 , SLEEP(10) */",
        "SELECT /*+ MAX_EXECUTION_TIME(999999) */ * FROM t",
        "SELECT /*+ SET_VAR(max_statement_time=0) */ 1",
    ],
)
def test_mysql_executable_comments_and_hints_are_refused(sql: str, db_type: str):
    assert "executable comments" in refusal(sql, db_type)


DENIED_CALLS = [
    ("SELECT pg_read_file('/etc/passwd')", "pg_read_file"),
    ("SELECT pg_catalog.pg_read_file('/etc/passwd')", "pg_read_file"),
    ("SELECT PG_READ_FILE('/etc/passwd')", "pg_read_file"),
    ("SELECT pg_read_binary_file('/etc/passwd')", "pg_read_binary_file"),
    ("SELECT * FROM pg_ls_dir('.')", "pg_ls_dir"),
    ("SELECT * FROM pg_catalog.pg_ls_waldir()", "pg_ls_waldir"),
    ("SELECT pg_stat_file('postgresql.conf')", "pg_stat_file"),
    ("SELECT lo_import('/etc/passwd')", "lo_import"),
    ("SELECT lo_export(1, '/tmp/x')", "lo_export"),
    ("SELECT lo_unlink(1)", "lo_unlink"),
    ("SELECT lo_from_bytea(0, 'x')", "lo_from_bytea"),
    ("SELECT * FROM dblink('host=evil', 'SELECT 1') AS t(i int)", "dblink"),
    ("SELECT dblink_exec('host=evil', 'DROP TABLE t')", "dblink_exec"),
    (
        "SELECT query_to_xml('DELETE FROM t RETURNING *', true, true, '')",
        "query_to_xml",
    ),
    ("SELECT table_to_xml('t', true, true, '')", "table_to_xml"),
    ("SELECT ts_stat('DELETE FROM t RETURNING *')", "ts_stat"),
    ("SELECT pg_terminate_backend(pid) FROM pg_stat_activity", "pg_terminate_backend"),
    ("SELECT pg_cancel_backend(1)", "pg_cancel_backend"),
    ("SELECT pg_advisory_lock(1)", "pg_advisory_lock"),
    ("SELECT pg_advisory_xact_lock(1)", "pg_advisory_xact_lock"),
    ("SELECT pg_try_advisory_lock(1)", "pg_try_advisory_lock"),
    ("SELECT set_config('statement_timeout', '0', false)", "set_config"),
    ("SELECT pg_reload_conf()", "pg_reload_conf"),
    ("SELECT pg_sleep(60)", "pg_sleep"),
    ("SELECT pg_sleep_for('1 minute')", "pg_sleep_for"),
    ("SELECT nextval('s')", "nextval"),
    ("SELECT setval('s', 1)", "setval"),
    ("SELECT pg_notify('c', 'x')", "pg_notify"),
    ("SELECT LOAD_FILE('/etc/passwd')", "load_file"),
    ("SELECT SLEEP(60)", "sleep"),
    ("SELECT BENCHMARK(1000000000, MD5('x'))", "benchmark"),
    ("SELECT GET_LOCK('x', 10)", "get_lock"),
    ("SELECT RELEASE_LOCK('x')", "release_lock"),
    ("SELECT load_extension('/tmp/evil.so')", "load_extension"),
    ("SELECT readfile('/etc/passwd')", "readfile"),
    ("SELECT writefile('/tmp/x', 'y')", "writefile"),
    ("SELECT name FROM customers WHERE id = (SELECT sleep(5))", "sleep"),
    ("SELECT CASE WHEN 1 = 1 THEN pg_sleep(5) END", "pg_sleep"),
]


@pytest.mark.parametrize("db_type", DIALECTS)
@pytest.mark.parametrize(("sql", "name"), DENIED_CALLS)
def test_a_denied_function_is_refused_by_name(sql: str, name: str, db_type: str):
    assert f"{name}()" in refusal(sql, db_type)


@pytest.mark.parametrize("db_type", ["postgresql", "sqlite"])
def test_a_denied_function_is_refused_when_its_name_is_quoted(db_type: str):
    assert "pg_sleep()" in refusal('SELECT "pg_sleep"(60)', db_type)


def test_a_denied_function_is_refused_when_its_name_is_backquoted_in_mysql():
    assert "sleep()" in refusal("SELECT `sleep`(60)", "mysql")


def test_a_mysql_variable_assignment_is_refused():
    assert ":=" in refusal("SELECT @total := sum(total) FROM orders", "mysql")


def test_an_unknown_database_type_is_refused():
    assert "oracle" in refusal("SELECT 1", "oracle")


def test_an_unparseable_query_says_so():
    reason = refusal("SELECT (1", "postgresql")

    assert reason.startswith("The query could not be parsed as postgresql SQL")
