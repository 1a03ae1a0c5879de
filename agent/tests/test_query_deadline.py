"""A statement the server's cancel cannot stop still ends the ask at its deadline.

One quadratic function call (PostgreSQL `strpos`, MariaDB `INSTR` on strings of
a few hundred kilobytes) checks for no interrupt until it returns: a 4 s limit
let it run for a minute. Past deadline + QUERY_TIMEOUT_GRACE_S the service
closes the connection and terminates the session through another connection of
the same (read-only) account; the ask answers at once, the pool opens a fresh
connection, and the session's query slot stays taken until the server reports
the session gone. Real engines, through query_run, /ask/sql and /ask.
"""

from __future__ import annotations

import json
import random
import re
import sqlite3
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import Engine

from agent.models import Turn, TurnStatus
from agent.sql_guard import QueryFailed, query_run
from connections.engines import engine_create
from connections.exceptions import TargetDatabaseBusy
from testsupport.fixtures import TARGET_DB
from testsupport.llm_stub import StubReply, scripted_responder

TIMEOUT_S = 1.0
GRACE_S = 0.5
# Generous: the ask must not wait for the function (seconds to minutes).
BOUND_S = TIMEOUT_S + GRACE_S + 5

# Needles whose length names them in the server's session list. Each call runs
# several seconds here, far past deadline + grace, and ignores every cancel.
_PG_NEEDLE = 100003
_MY_NEEDLE = 70003
QUADRATIC = {
    "postgresql": (
        f"SELECT strpos(repeat('a', {2 * _PG_NEEDLE}), "
        f"'b' || repeat('a', {_PG_NEEDLE})) AS p"
    ),
    "mysql": (
        f"SELECT INSTR(REPEAT('a', {2 * _MY_NEEDLE}), "
        f"CONCAT(REPEAT('a', {_MY_NEEDLE}), 'b')) AS p"
    ),
}
MARKER = {"postgresql": str(_PG_NEEDLE), "mysql": str(_MY_NEEDLE)}


def _working_sessions(db_type: str, marker: str) -> list[Any]:
    """Return the server's sessions (any account) whose statement holds `marker`."""
    if db_type == "postgresql":
        import psycopg

        with psycopg.connect(
            host="127.0.0.1", user="postgres", dbname=TARGET_DB, autocommit=True
        ) as admin:
            return admin.execute(
                "SELECT pid, state FROM pg_stat_activity "
                "WHERE query LIKE %s AND pid <> pg_backend_pid()",
                [f"%{marker}%"],
            ).fetchall()
    import MySQLdb

    admin = MySQLdb.connect(host="127.0.0.1", user="root")
    try:
        cursor = admin.cursor()
        cursor.execute(
            "SELECT ID, COMMAND FROM information_schema.PROCESSLIST "
            "WHERE INFO LIKE %s AND ID <> CONNECTION_ID()",
            [f"%{marker}%"],
        )
        return list(cursor.fetchall())
    finally:
        admin.close()


def _wait_until_no_session_works(db_type: str, marker: str, limit_s: float) -> float:
    """Poll the server until no session runs the statement; return the wait."""
    started = time.monotonic()
    while _working_sessions(db_type, marker):
        assert time.monotonic() - started < limit_s, "a session is still working"
        time.sleep(0.25)
    return time.monotonic() - started


@pytest.fixture
def quick_deadline(settings: Any) -> None:
    settings.QUERY_TIMEOUT_S = TIMEOUT_S
    settings.QUERY_TIMEOUT_GRACE_S = GRACE_S


@pytest.fixture
def no_runaway_left() -> Iterator[list[str]]:
    """After the test, wait for the server to end every session the test started
    (they would slow the next tests down) and prove none is left."""
    started: list[str] = []
    yield started
    for db_type in started:
        _wait_until_no_session_works(db_type, MARKER[db_type], limit_s=180)


@pytest.fixture
def reader_engine(
    alice: Any, make_connection: Callable[..., Any]
) -> Iterator[Callable[..., Engine]]:
    engines: list[Engine] = []

    def build(db_type: str) -> Engine:
        engine = engine_create(make_connection(alice, db_type))
        engines.append(engine)
        return engine

    yield build
    for engine in engines:
        engine.dispose()


_SESSION_ID = {
    "postgresql": "SELECT pg_backend_pid()",
    "mysql": "SELECT CONNECTION_ID()",
}


def _session_id(engine: Engine, db_type: str) -> int:
    """Return the server's id of the session the engine's next query runs on."""
    result = query_run(
        engine,
        db_type=db_type,
        sql=_SESSION_ID[db_type],
        max_rows=1,
        timeout_s=5,
        check=False,
    )
    return int(result.rows[0][0])


@pytest.mark.slow
@pytest.mark.parametrize("db_type", ["postgresql", "mysql"])
def test_a_function_call_that_ignores_the_cancel_ends_at_deadline_and_grace(
    reader_engine, quick_deadline, no_runaway_left, db_type, caplog
):
    engine = reader_engine(db_type)
    no_runaway_left.append(db_type)

    started = time.monotonic()
    with pytest.raises(QueryFailed) as caught:
        query_run(
            engine,
            db_type=db_type,
            sql=QUADRATIC[db_type],
            max_rows=10,
            timeout_s=TIMEOUT_S,
        )
    elapsed = time.monotonic() - started

    assert caught.value.timed_out is True
    assert caught.value.message == (
        "Query exceeded the 1 s time limit and was cancelled."
    )
    # The grace ran (the session was terminated, below); the timers measure from
    # inside query_run, so allow a few milliseconds of clock skew at the bound.
    assert TIMEOUT_S + GRACE_S - 0.05 <= elapsed < BOUND_S
    terminated = re.search(r"connection closed, terminating session (\d+)", caplog.text)
    assert terminated is not None
    # The pool discarded the severed connection: the next query gets a new one.
    assert query_run(
        engine,
        db_type=db_type,
        sql="SELECT count(*) FROM orders",
        max_rows=1,
        timeout_s=5,
    ).rows == [[6]]
    assert _session_id(engine, db_type) != int(terminated.group(1))
    # The server ends the terminated session once the call returns, and the
    # watch (the reader account, on its own connection) saw it go.
    _wait_until_no_session_works(db_type, MARKER[db_type], limit_s=180)
    gone = f"terminated session {terminated.group(1)} left the server"
    for _ in range(100):
        if gone in caplog.text:
            break
        time.sleep(0.1)
    assert gone in caplog.text
    assert "failed" not in caplog.text


@pytest.mark.slow
def test_a_terminated_session_keeps_its_slot_until_the_server_ends_it(
    reader_engine, quick_deadline, no_runaway_left, settings
):
    """With one slot, the next query is busy while the server still computes."""
    settings.TARGET_DB_MAX_CONNECTIONS = 1
    settings.TARGET_CONNECT_TIMEOUT_S = 1
    engine = reader_engine("postgresql")
    no_runaway_left.append("postgresql")
    # Longer than the other tests' call: still computing when the next query
    # asks for the slot, about 2.5 s after the start.
    needle = 140003
    sql = f"SELECT strpos(repeat('a', {2 * needle}), 'b' || repeat('a', {needle}))"

    with pytest.raises(QueryFailed):
        query_run(engine, db_type="postgresql", sql=sql, max_rows=1, timeout_s=1)
    with pytest.raises(TargetDatabaseBusy):
        query_run(engine, db_type="postgresql", sql="SELECT 1", max_rows=1, timeout_s=1)

    waited = _wait_until_no_session_works("postgresql", str(needle), limit_s=240)
    deadline = time.monotonic() + 15 + waited
    while True:  # the reaper looks every 2 s at most
        try:
            result = query_run(
                engine, db_type="postgresql", sql="SELECT 1", max_rows=1, timeout_s=1
            )
            break
        except TargetDatabaseBusy:
            assert time.monotonic() < deadline
    assert result.rows == [[1]]


def _connect(client: Any, make_connection: Any, owner: Any, db_type: str) -> None:
    connection = make_connection(owner, db_type)
    response = client.post(f"/databases/connect_db/{connection.id}")
    assert response.status_code == 200


@pytest.mark.slow
@pytest.mark.django_db
@pytest.mark.parametrize("db_type", ["postgresql", "mysql"])
def test_ask_sql_answers_the_timeout_at_deadline_and_grace(
    alice_client, alice, make_connection, quick_deadline, no_runaway_left, db_type
):
    _connect(alice_client, make_connection, alice, db_type)
    no_runaway_left.append(db_type)

    started = time.monotonic()
    response = alice_client.post("/ask/sql", {"sql": QUADRATIC[db_type]}, format="json")
    elapsed = time.monotonic() - started

    assert response.status_code == 504
    assert response.json()["code"] == "query_timeout"
    assert elapsed < BOUND_S
    assert Turn.objects.get().status == TurnStatus.ERROR
    again = alice_client.post(
        "/ask/sql", {"sql": "SELECT count(*) AS n FROM orders"}, format="json"
    )
    assert again.status_code == 200
    assert again.json()["result"]["rows"] == [[6]]


@pytest.mark.slow
@pytest.mark.django_db
@pytest.mark.parametrize("db_type", ["postgresql", "mysql"])
def test_ask_whose_model_runs_the_call_answers_at_deadline_and_grace(
    alice_client,
    alice,
    make_connection,
    llm_stub,
    quick_deadline,
    no_runaway_left,
    db_type,
):
    llm_stub.responder = scripted_responder(
        [
            StubReply(tool_calls=[("run_query", {"sql": QUADRATIC[db_type]})]),
            StubReply(content="The query ran out of time."),
        ]
    )
    _connect(alice_client, make_connection, alice, db_type)
    no_runaway_left.append(db_type)

    started = time.monotonic()
    response = alice_client.post("/ask", {"question": "Where is b?"}, format="json")
    elapsed = time.monotonic() - started

    assert response.status_code == 200
    body = response.json()
    assert body["queries"][0]["error"] == (
        "Query exceeded the 1 s time limit and was cancelled."
    )
    assert body["answer"] == "The query ran out of time."
    assert elapsed < BOUND_S
    # The model was told; the same engine then answers a new ask's query.
    assert len(llm_stub.requests) == 2


# --- SQLite: the statement runs in this process, one call is never stopped --------

_A = "replace(hex(zeroblob({n})), '0', 'a')"  # 2n characters 'a'
_SQLITE_QUADRATIC = {
    # One call each ran 22 s, 18 s, hours and 4 minutes with SQLite's own
    # functions on values within the 1 MB value limit.
    "instr": (
        f"SELECT instr({_A.format(n=250000)}, {_A.format(n=125000)} || 'b') AS p",
        [[0]],
    ),
    "replace": (
        f"SELECT length(replace({_A.format(n=250000)}, "
        f"{_A.format(n=125000)} || 'b', 'x')) AS n",
        [[500000]],
    ),
    "trim": (
        f"SELECT length(trim({_A.format(n=125000)}, "
        "replace(hex(zeroblob(125000)), '0', 'b') || 'a')) AS n",
        [[0]],
    ),
}


@pytest.fixture
def sqlite_engine(reader_engine: Callable[..., Engine]) -> Engine:
    return reader_engine("sqlite")


@pytest.mark.parametrize("name", sorted(_SQLITE_QUADRATIC))
def test_sqlite_quadratic_string_functions_answer_in_linear_time(sqlite_engine, name):
    sql, rows = _SQLITE_QUADRATIC[name]
    started = time.monotonic()

    result = query_run(
        sqlite_engine, db_type="sqlite", sql=sql, max_rows=1, timeout_s=TIMEOUT_S
    )

    assert result.rows == rows
    assert time.monotonic() - started < BOUND_S


def test_sqlite_refuses_a_like_pattern_long_enough_to_outlive_the_deadline(
    sqlite_engine,
):
    sql = f"SELECT {_A.format(n=250000)} LIKE '%' || {_A.format(n=10000)} || 'b%' AS m"
    started = time.monotonic()

    with pytest.raises(QueryFailed) as caught:
        query_run(
            sqlite_engine, db_type="sqlite", sql=sql, max_rows=1, timeout_s=TIMEOUT_S
        )

    assert "pattern too complex" in caught.value.message
    assert time.monotonic() - started < BOUND_S
    # A pattern of ordinary length still matches.
    ok = query_run(
        sqlite_engine,
        db_type="sqlite",
        sql="SELECT count(*) FROM customers WHERE email LIKE '%@example.com'",
        max_rows=1,
        timeout_s=5,
    )
    assert ok.rows == [[6]]


def _sqlite_value(rng: random.Random) -> Any:
    roll = rng.random()
    if roll < 0.05:
        return None
    if roll < 0.15:
        return rng.choice([0, 12, -3, 1.5, 12.0, 1e20])
    pieces = ["\x00", "a", "b", "é", "\u2028", "x", " ", "ab", "ba", "%", "_"]
    text = "".join(rng.choice(pieces) for _ in range(rng.choice([0, 3, 8, 90])))
    return text.encode() if roll < 0.25 else text


def test_sqlite_linear_string_functions_answer_as_sqlites_own():
    """Seeded differential: the same value and type as SQLite's built-ins."""
    from connections.backends.sqlite_costs import costs_bound

    builtin = sqlite3.connect(":memory:")
    linear = sqlite3.connect(":memory:")
    costs_bound(linear, 1024 * 1024)
    rng = random.Random(19)
    for _ in range(5000):
        name = rng.choice(["instr", "replace", "trim", "ltrim", "rtrim"])
        args = [_sqlite_value(rng) for _ in range(3 if name == "replace" else 2)]
        marks = ", ".join("?" for _ in args)
        sql = f"SELECT {name}({marks}), typeof({name}({marks}))"
        expected = builtin.execute(sql, args + args).fetchone()
        assert linear.execute(sql, args + args).fetchone() == expected, (name, args)


def _events(response: Any) -> Iterator[tuple[str, Any]]:
    """Yield (event, data) from an SSE response."""
    buffer = b""
    for chunk in response.streaming_content:
        buffer += chunk
        while b"\n\n" in buffer:
            frame, buffer = buffer.split(b"\n\n", 1)
            lines = frame.decode().splitlines()
            name = next((x[7:] for x in lines if x.startswith("event: ")), "")
            data = next((x[6:] for x in lines if x.startswith("data: ")), "null")
            if name:
                yield name, json.loads(data)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("db_type", ["postgresql", "mysql"])
def test_stop_ends_a_call_that_ignores_the_cancel_after_the_grace(
    alice_client, alice, make_connection, llm_stub, settings, no_runaway_left, db_type
):
    settings.QUERY_TIMEOUT_S = 60
    settings.QUERY_TIMEOUT_GRACE_S = GRACE_S
    llm_stub.responder = scripted_responder(
        [
            StubReply(tool_calls=[("run_query", {"sql": QUADRATIC[db_type]})]),
            StubReply(content="Never read."),
        ]
    )
    _connect(alice_client, make_connection, alice, db_type)
    no_runaway_left.append(db_type)
    response = alice_client.post(
        "/ask",
        {"question": "Where is b?"},
        format="json",
        HTTP_ACCEPT="text/event-stream",
    )
    events = _events(response)
    turn_id = next(events)[1]["turn_id"]
    assert next(events)[0] == "step"
    time.sleep(0.5)  # the call is running now

    stopped = time.monotonic()
    assert alice_client.post(f"/ask/{turn_id}/cancel").status_code == 202
    rest = list(events)

    # Not the 60 s limit, nor the call's own end: the grace after the Stop.
    assert time.monotonic() - stopped < GRACE_S + 5
    assert rest[-1][1]["code"] == "cancelled"
    assert Turn.objects.get(pk=turn_id).status == TurnStatus.CANCELLED


def test_the_watch_shuts_down_only_the_socket_it_noted():
    """A descriptor closed and reused by another socket is left alone."""
    import socket

    from agent.sql_guard.deadline import _sever

    with socket.create_server(("127.0.0.1", 0)) as server:
        ours = socket.create_connection(server.getsockname())
        other = socket.create_connection(server.getsockname())
        peer, _ = server.accept()
        with ours, other, peer:
            noted = (1, other.fileno(), ours.getsockname())

            assert _sever(noted) is False  # same fd number, another address
            other.sendall(b"still open")

            assert _sever((1, ours.fileno(), ours.getsockname())) is True
            assert ours.recv(1) == b""  # shut down: the blocked read returns
