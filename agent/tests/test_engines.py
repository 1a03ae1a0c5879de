"""The per-process engine cache: keyed by session, bounded, rebuilt from the row.

The tests that watch an evicted entry's connections close run with
TARGET_DB_POOL_SCOPE=session (a pool per session, the design before issue 21):
with the default, the pool is the database's and outlives any one session
(`connections/tests/test_pools.py`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from sqlalchemy import text

from agent.engines import EngineCache, engine_cache
from agent.exceptions import NoDatabaseConnected
from connections.services import (
    connection_update,
    session_connect,
    session_get_or_create_active,
)
from testsupport.fixtures import ENGINES

pytestmark = pytest.mark.django_db


def _marker(entry: Any) -> str:
    with entry.engine.connect() as conn:
        return conn.execute(text("SELECT engine FROM db_marker")).scalar_one()


def _backend_pid(entry: Any) -> int:
    """Open (and return to the pool) one PostgreSQL connection; return its pid."""
    with entry.engine.connect() as conn:
        return conn.execute(text("SELECT pg_backend_pid()")).scalar_one()


def _backend_alive(pid: int) -> bool:
    with psycopg.connect(host="127.0.0.1", user="postgres", dbname="postgres") as c:
        row = c.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [pid]
        ).fetchone()
        return row is not None and row[0] == 1


def _backend_gone(pid: int) -> bool:
    # The server notices a closed client socket a moment after the close.
    for _ in range(50):
        if not _backend_alive(pid):
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def make_cache() -> Iterator[Callable[..., EngineCache]]:
    """Build private engine caches, closed after the test whether it passed or not."""
    caches: list[EngineCache] = []

    def make(**options: Any) -> EngineCache:
        cache = EngineCache(**options)
        caches.append(cache)
        return cache

    yield make
    for cache in caches:
        cache.close_all()


@pytest.fixture
def per_session_pools(settings: Any) -> None:
    settings.TARGET_DB_POOL_SCOPE = "session"


@pytest.fixture
def sessions(make_user, make_connection) -> Any:
    """Return `n` active sessions of `n` different users, bound to `db_type`."""

    def make(n: int, db_type: str = "sqlite") -> list[Any]:
        result = []
        for i in range(n):
            user = make_user(f"user{i}@example.com")
            session = session_get_or_create_active(user=user)
            result.append(
                session_connect(
                    session=session, connection=make_connection(user, db_type)
                )
            )
        return result

    return make


@pytest.mark.parametrize("db_type", ENGINES)
def test_get_returns_an_engine_on_the_sessions_database(
    alice, connected_session, db_type
):
    session = connected_session(alice, db_type)

    entry = engine_cache.get(session)

    assert entry.db_type == db_type
    assert entry.session_id == session.id
    assert _marker(entry) == db_type


def test_a_second_get_returns_the_cached_entry(alice, connected_session):
    session = connected_session(alice, "postgresql")

    first = engine_cache.get(session)
    second = engine_cache.get(session_get_or_create_active(user=alice))

    assert second is first
    assert len(engine_cache) == 1


def test_a_session_without_database_has_no_engine(alice):
    session = session_get_or_create_active(user=alice)

    with pytest.raises(NoDatabaseConnected) as excinfo:
        engine_cache.get(session)
    assert session.id not in engine_cache
    # The one domain error: a client that reaches this gets a 409, never a 500.
    assert (excinfo.value.status_code, excinfo.value.code) == (
        409,
        "no_database_connected",
    )


def test_the_cache_keeps_at_most_max_size_evicting_the_least_recently_used(
    make_cache,
    sessions,
):
    cache = make_cache(max_size=2)
    a, b, c = sessions(3)

    cache.get(a)
    cache.get(b)
    cache.get(a)  # a is now more recent than b
    cache.get(c)

    assert len(cache) == 2
    assert a.id in cache
    assert b.id not in cache
    assert c.id in cache


def test_an_engine_evicted_for_size_is_disposed(
    make_cache, sessions, per_session_pools
):
    cache = make_cache(max_size=1)
    first, second = sessions(2, "postgresql")
    pid = _backend_pid(cache.get(first))
    assert _backend_alive(pid)

    cache.get(second)

    assert first.id not in cache
    assert _backend_gone(pid)


def test_an_idle_entry_is_dropped_and_disposed_on_the_next_get(
    make_cache, sessions, per_session_pools
):
    cache = make_cache(idle_timeout_s=60)
    idle, busy = sessions(2, "postgresql")
    pid = _backend_pid(cache.get(idle))
    cache.get(busy)
    cache.get(idle).last_used -= 120  # as if unused for two minutes

    cache.get(busy)

    assert idle.id not in cache
    assert busy.id in cache
    assert _backend_gone(pid)


def test_a_zero_idle_timeout_is_honoured_not_replaced_by_the_setting(
    make_cache, sessions
):
    cache = make_cache(idle_timeout_s=0)
    (session,) = sessions(1)

    first = cache.get(session)
    second = cache.get(session)

    assert second is not first


def test_a_changed_connection_row_rebuilds_the_entry(
    make_cache, alice, connected_session
):
    cache = make_cache()
    session = connected_session(alice, "postgresql")
    old = cache.get(session)
    pid = _backend_pid(old)

    connection_update(
        connection=session.db_connection, db_type="mysql", port=3306, label="moved"
    )
    new = cache.get(session_get_or_create_active(user=alice))

    assert new is not old
    assert _marker(new) == "mysql"
    assert _backend_gone(pid)


def test_patching_a_connection_through_the_api_drops_its_engine(
    alice_client, alice, connected_session
):
    session = connected_session(alice, "sqlite")
    engine_cache.get(session)

    response = alice_client.patch(
        f"/databases/{session.db_connection_id}", {"label": "x"}, format="json"
    )

    assert response.status_code == 200
    assert session.id not in engine_cache


def test_rebinding_the_session_serves_the_new_database(
    alice, connected_session, make_connection
):
    session = connected_session(alice, "sqlite")
    assert _marker(engine_cache.get(session)) == "sqlite"

    session_connect(session=session, connection=make_connection(alice, "mysql"))
    entry = engine_cache.get(session_get_or_create_active(user=alice))

    assert _marker(entry) == "mysql"


def test_close_all_empties_the_cache_and_a_get_rebuilds_from_the_row(
    alice, connected_session
):
    session = connected_session(alice, "mysql")
    before = engine_cache.get(session)

    engine_cache.close_all()

    assert len(engine_cache) == 0
    after = engine_cache.get(session_get_or_create_active(user=alice))
    assert after is not before
    assert _marker(after) == "mysql"


def test_evict_disposes_and_reports_whether_there_was_an_entry(
    alice, connected_session, per_session_pools
):
    session = connected_session(alice, "postgresql")
    pid = _backend_pid(engine_cache.get(session))

    assert engine_cache.evict(session.id) is True
    assert engine_cache.evict(session.id) is False
    assert _backend_gone(pid)


def test_concurrent_gets_on_one_session_share_one_engine(alice, connected_session):
    session = connected_session(alice, "postgresql")
    count = 12
    barrier = threading.Barrier(count)
    entries: list[Any] = []
    markers: list[str] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            barrier.wait()
            entry = engine_cache.get(session)
            entries.append(entry)
            markers.append(_marker(entry))
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not errors, errors
    assert len({id(e) for e in entries}) == 1
    assert markers == ["postgresql"] * count
    assert len(engine_cache) == 1


def test_concurrent_gets_on_many_sessions_stay_within_the_bound(make_cache, sessions):
    cache = make_cache(max_size=3)
    all_sessions = sessions(8)
    barrier = threading.Barrier(len(all_sessions))
    errors: list[BaseException] = []

    def work(session: Any) -> None:
        try:
            barrier.wait()
            for _ in range(5):
                assert _marker(cache.get(session)) == "sqlite"
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(s,)) for s in all_sessions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not errors, errors
    assert len(cache) <= 3
