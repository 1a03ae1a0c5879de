"""Sessions of many users on one database: one bounded pool, no state between them.

Every session's engine is its database's pool in the process. What one user's
session leaves on a connection (advisory locks, SET, temporary tables, prepared
statements) must be gone when another user's session gets that same physical
connection; here it is left at the backend level, below the read-only guard
that would refuse most of it, and the pool is one connection so the second user
is sure to get the same one.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from agent.engines import engine_cache
from agent.querying import catalog_get
from agent.sql_guard import QueryFailed, query_run
from agent.sql_guard.deadline import slot_take
from connections.models import DatabaseConnection
from connections.services import (
    connection_update,
    session_connect,
    session_get_or_create_active,
    session_restart,
)
from sqlagent_project import capacity
from testsupport.fixtures import shop_admin_run
from testsupport.pg_activity import reader_connections, server_clock

pytestmark = pytest.mark.django_db


def _client(user: Any) -> APIClient:
    client = APIClient()
    token = RefreshToken.for_user(user).access_token
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


@pytest.fixture
def users_on(make_user: Callable[..., Any], connected_session: Any) -> Any:
    """Return the sessions of `n` users, each with their own record of the shop."""
    made: list[Any] = []

    def make(n: int, db_type: str = "postgresql", **overrides: Any) -> list[Any]:
        batch = []
        for _ in range(n):
            user = make_user(f"member{len(made)}@example.com")
            made.append(connected_session(user, db_type, **overrides))
            batch.append(made[-1])
        return batch

    return make


def test_sessions_of_many_users_on_one_database_share_its_pool(users_on, settings):
    settings.TARGET_DB_MAX_CONNECTIONS = 2
    sessions = users_on(6)

    engines = {id(engine_cache.get(s).engine) for s in sessions}
    clients = [_client(s.user) for s in sessions]
    answers = [
        c.post("/ask/sql", {"sql": "SELECT count(*) FROM customers"}, format="json")
        for c in clients
    ]

    assert len(engines) == 1
    assert [a.status_code for a in answers] == [200] * 6
    pool = engine_cache.get(sessions[0]).engine.pool
    assert pool.checkedin() <= 2


def test_many_users_asking_at_once_open_at_most_the_setting(users_on, settings):
    settings.TARGET_DB_MAX_CONNECTIONS = 2
    sessions = users_on(8)
    engines = [engine_cache.get(s).engine for s in sessions]
    since = server_clock()
    barrier = threading.Barrier(len(engines))
    rows: list[Any] = []
    errors: list[BaseException] = []

    def ask(engine: Any) -> None:
        try:
            barrier.wait()
            result = query_run(
                engine,
                db_type="postgresql",
                sql="SELECT count(*) FROM generate_series(1, 300000)",
                max_rows=10,
                timeout_s=5,
            )
            rows.append(result.rows)
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=ask, args=(e,)) for e in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not errors, errors
    assert rows == [[[300000]]] * 8
    assert 1 <= reader_connections(since) <= 2


def test_a_busy_pool_answers_503_database_busy_with_retry_after(users_on, settings):
    settings.TARGET_DB_MAX_CONNECTIONS = 1
    settings.TARGET_CONNECT_TIMEOUT_S = 1
    alice, bob = users_on(2)
    engine = engine_cache.get(bob).engine
    client = _client(alice.user)
    sql = {"sql": "SELECT count(*) FROM customers"}

    # Bob's query holds the database's one connection.
    slots = slot_take(engine)
    try:
        with engine.connect():
            busy = client.post("/ask/sql", sql, format="json")
    finally:
        slots.release()
    after = client.post("/ask/sql", sql, format="json")

    assert busy.status_code == 503
    assert busy.json()["code"] == "database_busy"
    assert busy.headers["Retry-After"] == "5"
    assert after.status_code == 200


def test_waiting_for_the_pool_gives_the_cpu_slot_up(users_on, settings):
    settings.ASK_CPU_SLOTS = 1
    settings.TARGET_DB_MAX_CONNECTIONS = 1
    settings.TARGET_CONNECT_TIMEOUT_S = 30
    (alice,) = users_on(1)
    engine = engine_cache.get(alice).engine
    cpu = capacity._cpu_slots.get()
    results: list[Any] = []

    def ask() -> None:
        with capacity.ask_cpu_turns():
            results.append(
                query_run(
                    engine,
                    db_type="postgresql",
                    sql="SELECT count(*) FROM customers",
                    max_rows=10,
                    timeout_s=5,
                )
            )

    held = slot_take(engine)  # another session's query
    asker = threading.Thread(target=ask)
    try:
        asker.start()
        deadline = time.monotonic() + 10
        # The asker took the only CPU slot, then gave it up to wait.
        while cpu._value != 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        waited_without_slot = cpu._value == 1 and asker.is_alive()
    finally:
        held.release()
        asker.join(30)

    assert waited_without_slot
    assert len(results) == 1
    assert results[0].columns == ["count"]
    assert cpu._value == 1


def test_no_postgresql_session_state_reaches_another_users_session(users_on, settings):
    settings.TARGET_DB_MAX_CONNECTIONS = 1
    alice, bob = users_on(2)
    alices = engine_cache.get(alice).engine
    bobs = engine_cache.get(bob).engine
    assert alices is bobs

    with alices.connect() as conn:
        pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
        conn.execute(text("SELECT pg_advisory_lock(4242)"))
        conn.execute(text("SET work_mem = '7MB'"))
        conn.execute(text("SELECT set_config('sqlagent.canary', 'alice', false)"))
        conn.execute(text("CREATE TEMP TABLE alice_tmp (i int)"))
        conn.execute(text("PREPARE alice_stmt AS SELECT 1"))
        conn.commit()

    with bobs.connect() as conn:
        assert conn.execute(text("SELECT pg_backend_pid()")).scalar_one() == pid
        locks = conn.execute(
            text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                "AND pid = pg_backend_pid()"
            )
        ).scalar_one()
        work_mem = conn.execute(text("SHOW work_mem")).scalar_one()
        canary = conn.execute(
            text("SELECT current_setting('sqlagent.canary', true)")
        ).scalar_one()
        temp = conn.execute(text("SELECT to_regclass('pg_temp.alice_tmp')")).scalar()
        prepared = conn.execute(
            text("SELECT count(*) FROM pg_prepared_statements")
        ).scalar_one()

    assert locks == 0
    assert work_mem != "7MB"
    assert canary in (None, "")
    assert temp is None
    assert prepared == 0


def test_no_mariadb_session_state_reaches_another_users_session(
    users_on, settings, privileged_ok
):
    # The owner account: the reader may not create temporary tables.
    settings.TARGET_DB_MAX_CONNECTIONS = 1
    alice, bob = users_on(2, "mysql", reader=False)
    alices = engine_cache.get(alice).engine
    bobs = engine_cache.get(bob).engine
    assert alices is bobs

    with alices.connect() as conn:
        thread_id = conn.execute(text("SELECT CONNECTION_ID()")).scalar_one()
        conn.execute(text("SET @canary = 'alice'"))
        assert conn.execute(text("SELECT GET_LOCK('alice_lock', 0)")).scalar() == 1
        conn.execute(text("CREATE TEMPORARY TABLE alice_tmp (i INT)"))
        conn.execute(text("PREPARE alice_stmt FROM 'SELECT 1'"))
        conn.execute(text("SET SESSION sql_mode = 'ANSI'"))
        conn.commit()

    with bobs.connect() as conn:
        assert conn.execute(text("SELECT CONNECTION_ID()")).scalar_one() == thread_id
        canary = conn.execute(text("SELECT @canary")).scalar()
        lock = conn.execute(text("SELECT IS_USED_LOCK('alice_lock')")).scalar()
        sql_mode = conn.execute(text("SELECT @@session.sql_mode")).scalar_one()
        with pytest.raises(DBAPIError):
            conn.execute(text("SELECT * FROM alice_tmp"))
        with pytest.raises(DBAPIError):
            conn.execute(text("EXECUTE alice_stmt"))

    assert canary is None
    assert lock is None
    assert "ANSI_QUOTES" not in sql_mode


def test_a_query_through_the_guard_leaves_nothing_for_the_next_user(users_on, settings):
    settings.TARGET_DB_MAX_CONNECTIONS = 1
    alice, bob = users_on(2)
    engine = engine_cache.get(alice).engine
    query_run(
        engine,
        db_type="postgresql",
        sql="SELECT count(*) FROM customers",
        max_rows=10,
        timeout_s=2,
    )

    with engine_cache.get(bob).engine.connect() as conn:
        # The guard's SET LOCALs ended with its transaction; its cursor is closed.
        timeout = conn.execute(text("SHOW statement_timeout")).scalar_one()
        cursors = conn.execute(text("SELECT count(*) FROM pg_cursors")).scalar_one()
        read_only = conn.execute(text("SHOW transaction_read_only")).scalar_one()

    assert timeout == "0"
    assert cursors == 0
    assert read_only == "off"


def test_a_sqlite_querys_deadline_does_not_interrupt_the_next_user(users_on, settings):
    settings.TARGET_DB_MAX_CONNECTIONS = 1
    alice, bob = users_on(2, "sqlite")
    engine = engine_cache.get(alice).engine
    # Short enough to have passed before bob's turn. SELECT 1 mostly ends before
    # the deadline is looked at; on a busy machine the deadline may cut it first.
    with contextlib.suppress(QueryFailed):
        query_run(engine, db_type="sqlite", sql="SELECT 1", max_rows=1, timeout_s=0.001)
    time.sleep(0.01)

    with engine_cache.get(bob).engine.connect() as conn:
        counted = conn.execute(
            text(
                "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
                "WHERE x < 100000) SELECT count(*) FROM c"
            )
        ).scalar_one()

    assert counted == 100000


# --- the schema catalog, once per connection version ---------------------------


def test_the_catalog_is_built_once_per_connection_version_for_every_session(
    alice, bob, connected_session
):
    first = connected_session(alice, "sqlite")
    catalog = catalog_get(engine_cache.get(first))
    # A new session of alice's, and bob's session on the same record (as a
    # team member's would be), read the same catalog.
    again = session_restart(session=first)
    bobs = session_connect(
        session=session_get_or_create_active(user=bob), connection=first.db_connection
    )

    assert catalog_get(engine_cache.get(again)) is catalog
    assert catalog_get(engine_cache.get(bobs)) is catalog


def test_a_changed_connection_gets_a_new_catalog(alice, connected_session):
    session = connected_session(alice, "sqlite")
    old = catalog_get(engine_cache.get(session))

    connection_update(connection=session.db_connection, label="renamed")
    new = catalog_get(engine_cache.get(session_get_or_create_active(user=alice)))

    assert new is not old


def test_a_refresh_reads_the_schema_again_for_every_session(
    alice, alice_client, connected_session, sqlite_dir
):
    session = connected_session(alice, "sqlite")
    url = f"/databases/{session.db_connection_id}/schema"
    before = alice_client.get(url).json()
    catalog = catalog_get(engine_cache.get(session))
    catalog.table_names()
    shop_admin_run("sqlite", sqlite_dir, ["CREATE TABLE zz_added (i INTEGER)"])
    try:
        kept = alice_client.get(url).json()
        refreshed = alice_client.get(f"{url}?refresh=1").json()
        tables = catalog_get(engine_cache.get(session)).table_names()
    finally:
        shop_admin_run("sqlite", sqlite_dir, ["DROP TABLE zz_added"])

    names = {t["name"] for t in before["tables"]}
    assert "zz_added" not in names
    assert {t["name"] for t in kept["tables"]} == names
    assert {t["name"] for t in refreshed["tables"]} == names | {"zz_added"}
    assert "zz_added" in tables


def test_another_users_refresh_is_a_404_and_keeps_the_catalog(
    alice, bob_client, connected_session
):
    session = connected_session(alice, "sqlite")
    catalog = catalog_get(engine_cache.get(session))

    response = bob_client.get(f"/databases/{session.db_connection_id}/schema?refresh=1")

    assert response.status_code == 404
    assert catalog_get(engine_cache.get(session)) is catalog


def test_a_refresh_asked_in_another_process_reaches_this_ones_catalog(
    alice, connected_session, sqlite_dir
):
    session = connected_session(alice, "sqlite")
    entry = engine_cache.get(session)
    old = catalog_get(entry)
    old.table_names()
    shop_admin_run("sqlite", sqlite_dir, ["CREATE TABLE zz_elsewhere (i INTEGER)"])
    try:
        # What a refresh served by another worker or host leaves behind: the
        # row's mark, none of this process's caches emptied.
        DatabaseConnection.objects.filter(pk=session.db_connection_id).update(
            schema_read_at=timezone.now()
        )
        again = engine_cache.get(session_get_or_create_active(user=alice))
        tables = catalog_get(again).table_names()
    finally:
        shop_admin_run("sqlite", sqlite_dir, ["DROP TABLE zz_elsewhere"])

    assert "zz_elsewhere" not in old.table_names()
    assert "zz_elsewhere" in tables
    # The database's pool is kept: only what derives from the schema is new.
    assert again.engine is entry.engine
