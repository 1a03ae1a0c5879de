"""3. Big results: peak memory while 10^4 / 10^5 / 10^6-row queries run through
the run_query tool (sql_guard.query_run: server-side cursor, fetchmany, row cap)."""

from __future__ import annotations

import gc
import os
import threading
import time
import tracemalloc
from typing import Any

from bench.schemas import READER, READER_PASSWORD

SIZES = (10**4, 10**5, 10**6)
QUERIES = {
    "postgresql": "SELECT g AS n, md5(g::text) AS h FROM generate_series(1, {n}) AS g",
    "sqlite": (
        "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c "
        "WHERE n < {n}) SELECT n, hex(randomblob(16)) AS h FROM c"
    ),
}
PAGE = os.sysconf("SC_PAGE_SIZE")


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


class _RssPeak:
    """Sample this process's RSS every millisecond in a thread; keep the peak."""

    def __enter__(self) -> _RssPeak:
        self.base = _rss()
        self.peak = self.base
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, _rss())
            time.sleep(0.001)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss())


def _run_query_tool(fields: dict[str, Any]) -> Any:
    from agent.catalog import SchemaCatalog
    from agent.llm.tools import ToolContext, run_query
    from connections.engines import engine_create
    from connections.models import DatabaseConnection

    stored = {k: v for k, v in fields.items() if k != "password"}
    connection = DatabaseConnection(**stored)
    if fields.get("password"):
        connection.set_password(fields["password"])
    engine = engine_create(connection)
    context = ToolContext(
        engine=engine,
        db_type=fields["db_type"],
        catalog=SchemaCatalog(engine, fields["db_type"]),
    )
    return engine, lambda sql: run_query(context, sql)


def measure(pg_database: str, sqlite_name: str) -> list[dict[str, Any]]:
    cases = {
        "postgresql": {
            "db_type": "postgresql",
            "host": "127.0.0.1",
            "port": 5432,
            "database_name": pg_database,
            # The read-only role: the service refuses privileged ones.
            "username": READER,
            "password": READER_PASSWORD,
        },
        "sqlite": {
            "db_type": "sqlite",
            "database_name": sqlite_name,
            "host": "",
            "port": 0,
        },
    }
    rows = []
    for db_type, fields in cases.items():
        engine, run_query = _run_query_tool(fields)
        run_query(QUERIES[db_type].format(n=10))  # warm the pool
        for n in SIZES:
            gc.collect()
            tracemalloc.start()
            started = time.perf_counter()
            with _RssPeak() as rss:
                answer = run_query(QUERIES[db_type].format(n=n))
            elapsed = (time.perf_counter() - started) * 1000
            _, traced_peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            assert "more exist" in answer, answer[:200]
            rows.append(
                {
                    "engine": db_type,
                    "rows": n,
                    "ms": elapsed,
                    "traced_peak_mb": traced_peak / 2**20,
                    "rss_growth_mb": (rss.peak - rss.base) / 2**20,
                }
            )
        engine.dispose()
    return rows


BIG_CELL_BYTES = 200_000_000


def measure_big_cell(pg_database: str) -> dict[str, Any]:
    """Run `SELECT repeat('x', 200000000)` through query_run; keep RSS growth."""
    from django.conf import settings

    from agent.sql_guard import query_run
    from connections.engines import engine_create
    from connections.models import DatabaseConnection

    connection = DatabaseConnection(
        db_type="postgresql",
        host="127.0.0.1",
        port=5432,
        database_name=pg_database,
        username=READER,
    )
    connection.set_password(READER_PASSWORD)
    engine = engine_create(connection)
    try:
        query_run(
            engine, db_type="postgresql", sql="SELECT 1", max_rows=1, timeout_s=60
        )
        gc.collect()
        started = time.perf_counter()
        with _RssPeak() as rss:
            result = query_run(
                engine,
                db_type="postgresql",
                sql=f"SELECT repeat('x', {BIG_CELL_BYTES})",
                max_rows=10,
                timeout_s=60,
            )
        elapsed = (time.perf_counter() - started) * 1000
    finally:
        engine.dispose()
    cell = result.rows[0][0]
    return {
        "ms": elapsed,
        "rss_growth_mb": (rss.peak - rss.base) / 2**20,
        "cell_bytes": len(cell.encode()),
        "cap_bytes": settings.QUERY_MAX_CELL_BYTES,
        "cut_cells": result.cut_cells,
    }
