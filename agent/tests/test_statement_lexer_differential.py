"""Differential test: the server never runs a call the statement check did not see.

Seeded random fragments of quotes, comments, escapes and whitespace (ASCII and
Unicode) are put around a call to `sqlagent_trip`, a function that exists on
no server. The check refuses any call to it it sees, so a variant the check
passes is one where it read the call as hidden in a comment or a string. Each
such variant (the text the check returns, which is what runs, and the text as
sent) then goes to the real server in every mode that changes how it reads
text (MySQL sql_mode, PostgreSQL standard_conforming_strings): if the server
reads the call as code, it answers "function sqlagent_trip does not exist"
and the test fails with the variant. Where the server runs the statement, it
must return as many columns as the check parsed. Run against the check as it was before
the lexer, seed 19 finds 10 such variants on MariaDB (`SELECT 1 --<U+00A0>…`).
"""

from __future__ import annotations

import random
import re
import sqlite3
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlglot

from agent.sql_guard import StatementRefused, statement_check
from testsupport.fixtures import TARGET_DB

pytestmark = pytest.mark.slow

VARIANTS = 20000
TRIP = "sqlagent_trip"

_COMMON = [
    " ", " ", "\n", "\t", "\r\n", "\r", "\x0b", "\x0c",
    "\u00a0", "\u2028", "\u3000", "\u0085", "\u200b", "\u2003",
    "--", "-- ", "--\n", "/*", "*/", "/* ", " */", "/*!", "/*+", "*",
    "'", "'", '"', "''", "\\", "\\'", "\\\\",
    "1", "-", "+", "x", "AS", ",", "'a'", '"q"', "(", ")", ";", "é", "€",
]  # fmt: skip
_DIALECT = {
    "mysql": ["#", "`", "``", "/*M!", "N'", "X'", "_utf8'", "--\u00a0", "-- #"],
    "postgresql": ["E'", "U&'", 'U&"', "$$", "$a$", "B'", "/* /*", "*/ */", "#"],
    "sqlite": ["`", "[", "]", "x'", "$", ":", "@", "?"],
}
# How each server says it read a call to TRIP (and found no such function).
_CALLED = {
    "postgresql": re.compile(rf"^function {TRIP}\(", re.MULTILINE),
    "mysql": re.compile(rf"FUNCTION \S*{TRIP} does not exist"),
    "sqlite": re.compile(rf"no such function: {TRIP}"),
}
_CLOSERS = ["", "\n", "*/", "'", '"', "\n, 2 AS z", " */ , 2 AS z", "' AS s"]


# Names a stray character may become part of on the server (MariaDB reads
# `1 --<U+00A0>` as 1 - -`<U+00A0>`): a FROM clause gives them a column each, so
# the server gets as far as resolving the call instead of stopping at a name.
_NAMES = ["\u00a0", "\u2028", "\u3000", "\u0085", "\u200b", "\u2003", "x", "q", "é"]


def _from_clause(db_type: str) -> str:
    quote = "`" if db_type == "mysql" else '"'
    columns = ", ".join(f"1 AS {quote}{name}{quote}" for name in _NAMES)
    return f"\nFROM (SELECT {columns}) t"


def variants(db_type: str, seed: int) -> Iterator[str]:
    """Yield seeded variants that hide (or fail to hide) a call to TRIP."""
    rng = random.Random(seed)
    pool = _COMMON + _DIALECT[db_type]
    for _ in range(VARIANTS):
        before = "".join(rng.choices(pool, k=rng.randint(1, 5)))
        after = "".join(rng.choices(pool, k=rng.randint(0, 4)))
        call = rng.choice([f", {TRIP}(1) AS t", f"{TRIP}(1)", f" {TRIP} (1)"])
        tail = rng.choice(_CLOSERS) + rng.choice(["", _from_clause(db_type)])
        yield f"SELECT 1 {before}{call}{after}{tail}"


Outcome = tuple[str | None, int | None]  # (error, columns), one per mode
Runner = Callable[[str], list[Outcome]]


def _postgresql_runner() -> Iterator[Runner]:
    import psycopg

    conn = psycopg.connect(
        host="127.0.0.1", user="postgres", dbname=TARGET_DB, autocommit=True
    )
    conn.execute("SET statement_timeout = '2s'")
    conn.execute("SET escape_string_warning = off")

    def run(sql: str) -> list[Outcome]:
        outcomes: list[Outcome] = []
        for scs in ("on", "off"):
            conn.execute(f"SET standard_conforming_strings = {scs}")
            try:
                conn.execute("BEGIN READ ONLY")
                cursor = conn.execute(sql.replace("%", "%%"))
                cursor.fetchall()
                outcomes.append((None, len(cursor.description or ())))
            except psycopg.Error as exc:
                outcomes.append((str(exc), None))
            finally:
                conn.execute("ROLLBACK")
        return outcomes

    yield run
    conn.close()


def _mysql_runner() -> Iterator[Runner]:
    import MySQLdb

    conn = MySQLdb.connect(host="127.0.0.1", user="root", database=TARGET_DB)
    cursor = conn.cursor()
    cursor.execute("SET SESSION max_statement_time = 2")
    cursor.execute("SET SESSION TRANSACTION READ ONLY")

    def run(sql: str) -> list[Outcome]:
        outcomes: list[Outcome] = []
        for mode in ("STRICT_TRANS_TABLES", "ANSI_QUOTES,NO_BACKSLASH_ESCAPES"):
            cursor.execute(f"SET SESSION sql_mode = '{mode}'")
            try:
                cursor.execute(sql.replace("%", "%%"))
                cursor.fetchall()
                columns = len(cursor.description or ())
                while cursor.nextset():
                    cursor.fetchall()
                    columns = -1  # a second result: never what the check saw
                outcomes.append((None, columns))
            except MySQLdb.Error as exc:
                outcomes.append((str(exc), None))
            conn.rollback()
        return outcomes

    yield run
    conn.close()


def _sqlite_runner() -> Iterator[Runner]:
    conn = sqlite3.connect(":memory:")

    def run(sql: str) -> list[Outcome]:
        try:
            cursor = conn.execute(sql)
            cursor.fetchall()
        except (sqlite3.Error, sqlite3.Warning) as exc:
            return [(str(exc), None)]
        return [(None, len(cursor.description or ()))]

    yield run
    conn.close()


_SQLGLOT = {"postgresql": "postgres", "mysql": "mysql", "sqlite": "sqlite"}
_RUNNERS = {
    "postgresql": _postgresql_runner,
    "mysql": _mysql_runner,
    "sqlite": _sqlite_runner,
}


@pytest.fixture
def server(db_type: str, shop: Any) -> Iterator[Runner]:
    yield from _RUNNERS[db_type]()


@pytest.mark.parametrize("db_type", ["postgresql", "mysql", "sqlite"])
def test_the_server_never_runs_a_call_the_check_passed_as_hidden(
    db_type: str, server: Runner
):
    passed = ran = 0
    seen = set()
    for sql in variants(db_type, seed=19):
        if sql in seen:
            continue
        seen.add(sql)
        try:
            statement = statement_check(sql, db_type=db_type)
        except StatementRefused:
            continue
        passed += 1
        # What the check saw: the statement's output columns (a * is expanded
        # by the server only).
        parsed = sqlglot.parse_one(statement, read=_SQLGLOT[db_type]).selects
        selects = None if any(s.is_star for s in parsed) else len(parsed)
        for text in {statement, sql}:
            for error, columns in server(text):
                assert error is None or not _CALLED[db_type].search(error), (
                    f"the check passed {sql!r} (running {statement!r}) but the "
                    f"server read a call: {error}"
                )
                if text == statement and None not in (columns, selects):
                    ran += 1
                    assert columns == selects, (
                        f"the check saw {selects} columns in {statement!r}, the "
                        f"server returned {columns}"
                    )
    # Not vacuous: many variants hide the call in a way the check accepts, and
    # many of those run.
    assert passed >= 400, passed
    assert ran >= 400, ran
