"""What the PostgreSQL server says about its sessions, for tests that count them.

Counted among the sessions that started during the test (`server_clock()` at
its start): a previous test's pool may still be closing.
"""

from __future__ import annotations

import time
from datetime import datetime

import psycopg

from testsupport.fixtures import READER, TARGET_DB


def _admin() -> psycopg.Connection:
    return psycopg.connect(
        host="127.0.0.1", user="postgres", dbname="postgres", autocommit=True
    )


def server_clock() -> datetime:
    """Return the server's clock now."""
    with _admin() as conn:
        row = conn.execute("SELECT clock_timestamp()").fetchone()
    assert row is not None
    return row[0]


def reader_connections(since: datetime) -> int:
    """Return the reader role's sessions on the shop opened since `since`."""
    with _admin() as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s "
            "AND usename = %s AND backend_start >= %s",
            [TARGET_DB, READER["username"], since],
        ).fetchone()
    assert row is not None
    return int(row[0])


def backend_alive(pid: int) -> bool:
    """Return whether the server still has the session `pid`."""
    with _admin() as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [pid]
        ).fetchone()
    return row is not None and row[0] == 1


def backend_gone(pid: int) -> bool:
    """Return whether session `pid` ends within 5 s (the server notices a
    closed client socket a moment after the close)."""
    for _ in range(100):
        if not backend_alive(pid):
            return True
        time.sleep(0.05)
    return False
