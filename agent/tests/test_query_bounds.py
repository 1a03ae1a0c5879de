"""Bounds of one query on every engine: no session state left, time, rows and bytes.

Each layer is tested alone: the statement check is off (`check=False`) where the
database or the fetch loop must hold by itself, and the server's own timeout is
lifted where the client-side deadline must.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import MySQLdb
import psycopg
import pytest
from sqlalchemy import Engine

from agent.sql_guard import QueryFailed, QueryResult, query_run
from agent.sql_guard.bounds import cell_bound, cell_for_llm, cut_marker
from connections.backends import backend_for
from connections.engines import engine_create
from connections.exceptions import TargetDatabaseBusy
from testsupport.fixtures import TARGET_DB

ENGINES = ("postgresql", "mysql", "sqlite")
CELL_CAP = 65536


@pytest.fixture(params=ENGINES)
def db_type(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def caps(settings: Any) -> Any:
    settings.QUERY_MAX_CELL_BYTES = CELL_CAP
    settings.QUERY_MAX_RESULT_BYTES = 1024 * 1024
    return settings


@pytest.fixture
def engine_for(
    alice: Any, make_connection: Callable[..., Any], privileged_ok: None
) -> Iterator[Any]:
    # Admin roles (the gate lets them through with the setting on).
    engines: list[Engine] = []

    def build(db_type: str) -> Engine:
        engine = engine_create(make_connection(alice, db_type, reader=False))
        engines.append(engine)
        return engine

    yield build
    for engine in engines:
        engine.dispose()


def run(engine: Engine, db_type: str, sql: str, **kw: Any) -> QueryResult:
    return query_run(
        engine,
        db_type=db_type,
        sql=sql,
        max_rows=kw.pop("max_rows", 1000),
        timeout_s=kw.pop("timeout_s", 10),
        check=kw.pop("check", False),
    )


def _pg_scalar(sql: str) -> Any:
    with psycopg.connect(
        host="127.0.0.1", user="postgres", dbname=TARGET_DB, autocommit=True
    ) as conn:
        row = conn.execute(sql).fetchone()
        return row[0] if row else None


def _mysql_scalar(sql: str) -> Any:
    conn = MySQLdb.connect(host="127.0.0.1", user="root", db=TARGET_DB)
    try:
        cursor = conn.cursor()
        cursor.execute(sql)
        return cursor.fetchone()[0]
    finally:
        conn.close()


# --- no session state outlives a query -------------------------------------------


def test_a_postgresql_advisory_lock_is_released_after_the_query(
    engine_for: Any, shop: Any
):
    engine = engine_for("postgresql")

    run(engine, "postgresql", "SELECT pg_advisory_lock(4243)")

    held = _pg_scalar(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
        "AND objid = 4243 AND granted"
    )
    assert held == 0


def test_a_postgresql_session_setting_is_gone_on_the_same_connection(
    engine_for: Any, shop: Any
):
    engine = engine_for("postgresql")
    first = run(
        engine, "postgresql", "SELECT set_config('x.y', '1', false), pg_backend_pid()"
    )

    after = run(
        engine, "postgresql", "SELECT current_setting('x.y', true), pg_backend_pid()"
    )

    assert after.rows[0][1] == first.rows[0][1]  # the same pooled session
    assert after.rows[0][0] in (None, "")


def test_a_postgresql_prepared_statement_is_gone_on_the_same_connection(
    engine_for: Any, shop: Any
):
    engine = engine_for("postgresql")
    run(engine, "postgresql", "SELECT 1")  # the pooled session exists
    with engine.connect() as connection:
        connection.exec_driver_sql("PREPARE sqa_p AS SELECT 1")
        connection.commit()
    # The next guarded query resets the session it was handed back.
    run(engine, "postgresql", "SELECT 1")

    after = run(
        engine,
        "postgresql",
        "SELECT count(*) FROM pg_prepared_statements WHERE name = 'sqa_p'",
    )

    assert after.rows == [[0]]


def test_a_mariadb_get_lock_is_released_after_the_query(engine_for: Any, shop: Any):
    engine = engine_for("mysql")

    taken = run(engine, "mysql", "SELECT GET_LOCK('sqa_l', 0)")

    assert taken.rows == [[1]]
    assert _mysql_scalar("SELECT IS_FREE_LOCK('sqa_l')") == 1


def test_a_mariadb_user_variable_is_gone_after_the_query(engine_for: Any, shop: Any):
    engine = engine_for("mysql")
    run(engine, "mysql", "SELECT @v := 1")

    after = run(engine, "mysql", "SELECT @v")

    assert after.rows == [[None]]


def test_sqlite_refuses_temporary_objects_so_none_outlive_a_query(
    engine_for: Any, shop: Any
):
    engine = engine_for("sqlite")

    with pytest.raises(QueryFailed):
        run(engine, "sqlite", "CREATE TEMP TABLE sqa_t (i INTEGER)")

    assert run(engine, "sqlite", "SELECT count(*) FROM sqlite_temp_master").rows == [
        [0]
    ]


# --- bytes -------------------------------------------------------------------------


@pytest.mark.slow  # the server builds hundreds of MB
def test_a_200_mb_postgresql_cell_comes_back_cut_and_marked(
    engine_for: Any, shop: Any, caps: Any
):
    result = run(
        engine_for("postgresql"),
        "postgresql",
        "SELECT repeat('x', 200000000)",
        # Building 200 MB takes the server seconds; the cap is tested, not time.
        timeout_s=60,
    )

    cell = result.rows[0][0]
    assert cell == "x" * CELL_CAP + cut_marker(200000000)
    assert result.cut_cells == 1
    assert result.truncated is False
    assert result.column_types == ["text"]


_MB_ROWS = {
    "postgresql": "SELECT g, repeat('x', 1000000) AS big "
    "FROM generate_series(1, 300) g",
    "mysql": "SELECT seq AS g, repeat('x', 1000000) AS big FROM seq_1_to_300",
    "sqlite": "WITH RECURSIVE c(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM c "
    "WHERE g < 300) SELECT g, printf('%.*c', 1000000, 'x') AS big FROM c",
}


@pytest.mark.slow  # the server builds hundreds of MB
def test_300_rows_of_a_megabyte_stop_at_the_result_cap_with_every_cell_cut(
    engine_for: Any, db_type: str, shop: Any, caps: Any
):
    result = run(engine_for(db_type), db_type, _MB_ROWS[db_type], timeout_s=20)

    assert result.truncated is True
    assert result.truncated_reason == "bytes"
    assert 0 < result.row_count < 300
    assert result.cut_cells == result.row_count
    assert result.rows[0][0] == 1
    assert result.rows[0][1].endswith(cut_marker(1000000))
    total = sum(len(str(row)) for row in result.rows)
    assert total <= 1024 * 1024


def test_a_mariadb_cell_over_the_cap_is_cut_and_marked(
    engine_for: Any, shop: Any, caps: Any
):
    # One MariaDB value cannot pass max_allowed_packet (16 MB by default): the
    # server answers NULL for a larger one, so the client's cut is what shows.
    result = run(engine_for("mysql"), "mysql", "SELECT repeat('é', 500000)")

    cell = result.rows[0][0]
    assert cell.endswith(cut_marker(1000000))
    assert len(cell.encode()) <= CELL_CAP + len(cut_marker(1000000).encode())
    assert result.cut_cells == 1


@pytest.mark.parametrize(
    "sql",
    [
        "WITH RECURSIVE c(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM c WHERE g < 50) "
        "SELECT printf('%.*c', 15000000, 'x') FROM c",
        "SELECT length(printf('%.*c', 1000000000, 'x'))",
    ],
)
def test_sqlite_huge_printf_values_fail_at_once_instead_of_running_away(
    engine_for: Any, shop: Any, caps: Any, sql: str
):
    started = time.monotonic()

    with pytest.raises(QueryFailed) as caught:
        run(engine_for("sqlite"), "sqlite", sql, timeout_s=4)

    # Refused before SQLite builds the value (the printf width is checked).
    assert caught.value.timed_out is False
    assert time.monotonic() - started < 4


_TEN_MILLION = {
    "postgresql": "SELECT g FROM generate_series(1, 10000000) g",
    "mysql": "SELECT seq FROM seq_1_to_10000000",
    "sqlite": "WITH RECURSIVE c(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM c "
    "WHERE g < 10000000) SELECT g FROM c",
}


def test_a_ten_million_row_result_stops_at_the_row_cap(
    engine_for: Any, db_type: str, shop: Any, caps: Any
):
    result = run(engine_for(db_type), db_type, _TEN_MILLION[db_type], max_rows=500)

    assert result.truncated_reason == "rows"
    assert result.row_count == 500
    assert result.rows[-1] == [500]


# --- time: the client-side deadline alone -----------------------------------------

_SLEEP = {
    "postgresql": "SELECT pg_sleep(30)",
    "mysql": "SELECT SLEEP(30)",
    "sqlite": "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c) "
    "SELECT count(*) FROM c",
}


@pytest.fixture
def server_timeout_lifted(monkeypatch: pytest.MonkeyPatch, db_type: str) -> None:
    """Give the server (and SQLite's progress handler) an hour, not the timeout."""
    backend = backend_for(db_type)
    original = backend.begin_read_only

    def begin(connection: Any, *, statement: str, timeout_s: float) -> Any:
        return original(connection, statement=statement, timeout_s=3600)

    monkeypatch.setattr(backend, "begin_read_only", begin)


@pytest.mark.usefixtures("server_timeout_lifted")
def test_the_client_deadline_cancels_a_statement_the_server_would_let_run(
    engine_for: Any, db_type: str, shop: Any
):
    engine = engine_for(db_type)
    started = time.monotonic()

    with pytest.raises(QueryFailed) as caught:
        run(engine, db_type, _SLEEP[db_type], timeout_s=1)

    assert caught.value.timed_out is True
    assert time.monotonic() - started < 10
    assert run(engine, db_type, "SELECT count(*) FROM orders").rows == [[6]]


# --- the cut itself ----------------------------------------------------------------


def test_a_cell_is_cut_on_a_character_boundary_and_names_its_size():
    value, cut = cell_bound("é" * 100, 51)

    assert cut is True
    assert value == "é" * 25 + cut_marker(200)


def test_bytes_over_the_cap_are_cut_before_base64():
    value, cut = cell_bound(b"\x00" * 1000, 100)

    assert cut is True
    assert value.endswith(cut_marker(1000))
    assert len(value) <= 100 + len(cut_marker(1000))


def test_a_cell_within_the_cap_is_unchanged():
    assert cell_bound("short", 100) == ("short", False)
    assert cell_bound({"a": 1}, 100) == ({"a": 1}, False)


def test_the_llm_sees_cells_cut_at_its_own_smaller_cap(settings: Any):
    settings.LLM_MAX_CELL_CHARS = 10

    assert cell_for_llm("y" * 25) == "y" * 10 + "…[cut: 25 chars]"
    assert cell_for_llm(42) == 42


# --- every connection busy ------------------------------------------------------


def test_a_query_finding_every_connection_busy_is_a_503_with_retry_after(
    alice: Any, make_connection: Callable[..., Any], settings: Any, shop: Any
):
    settings.TARGET_DB_MAX_CONNECTIONS = 1
    settings.TARGET_CONNECT_TIMEOUT_S = 1
    engine = engine_create(make_connection(alice, "sqlite"))
    try:
        with engine.connect(), pytest.raises(TargetDatabaseBusy) as caught:
            run(engine, "sqlite", "SELECT 1")
    finally:
        engine.dispose()

    assert caught.value.status_code == 503
    assert caught.value.code == "database_busy"
    assert caught.value.retry_after is not None
