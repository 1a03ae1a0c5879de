"""Value recall on Defog's 314 PostgreSQL questions: of the questions whose gold
SQL holds a text literal that the question itself contains (after folding
case, accents and spaces), the share whose every such literal the value
matches name in the first request, with the index's size and build time.

Each of defog-data's 11 databases is loaded once into the bench's PostgreSQL
server (`bench/defog/`, Apache-2.0), read by the read-only role as an
operator's connection would be; the index is built as after a connect, and
each question is matched as before its first model call (no model involved).

    python -m bench.value_recall     # prints the figures as JSON
"""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from testsupport.serving import ROOT, database_url_derived, pg_database_ensure

DEFOG = ROOT / "bench" / "defog"
QUESTION_FILES = (
    "questions_gen_postgres.csv",
    "instruct_basic_postgres.csv",
    "instruct_advanced_postgres.csv",
)
READER = "sqlagent_reader"
READER_PASSWORD = "reader-pw"
_STRING = re.compile(r"'((?:[^']|'')*)'")
# A literal a column is compared with (=, <>, LIKE, ILIKE, IN (…)): a value,
# not a date part, an interval or a format.
_COMPARED = re.compile(
    r"(?:=|<>|!=|\bI?LIKE|\bIN\s*\()\s*((?:'(?:[^']|'')*'\s*,?\s*)+)", re.IGNORECASE
)
_DATE_OR_NUMBER = re.compile(r"^[\d\s:./-]+$")


def questions() -> list[dict[str, str]]:
    """Return the 314 questions with their gold SQL and database."""
    rows: list[dict[str, str]] = []
    for name in QUESTION_FILES:
        with (DEFOG / name).open(newline="", encoding="utf-8") as handle:
            rows.extend(csv.DictReader(handle))
    return rows


def literals_in_question(question: str, sql: str, *, compared: bool) -> list[str]:
    """Return the gold SQL's text literals (LIKE wildcards dropped) that the
    question contains, folded; with `compared`, only those a column is
    compared with (not date parts, intervals or formats)."""
    from agent.value_matching import value_normalize

    folded = value_normalize(question)
    if compared:
        raws = [r for group in _COMPARED.findall(sql) for r in _STRING.findall(group)]
    else:
        raws = _STRING.findall(sql)
    found = []
    for raw in raws:
        text = value_normalize(raw.replace("''", "'").strip("%_"))
        if len(text) < 2 or _DATE_OR_NUMBER.match(text):
            continue
        if re.search(rf"(?<!\w){re.escape(text)}(?!\w)", folded):
            found.append(text)
    return sorted(set(found))


def _named(literal: str, named_values: list[str]) -> bool:
    return any(literal in value for value in named_values)


def database_load(name: str) -> str:
    """Load a Defog database once; return its database name."""
    import psycopg

    url = database_url_derived(f"defog_{name}")
    pg_database_ensure(url)
    dbname = urlsplit(url).path.lstrip("/")
    with psycopg.connect(host="127.0.0.1", user="postgres", dbname=dbname) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_tables "
            "WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
        ).fetchone()
        if not row or row[0] == 0:
            subprocess.run(
                [
                    "psql",
                    "-q",
                    "-v",
                    "ON_ERROR_STOP=1",
                    "-h",
                    "127.0.0.1",
                    "-U",
                    "postgres",
                    "-d",
                    dbname,
                    "-f",
                    str(DEFOG / "defog_data" / f"{name}.sql"),
                ],
                check=True,
                capture_output=True,
            )
        conn.execute(f'GRANT CONNECT ON DATABASE "{dbname}" TO {READER}')
        schemas = [
            r[0]
            for r in conn.execute(
                "SELECT DISTINCT schemaname FROM pg_tables "
                "WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
            )
        ]
        for schema in schemas:
            conn.execute(f'GRANT USAGE ON SCHEMA "{schema}" TO {READER}')
            conn.execute(f'GRANT SELECT ON ALL TABLES IN SCHEMA "{schema}" TO {READER}')
        # ewallet's tables live in its own schema: the reader starts there.
        path = ", ".join(f'"{s}"' for s in sorted(schemas, key=lambda s: s == "public"))
        conn.execute(
            f'ALTER ROLE {READER} IN DATABASE "{dbname}" SET search_path = {path}'
        )
        conn.commit()
    return dbname


def measure() -> dict[str, Any]:
    """Build each database's index and match every question; return the share
    of questions whose literals are all named, and what it cost."""
    from agent.catalog import SchemaCatalog
    from agent.value_matching import value_normalize
    from bench.common import user_with_token
    from connections.engines import engine_create
    from connections.services import connection_create
    from knowledge.value_context import value_context
    from knowledge.values import value_index_build

    user, _ = user_with_token("bench-values")
    items = questions()
    by_db: dict[str, list[dict[str, str]]] = {}
    for item in items:
        by_db.setdefault(item["db_name"], []).append(item)
    with_literals = named = 0
    any_literals = any_named = 0
    build_ms: list[float] = []
    match_ms: list[float] = []
    values = columns = size = 0
    missed: list[dict[str, Any]] = []
    for name, asked in sorted(by_db.items()):
        dbname = database_load(name)
        connection = connection_create(
            owner=user,
            db_type="postgresql",
            host="127.0.0.1",
            port=5432,
            database_name=dbname,
            username=READER,
            password=READER_PASSWORD,
        )
        started = time.perf_counter()
        index = value_index_build(connection=connection)
        build_ms.append((time.perf_counter() - started) * 1000)
        values += index.values
        columns += index.columns
        size += index.bytes
        engine = engine_create(connection, pooled=False)
        try:
            tables = SchemaCatalog(engine, "postgresql").table_names()
        finally:
            engine.dispose()
        for item in asked:
            every = literals_in_question(
                item["question"], item["query"], compared=False
            )
            if not every:
                continue
            started = time.perf_counter()
            found = value_context(
                connection_id=connection.pk,
                question=item["question"],
                table_names=tables,
            )
            match_ms.append((time.perf_counter() - started) * 1000)
            # The values named ("… = 'Lake Ontario'"), folded: a LIKE
            # fragment counts as named when a named value contains it.
            named_values = [
                value_normalize(v.replace("''", "'"))
                for v in re.findall(r"= '((?:[^']|'')*)'$", found.text, re.MULTILINE)
            ]
            any_literals += 1
            any_named += all(_named(w, named_values) for w in every)
            wanted = literals_in_question(
                item["question"], item["query"], compared=True
            )
            if not wanted:
                continue
            with_literals += 1
            absent = [w for w in wanted if not _named(w, named_values)]
            if absent:
                missed.append(
                    {"db": name, "question": item["question"], "missed": absent}
                )
            else:
                named += 1
    match_ms.sort()
    return {
        "questions": len(items),
        "with_literals": with_literals,
        "named": named,
        "recall": named / with_literals if with_literals else None,
        "with_any_literal": any_literals,
        "any_named": any_named,
        "index_values": values,
        "index_columns": columns,
        "index_bytes": size,
        "build_ms_total": sum(build_ms),
        "match_ms_median": match_ms[len(match_ms) // 2] if match_ms else 0.0,
        "missed": missed,
    }


def main() -> int:
    from bench.common import django_setup

    work = Path(tempfile.mkdtemp(prefix="sqlagent-values-"))
    django_setup(sqlite_dir=work, llm_base_url="http://127.0.0.1:9/v1")
    result = measure()
    print(json.dumps(result, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
