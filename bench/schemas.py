"""2. Big schemas: connect + first /ask on 2,000-table PostgreSQL and SQLite
databases, against langchain-community's `SQLDatabase(engine)` eager reflection.

Each table has 8 columns, a primary key, a foreign key and an index, like an
ordinary business table."""

from __future__ import annotations

import sqlite3
import statistics
import time
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import create_engine

from bench.common import api_client, user_with_token
from testsupport.llm_stub import StubLLMServer, keyword_responder
from testsupport.serving import database_url_derived, pg_database_ensure

TABLES = 2000
SQL = "SELECT COUNT(*) AS n FROM t0042"


def _table_ddl(i: int) -> str:
    """Return the DDL of one table shaped like an ordinary business table."""
    name = f"t{i:04d}"
    return (
        f"CREATE TABLE {name} (id INTEGER PRIMARY KEY, name VARCHAR(100) NOT NULL, "
        "code VARCHAR(20), amount NUMERIC(10, 2), quantity INTEGER, created DATE, "
        "updated TIMESTAMP, parent_id INTEGER REFERENCES t0000(id));\n"
        f"CREATE INDEX {name}_created ON {name} (created)"
    )


# The read-only role and password .ci/services.sh creates for tests and benches.
READER = "sqlagent_reader"
READER_PASSWORD = "reader-pw"


def pg_wide_url() -> str:
    """Return the URL of a PostgreSQL database of TABLES tables, creating it once."""
    import psycopg

    url = database_url_derived("bench_wide_v2")
    pg_database_ensure(url)
    name = urlsplit(url).path.lstrip("/")
    with psycopg.connect(host="127.0.0.1", user="postgres", dbname=name) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
        ).fetchone()
        count = row[0] if row else 0
        if count != TABLES:
            conn.execute("DROP SCHEMA public CASCADE")
            conn.execute("CREATE SCHEMA public")
            conn.commit()
            # Commit in batches: one transaction creating 2,000 tables would
            # exhaust the server's lock table.
            for start in range(0, TABLES, 200):
                for i in range(start, start + 200):
                    for statement in _table_ddl(i).split(";\n"):
                        conn.execute(statement)
                conn.commit()
        # The service refuses privileged roles: it reads as the read-only role
        # that .ci/services.sh creates, as an operator's connection would.
        conn.execute(f'GRANT CONNECT ON DATABASE "{name}" TO {READER}')
        conn.execute(f"GRANT USAGE ON SCHEMA public TO {READER}")
        conn.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {READER}")
        conn.commit()
    return url


def sqlite_wide_file(folder: Path) -> str:
    name = "wide_v2.sqlite3"
    path = folder / name
    if not path.exists():
        conn = sqlite3.connect(path)
        conn.executescript(";\n".join(_table_ddl(i) for i in range(TABLES)) + ";")
        conn.commit()
        conn.close()
    return name


def _ours(stub: StubLLMServer, fields: dict[str, Any]) -> float:
    from agent.engines import engine_cache
    from connections.services import connection_create

    engine_cache.close_all()
    user, token = user_with_token("bench-wide")
    connection = connection_create(owner=user, **fields)
    client = api_client(token)
    started = time.perf_counter()
    connected = client.post(f"/databases/connect_db/{connection.id}")
    answered = client.post("/ask", {"question": "How many in t0042?"}, format="json")
    elapsed = (time.perf_counter() - started) * 1000
    assert connected.status_code == 200, connected.content
    assert answered.status_code == 200, answered.content
    return elapsed


def _langchain(url: str) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from langchain_community.utilities import SQLDatabase

    engine = create_engine(url)
    try:
        started = time.perf_counter()
        db = SQLDatabase(engine)
        elapsed = (time.perf_counter() - started) * 1000
        assert len(db.get_usable_table_names()) == TABLES
    finally:
        engine.dispose()
    return elapsed


def measure(stub: StubLLMServer, sqlite_dir: Path) -> list[dict[str, Any]]:
    stub.responder = keyword_responder(rules=(), default_sql=SQL)
    pg_url = pg_wide_url()
    pg_name = urlsplit(pg_url).path.lstrip("/")
    sqlite_name = sqlite_wide_file(sqlite_dir)
    cases = [
        (
            "PostgreSQL",
            {
                "db_type": "postgresql",
                "host": "127.0.0.1",
                "port": 5432,
                "database_name": pg_name,
                "username": READER,
                "password": READER_PASSWORD,
            },
            f"postgresql+psycopg://{READER}:{READER_PASSWORD}@127.0.0.1:5432/{pg_name}",
        ),
        (
            "SQLite",
            {"db_type": "sqlite", "database_name": sqlite_name, "host": "", "port": 0},
            f"sqlite:///{sqlite_dir / sqlite_name}",
        ),
    ]
    rows = []
    for label, fields, url in cases:
        # One unmeasured run first: the driver's one-time set-up in this process
        # (libpq, type loading) has nothing to do with the schema's size.
        _ours(stub, fields)
        ours = statistics.median(_ours(stub, fields) for _ in range(3))
        theirs = min(_langchain(url) for _ in range(2))
        rows.append({"engine": label, "ours_ms": ours, "langchain_ms": theirs})
    return rows
