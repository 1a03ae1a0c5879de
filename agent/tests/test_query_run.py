"""query_run on real PostgreSQL, MariaDB and SQLite databases.

Attacks run as the ADMIN role (superuser / root) so that the read-only layers,
not the grants, are what stops them; the database is read back afterwards.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from agent.sql_guard import (
    QueryFailed,
    QueryResult,
    StatementRefused,
    query_run,
)
from connections.engines import engine_create
from connections.exceptions import TargetDatabaseUnavailable
from testsupport.fixtures import READER, shop_snapshot

ENGINES = ("postgresql", "mysql", "sqlite")


@pytest.fixture(params=ENGINES)
def db_type(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def engine_for(
    alice: Any, make_connection: Callable[..., Any], privileged_ok: None
) -> Iterator[Callable[..., Engine]]:
    """Build engines for alice's connections (admin role unless reader=True, so
    the setting that lets admin roles through the gate is on)."""
    engines: list[Engine] = []

    def build(db_type: str, *, reader: bool = False, **overrides: Any) -> Engine:
        engine = engine_create(
            make_connection(alice, db_type, reader=reader, **overrides)
        )
        engines.append(engine)
        return engine

    yield build
    for engine in engines:
        engine.dispose()


@pytest.fixture
def admin_engine(engine_for: Callable[..., Engine], db_type: str) -> Engine:
    return engine_for(db_type)


@pytest.fixture
def before(db_type: str, sqlite_dir: Path, shop: dict[str, Any]) -> dict[str, Any]:
    """The shop as it was before the test, to compare with afterwards."""
    return shop_snapshot(db_type, sqlite_dir)


def run(
    engine: Engine,
    db_type: str,
    sql: str,
    *,
    max_rows: int = 100,
    timeout_s: float = 5,
    check: bool = True,
) -> QueryResult:
    return query_run(
        engine,
        db_type=db_type,
        sql=sql,
        max_rows=max_rows,
        timeout_s=timeout_s,
        check=check,
    )


# --- reading -----------------------------------------------------------------

_ORDER_TOTAL = {"postgresql": "120.50", "mysql": "120.50", "sqlite": 120.5}


def test_a_select_returns_its_columns_and_rows(admin_engine: Engine, db_type: str):
    result = run(
        admin_engine,
        db_type,
        "SELECT id, total, created FROM orders WHERE customer_id = 1 ORDER BY id",
    )

    assert result.columns == ["id", "total", "created"]
    assert result.rows[0] == [1, _ORDER_TOTAL[db_type], "2026-01-05"]
    assert result.row_count == 2
    assert result.truncated is False


_COLUMN_TYPES = {
    "postgresql": ["integer", "decimal", "date", "text"],
    "mysql": ["integer", "decimal", "date", "text"],
    # SQLite declares nothing in the cursor: the values tell (DECIMAL is REAL).
    "sqlite": ["integer", "float", "text", "text"],
}


def test_a_result_keeps_each_columns_type(admin_engine: Engine, db_type: str):
    result = run(
        admin_engine,
        db_type,
        "SELECT o.id, o.total, o.created, c.name FROM orders o "
        "JOIN customers c ON c.id = o.customer_id ORDER BY o.id",
    )

    assert result.column_types == _COLUMN_TYPES[db_type]
    assert result.rows[0][1] == _ORDER_TOTAL[db_type]


def test_percent_signs_and_colons_in_the_sql_reach_the_database_unchanged(
    admin_engine: Engine, db_type: str
):
    result = run(
        admin_engine,
        db_type,
        "SELECT name FROM customers WHERE email LIKE '%@example.com' "
        "AND '10:30' = '10:30' ORDER BY id",
    )

    assert result.row_count == 6
    assert result.rows[0] == ["Ada Lovelace"]


def test_a_semicolon_and_comment_after_the_statement_are_harmless(
    admin_engine: Engine, db_type: str
):
    result = run(admin_engine, db_type, "SELECT count(*) FROM orders; -- done")

    assert result.rows == [[6]]


_TYPED_VALUES = {
    "postgresql": (
        "SELECT 1.10::numeric(5,2) AS amount, DATE '2026-01-05' AS day, "
        "TIMESTAMP '2026-01-05 10:30:00' AS at, '\\x01ff'::bytea AS raw_bytes, "
        "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid AS id"
    ),
    "mysql": (
        "SELECT CAST(1.10 AS DECIMAL(5,2)) AS amount, DATE '2026-01-05' AS day, "
        "TIMESTAMP '2026-01-05 10:30:00' AS at, X'01FF' AS raw_bytes, "
        "CAST('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11' AS UUID) AS id"
    ),
    "sqlite": (
        "SELECT '1.10' AS amount, '2026-01-05' AS day, '2026-01-05T10:30:00' AS at, "
        "X'01FF' AS raw_bytes, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11' AS id"
    ),
}


def test_decimals_dates_bytes_and_uuids_come_back_json_safe(
    admin_engine: Engine, db_type: str
):
    result = run(admin_engine, db_type, _TYPED_VALUES[db_type])

    amount, day, at, blob, uid = result.rows[0]
    assert json.loads(json.dumps(result.rows)) == result.rows
    assert amount == "1.10"
    assert day == "2026-01-05"
    assert at == "2026-01-05T10:30:00"
    assert blob == "Af8="  # base64 of b"\x01\xff"
    assert uid == "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"


def test_a_mistake_in_the_sql_comes_back_as_the_databases_message(
    admin_engine: Engine, db_type: str
):
    with pytest.raises(QueryFailed) as caught:
        run(admin_engine, db_type, "SELECT no_such_column FROM orders")

    assert "no_such_column" in caught.value.message
    assert caught.value.timed_out is False
    # The engine is usable again afterwards.
    assert run(admin_engine, db_type, "SELECT count(*) FROM customers").rows == [[6]]


def test_every_query_is_logged_with_its_duration_and_row_count(
    admin_engine: Engine, db_type: str, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.INFO, logger="agent.sql_guard")

    run(admin_engine, db_type, "SELECT id FROM customers")

    (record,) = [r for r in caplog.records if r.name == "agent.sql_guard"]
    assert "rows=6" in record.getMessage()
    assert "duration_ms=" in record.getMessage()
    assert "SELECT id FROM customers" in record.getMessage()


# --- layer 1 on real databases: refused before anything runs ------------------

WRITE_ATTACKS = [
    "INSERT INTO customers VALUES (99, 'Eve', 'Nowhere', 'eve@example.com')",
    "UPDATE orders SET total = 0",
    "DELETE FROM orders",
    "DROP TABLE orders",
    "ALTER TABLE orders ADD COLUMN hacked INTEGER",
    "CREATE TABLE hacked (i INTEGER)",
    "TRUNCATE TABLE orders",
    "GRANT ALL ON orders TO sqlagent_reader",
    "SELECT 1; DROP TABLE orders",
    "SELECT 1 /* harmless */; DELETE FROM orders",
    "SELECT 1 -- harmless\n; DELETE FROM orders",
    "SELECT 1 /*!; DELETE FROM orders */",
    "SELECT /*+ MAX_EXECUTION_TIME(999999) */ count(*) FROM orders",
    "WITH d AS (DELETE FROM orders RETURNING *) SELECT * FROM d",
    "WITH n AS (INSERT INTO notes VALUES (9, 'x') RETURNING *) SELECT * FROM n",
    "SELECT * INTO hacked FROM orders",
    "SELECT * FROM orders FOR UPDATE",
    "SELECT * FROM orders INTO OUTFILE '/tmp/sqlagent_orders.txt'",
]

DENIED_FUNCTION_CALLS = [
    "SELECT pg_read_file('/etc/passwd')",
    "SELECT pg_catalog.pg_read_file('/etc/passwd')",
    "SELECT pg_read_binary_file('/etc/passwd')",
    "SELECT * FROM pg_ls_dir('.')",
    "SELECT lo_import('/etc/passwd')",
    "SELECT lo_export(1, '/tmp/sqlagent_lo')",
    "SELECT dblink_exec('dbname=x', 'DROP TABLE orders')",
    "SELECT query_to_xml('DELETE FROM orders RETURNING *', true, true, '')",
    "SELECT pg_terminate_backend(1)",
    "SELECT pg_advisory_lock(1)",
    "SELECT set_config('statement_timeout', '0', false)",
    "SELECT nextval('orders_id_seq')",
    "SELECT LOAD_FILE('/etc/passwd')",
    "SELECT BENCHMARK(100000000, MD5('x'))",
    "SELECT GET_LOCK('x', 10)",
    "SELECT load_extension('/tmp/evil.so')",
    "SELECT readfile('/etc/passwd')",
    "SELECT writefile('/tmp/sqlagent_x', 'y')",
    "SELECT PG_SLEEP(60)",
    "SELECT SLEEP(60)",
]


@pytest.mark.parametrize("sql", WRITE_ATTACKS + DENIED_FUNCTION_CALLS)
def test_an_attack_is_refused_and_the_database_is_unchanged(
    admin_engine: Engine,
    db_type: str,
    sql: str,
    before: dict[str, Any],
    sqlite_dir: Path,
):
    with pytest.raises(StatementRefused) as caught:
        run(admin_engine, db_type, sql)

    assert caught.value.reason
    assert shop_snapshot(db_type, sqlite_dir) == before


# --- layer 2 alone: the database refuses writes with the check switched off ---

LAYER2_WRITES = [
    "INSERT INTO customers VALUES (99, 'Eve', 'Nowhere', 'eve@example.com')",
    "UPDATE orders SET total = 0",
    "DELETE FROM orders",
    "DROP TABLE orders",
    "ALTER TABLE orders ADD COLUMN hacked INTEGER",
    "CREATE TABLE hacked (i INTEGER)",
    "TRUNCATE TABLE orders",
    "SELECT 1; DROP TABLE orders",
    "WITH d AS (DELETE FROM orders RETURNING *) SELECT * FROM d",
]


@pytest.mark.parametrize("sql", LAYER2_WRITES)
def test_a_write_is_refused_by_the_database_when_the_parser_is_bypassed(
    admin_engine: Engine,
    db_type: str,
    sql: str,
    before: dict[str, Any],
    sqlite_dir: Path,
):
    # On PostgreSQL a write also fails at DECLARE CURSOR (the server-side cursor
    # takes only SELECT / VALUES); the read-only transaction on its own is shown
    # by the wipe_orders() test below.
    if db_type == "sqlite" and sql.startswith("TRUNCATE"):
        sql = "DELETE FROM orders"  # SQLite has no TRUNCATE

    with pytest.raises(QueryFailed):
        run(admin_engine, db_type, sql, check=False)

    assert shop_snapshot(db_type, sqlite_dir) == before


def test_postgresql_runs_every_query_in_a_read_only_transaction_with_a_timeout(
    engine_for: Callable[..., Engine], shop: dict[str, Any]
):
    engine = engine_for("postgresql")
    sql = (
        "SELECT current_setting('transaction_read_only'), "
        "current_setting('statement_timeout')"
    )

    first = run(engine, "postgresql", sql, timeout_s=2)
    # The second query reuses the pooled connection (pre-ping included).
    second = run(engine, "postgresql", sql, timeout_s=2)

    assert first.rows == second.rows == [["on", "2s"]]


def test_mariadb_runs_every_query_in_a_read_only_transaction_with_a_timeout(
    engine_for: Callable[..., Engine], shop: Any
):
    engine = engine_for("mysql")
    sql = "SELECT @@tx_read_only, @@max_statement_time"

    first = run(engine, "mysql", sql, timeout_s=2)
    second = run(engine, "mysql", sql, timeout_s=2)

    assert first.rows == second.rows == [[1, 2.0]]


@pytest.fixture
def pg_wipe_function(shop: dict[str, Any]) -> Iterator[str]:
    """A PostgreSQL function that deletes every order: layer 1 cannot see inside."""
    import psycopg

    from testsupport.fixtures import TARGET_DB

    with psycopg.connect(
        host="127.0.0.1", user="postgres", dbname=TARGET_DB, autocommit=True
    ) as conn:
        conn.execute(
            "CREATE OR REPLACE FUNCTION wipe_orders() RETURNS integer "
            "LANGUAGE sql AS 'DELETE FROM orders; SELECT 1'"
        )
        yield "SELECT wipe_orders()"
        conn.execute("DROP FUNCTION IF EXISTS wipe_orders()")


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT set_config('transaction_read_only', 'off', true)",
        "SET TRANSACTION READ WRITE",
    ],
)
def test_postgresql_refuses_writes_hidden_in_a_select_when_the_parser_is_bypassed(
    engine_for: Callable[..., Engine], sql: str, sqlite_dir: Path, shop: Any
):
    engine = engine_for("postgresql")
    before = shop_snapshot("postgresql", sqlite_dir)

    with pytest.raises(QueryFailed):
        run(engine, "postgresql", sql, check=False)

    assert shop_snapshot("postgresql", sqlite_dir) == before


def test_postgresql_function_that_deletes_rows_fails_in_the_read_only_transaction(
    engine_for: Callable[..., Engine],
    pg_wipe_function: str,
    sqlite_dir: Path,
    settings: Any,
):
    engine = engine_for("postgresql")
    before = shop_snapshot("postgresql", sqlite_dir)
    # An operator wrongly allows the user-defined function, so the statement
    # check lets it through: the DELETE is inside the function.
    settings.SQL_EXTRA_ALLOWED_FUNCTIONS = ["wipe_orders"]

    with pytest.raises(QueryFailed) as caught:
        run(engine, "postgresql", pg_wipe_function)

    assert "read-only transaction" in caught.value.message
    assert shop_snapshot("postgresql", sqlite_dir) == before


@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO customers VALUES (99, 'Eve', 'Nowhere', 'eve@example.com')",
        "UPDATE orders SET total = 0",
        "DELETE FROM orders",
        "DROP TABLE orders",
        "CREATE TABLE hacked (i INTEGER)",
        "GRANT ALL ON orders TO sqlagent_reader",
    ],
)
def test_mariadb_refuses_writes_and_ddl_in_the_read_only_transaction(
    engine_for: Callable[..., Engine], sql: str, sqlite_dir: Path, shop: Any
):
    engine = engine_for("mysql")
    before = shop_snapshot("mysql", sqlite_dir)

    with pytest.raises(QueryFailed) as caught:
        run(engine, "mysql", sql, check=False)

    assert "READ ONLY transaction" in caught.value.message
    assert "1792" in caught.value.message
    assert shop_snapshot("mysql", sqlite_dir) == before


def test_mariadb_query_cannot_make_the_next_query_read_write(
    engine_for: Callable[..., Engine], sqlite_dir: Path, shop: Any
):
    engine = engine_for("mysql")
    before = shop_snapshot("mysql", sqlite_dir)

    run(engine, "mysql", "SET SESSION TRANSACTION READ WRITE", check=False)
    with pytest.raises(QueryFailed) as caught:
        run(engine, "mysql", "DROP TABLE orders", check=False)

    assert "READ ONLY transaction" in caught.value.message
    assert shop_snapshot("mysql", sqlite_dir) == before


@pytest.mark.parametrize(
    "sql",
    [
        "ATTACH DATABASE '{dir}/evil.sqlite3' AS evil",
        "PRAGMA query_only = 0",
        "PRAGMA writable_schema = 1",
        "INSERT INTO notes VALUES (9, 'x')",
        "DROP TABLE orders",
        "SELECT 1; DROP TABLE orders",
        "SELECT load_extension('/tmp/evil.so')",
        "VACUUM INTO '{dir}/copy.sqlite3'",
    ],
)
def test_sqlite_refuses_attach_pragmas_and_writes_when_the_parser_is_bypassed(
    engine_for: Callable[..., Engine], sql: str, sqlite_dir: Path, shop: Any
):
    engine = engine_for("sqlite")
    before = shop_snapshot("sqlite", sqlite_dir)

    with pytest.raises(QueryFailed):
        run(engine, "sqlite", sql.format(dir=sqlite_dir), check=False)

    # No new file next to the shop, no changed row.
    assert shop_snapshot("sqlite", sqlite_dir) == before


def test_the_reader_role_reads_and_cannot_write(
    engine_for: Callable[..., Engine],
    db_type: str,
    before: dict[str, Any],
    sqlite_dir: Path,
):
    engine = engine_for(db_type, reader=True)

    assert run(engine, db_type, "SELECT count(*) FROM orders").rows == [[6]]
    with pytest.raises(QueryFailed):
        run(engine, db_type, "DELETE FROM orders", check=False)
    assert shop_snapshot(db_type, sqlite_dir) == before


# --- layer 3: bounds ------------------------------------------------------------

_SLEEP = {
    "postgresql": "SELECT pg_sleep(60)",
    "mysql": "SELECT SLEEP(60)",
    "sqlite": "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
    "SELECT count(*) FROM c",
}
_RECURSIVE_RUNAWAY = (
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
    "SELECT max(x) FROM c"
)
_RUNAWAY = {
    "postgresql": _RECURSIVE_RUNAWAY,
    # MariaDB stops recursion at max_recursive_iterations: a 10**10-row join.
    "mysql": "SELECT sum(a.seq % 7 + b.seq % 5) "
    "FROM seq_1_to_100000 a CROSS JOIN seq_1_to_100000 b",
    "sqlite": _RECURSIVE_RUNAWAY,
}


def test_a_sleep_ends_at_the_timeout(admin_engine: Engine, db_type: str):
    with pytest.raises(QueryFailed) as caught:
        run(admin_engine, db_type, _SLEEP[db_type], timeout_s=1, check=False)

    assert caught.value.timed_out is True
    assert caught.value.message == (
        "Query exceeded the 1 s time limit and was cancelled."
    )
    assert run(admin_engine, db_type, "SELECT count(*) FROM orders").rows == [[6]]


def test_a_runaway_query_that_passes_the_check_ends_at_the_timeout(
    admin_engine: Engine, db_type: str
):
    with pytest.raises(QueryFailed) as caught:
        run(admin_engine, db_type, _RUNAWAY[db_type], timeout_s=1)

    assert caught.value.timed_out is True
    assert run(admin_engine, db_type, "SELECT count(*) FROM orders").rows == [[6]]


_MILLION_ROWS = {
    "postgresql": "SELECT g AS n, md5(g::text) AS h FROM generate_series(1, 1000000) g",
    "mysql": "SELECT seq AS n, md5(seq) AS h FROM seq_1_to_1000000",
    "sqlite": "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c "
    "WHERE n < 1000000) SELECT n, hex(randomblob(16)) AS h FROM c",
}


def _peak_rss_reset() -> None:
    # Linux: writing 5 resets VmHWM, so the peak below is this query's.
    Path("/proc/self/clear_refs").write_text("5")


def _memory_bytes(field: str) -> int:
    """Read VmRSS (now) or VmHWM (peak) of this process from /proc."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no {field} in /proc/self/status")


def test_a_million_row_result_is_capped_and_memory_stays_bounded(
    admin_engine: Engine, db_type: str
):
    run(admin_engine, db_type, "SELECT 1")  # connect outside the measurement
    _peak_rss_reset()
    rss_start = _memory_bytes("VmRSS")
    tracemalloc.start()
    try:
        result = run(
            admin_engine, db_type, _MILLION_ROWS[db_type], max_rows=1000, timeout_s=30
        )
        _, python_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    process_growth = _memory_bytes("VmHWM") - rss_start

    assert result.truncated is True
    assert result.row_count == 1000
    assert [row[0] for row in result.rows[:3]] == [1, 2, 3]
    # 10**6 rows of (int, 32-char text) take well over 100 MB as Python objects
    # and about 50 MB in a driver's buffer; the cap keeps both far below that.
    assert python_peak < 10 * 1024 * 1024
    assert process_growth < 30 * 1024 * 1024
    # The abandoned result leaves the engine usable.
    assert run(admin_engine, db_type, "SELECT count(*) FROM orders").rows == [[6]]


# --- the target going away ------------------------------------------------------


@pytest.mark.parametrize("db_type", ["postgresql", "mysql"])
def test_an_unreachable_server_raises_target_down_without_the_password(
    engine_for: Callable[..., Engine], db_type: str
):
    engine = engine_for(
        db_type,
        reader=True,
        port=1,
        username=READER["username"],
        password=READER["password"],
    )

    with pytest.raises(TargetDatabaseUnavailable) as caught:
        run(engine, db_type, "SELECT 1")

    assert caught.value.message
    assert READER["password"] not in caught.value.message


def test_a_missing_sqlite_file_raises_target_down(
    engine_for: Callable[..., Engine], sqlite_dir: Path, shop: Any
):
    copy = sqlite_dir / "gone.sqlite3"
    copy.write_bytes((sqlite_dir / "shop.sqlite3").read_bytes())
    engine = engine_for("sqlite", database_name="gone.sqlite3")
    copy.unlink()

    with pytest.raises(TargetDatabaseUnavailable):
        run(engine, "sqlite", "SELECT 1")


def test_a_server_that_drops_the_connection_mid_query_raises_target_down(
    engine_for: Callable[..., Engine], shop: Any
):
    import psycopg

    from testsupport.fixtures import TARGET_DB

    engine = engine_for("postgresql")
    outcome: dict[str, BaseException] = {}

    def ask() -> None:
        try:
            run(engine, "postgresql", "SELECT pg_sleep(30)", timeout_s=20, check=False)
        except (TargetDatabaseUnavailable, QueryFailed) as exc:
            outcome["error"] = exc

    worker = threading.Thread(target=ask)
    worker.start()
    with psycopg.connect(
        host="127.0.0.1", user="postgres", dbname=TARGET_DB, autocommit=True
    ) as admin:
        for _ in range(100):  # wait until the query is running, then kill it
            killed = admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND state = 'active' "
                "AND wait_event = 'PgSleep' AND pid <> pg_backend_pid()",
                [TARGET_DB],
            ).fetchall()
            if killed:
                break
            time.sleep(0.05)
    worker.join(timeout=30)

    assert isinstance(outcome.get("error"), TargetDatabaseUnavailable)
    # The pool replaces the dead connection.
    assert run(engine, "postgresql", "SELECT count(*) FROM orders").rows == [[6]]


def test_sqlite_refuses_to_build_a_gigabyte_value(
    engine_for: Callable[..., Engine], shop: Any
):
    engine = engine_for("sqlite")

    with pytest.raises(QueryFailed) as caught:
        run(engine, "sqlite", "SELECT length(randomblob(1000000000))")

    assert "too big" in caught.value.message


def test_mysql_reads_backslashes_the_way_the_statement_check_does(
    engine_for: Callable[..., Engine], shop: Any
):
    engine = engine_for("mysql")
    # The pooled connection starts out in a mode where the server would end the
    # string at the backslash and run SLEEP; the check saw one string literal.
    with engine.connect() as connection:
        connection.exec_driver_sql(
            "SET SESSION sql_mode = 'NO_BACKSLASH_ESCAPES,ANSI_QUOTES'"
        )
    # A string whose end depends on the mode is refused by the check itself.
    with pytest.raises(StatementRefused):
        run(engine, "mysql", "SELECT 'a\\' , SLEEP(5) -- ' AS s", timeout_s=10)

    # One whose end does not is read with backslash escapes, as the check reads
    # it, and "…" is a string, not a name.
    result = run(engine, "mysql", "SELECT 'a\\nb' AS s, \"x\" AS t", timeout_s=10)

    assert result.rows == [["a\nb", "x"]]


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT name, type FROM pragma_table_info('customers') ORDER BY cid",
        "SELECT value FROM json_each('[1, 2, 3]')",
    ],
)
def test_sqlite_table_valued_read_functions_are_allowed(sql, alice, make_connection):
    engine = engine_create(make_connection(alice, "sqlite"))
    try:
        result = query_run(engine, db_type="sqlite", sql=sql, max_rows=10, timeout_s=5)
    finally:
        engine.dispose()

    assert result.row_count >= 3


def test_sqlite_schema_table_stays_unwritable_with_the_parser_bypassed(
    alice, make_connection
):
    engine = engine_create(make_connection(alice, "sqlite"))
    try:
        with pytest.raises(QueryFailed):
            query_run(
                engine,
                db_type="sqlite",
                sql="UPDATE sqlite_master SET sql = 'x' WHERE name = 'customers'",
                max_rows=10,
                timeout_s=5,
                check=False,
            )
        with pytest.raises(QueryFailed):
            query_run(
                engine,
                db_type="sqlite",
                sql="PRAGMA writable_schema = ON",
                max_rows=10,
                timeout_s=5,
                check=False,
            )
    finally:
        engine.dispose()
