"""One bounded pool per target database, whoever's record opens it.

Connections are counted on the real server (`pg_stat_activity`), among those
that started during the test (`testsupport/pg_activity.py`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from connections.engines import engine_shared
from connections.pools import pool_identity, target_pools
from connections.services import connection_delete, connection_update
from testsupport.fixtures import READER
from testsupport.pg_activity import (
    backend_alive,
    backend_gone,
    reader_connections,
    server_clock,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def since() -> Any:
    """The server's clock as the test starts."""
    return server_clock()


def _pid(connection: Connection) -> int:
    return int(connection.execute(text("SELECT pg_backend_pid()")).scalar_one())


@pytest.fixture
def records(make_user: Callable[..., Any], make_connection: Callable[..., Any]) -> Any:
    """Return `n` PostgreSQL connection records of `n` users, same reader role."""

    made: list[Any] = []

    def make(n: int, **overrides: Any) -> list[Any]:
        batch = []
        for _ in range(n):
            user = make_user(f"pool{len(made)}@example.com")
            made.append(make_connection(user, "postgresql", **overrides))
            batch.append(made[-1])
        return batch

    return make


@pytest.fixture
def held() -> Iterator[ExitStack]:
    """Checked-out connections, given back at the end whatever happens."""
    with ExitStack() as stack:
        yield stack


def test_records_of_different_users_for_one_database_share_one_pool(records):
    first, second, third = records(3)

    engines = {id(engine_shared(record)) for record in (first, second, third)}

    assert len(engines) == 1
    assert len(target_pools) == 1


def test_the_pool_key_is_the_password_not_its_ciphertext(records):
    first, second = records(2)

    # Each save encrypts anew; the same password is still the same identity.
    assert first.password_encrypted != second.password_encrypted
    assert pool_identity(first) == pool_identity(second)
    changed = connection_update(connection=second, password="another-password")
    assert pool_identity(changed) != pool_identity(first)
    # No password, in clear, in the key.
    assert READER["password"] not in repr(pool_identity(first))


def test_another_role_on_the_same_database_has_a_pool_of_its_own(
    alice, make_connection, privileged_ok
):
    reader = make_connection(alice, "postgresql")
    owner = make_connection(alice, "postgresql", reader=False)

    assert engine_shared(reader) is not engine_shared(owner)
    assert len(target_pools) == 2


def test_the_pool_opens_at_most_the_setting_however_many_users_ask(
    records, settings, since, held
):
    settings.TARGET_DB_MAX_CONNECTIONS = 3
    settings.TARGET_CONNECT_TIMEOUT_S = 1
    engines = [engine_shared(record) for record in records(6)]
    pids = {_pid(held.enter_context(engine.connect())) for engine in engines[:3]}

    # Three users hold the three connections: the fourth waits, then is told.
    with pytest.raises(PoolTimeoutError):
        engines[3].connect()

    assert len(pids) == 3
    assert reader_connections(since) == 3


def test_a_connection_given_back_serves_the_next_user(records, settings, since):
    settings.TARGET_DB_MAX_CONNECTIONS = 1
    first, second = (engine_shared(record) for record in records(2))

    with first.connect() as connection:
        pid = _pid(connection)
    with second.connect() as connection:
        assert _pid(connection) == pid
    assert reader_connections(since) == 1


def test_idle_connections_are_closed_and_recent_ones_kept(records, held):
    engine = engine_shared(records(1)[0])
    with ExitStack() as stack:
        pids = [_pid(stack.enter_context(engine.connect())) for _ in range(3)]

    assert target_pools.idle_close(idle_s=60) == 0
    assert all(backend_alive(pid) for pid in pids)

    assert target_pools.idle_close(idle_s=0) == 3
    assert all(backend_gone(pid) for pid in pids)
    # The pool itself stays: the next ask opens a connection again.
    with engine.connect() as connection:
        assert _pid(connection) not in pids


def test_a_connection_in_use_is_never_closed_as_idle(records, held):
    engine = engine_shared(records(1)[0])
    connection = held.enter_context(engine.connect())
    pid = _pid(connection)

    assert target_pools.idle_close(idle_s=0) == 0
    assert connection.execute(text("SELECT 1")).scalar_one() == 1
    assert backend_alive(pid)


def test_the_reaper_closes_idle_connections_on_its_own(records, settings):
    settings.TARGET_DB_IDLE_TIMEOUT_S = 0.2
    engine = engine_shared(records(1)[0])
    with engine.connect() as connection:
        pid = _pid(connection)

    # Up to one reaper pass at the previous setting, then one at 0.2 s.
    deadline = time.monotonic() + 15
    while backend_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not backend_alive(pid)


def test_a_changed_connection_gets_a_new_pool_and_the_old_one_is_closed(records):
    (record,) = records(1)
    old = engine_shared(record)
    with old.connect() as connection:
        pid = _pid(connection)

    changed = connection_update(connection=record, options={"sslmode": "disable"})
    new = engine_shared(changed)

    assert new is not old
    assert not target_pools.is_current(old)
    assert backend_gone(pid)
    with new.connect() as connection:
        assert connection.execute(text("SELECT 1")).scalar_one() == 1


def test_a_connection_in_use_when_its_pool_is_replaced_closes_when_given_back(
    records,
):
    (record,) = records(1)
    old = engine_shared(record)
    connection = old.connect()
    pid = _pid(connection)

    engine_shared(connection_update(connection=record, options={"sslmode": "disable"}))
    # The query running on it finishes as usual.
    assert connection.execute(text("SELECT 1")).scalar_one() == 1
    assert backend_alive(pid)
    connection.close()

    assert backend_gone(pid)


def test_a_pool_shared_by_two_records_closes_when_the_last_one_goes(records):
    alices, bobs = records(2)
    engine = engine_shared(alices)
    assert engine_shared(bobs) is engine
    with engine.connect() as connection:
        pid = _pid(connection)

    connection_delete(connection=alices)
    assert target_pools.is_current(engine)
    assert backend_alive(pid)

    connection_delete(connection=bobs)
    assert not target_pools.is_current(engine)
    assert backend_gone(pid)


def test_concurrent_first_uses_build_one_pool(records):
    all_records = records(8)
    barrier = threading.Barrier(len(all_records))
    engines: list[Engine] = []
    errors: list[BaseException] = []

    def work(record: Any) -> None:
        try:
            barrier.wait()
            engines.append(engine_shared(record))
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(r,)) for r in all_records]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not errors, errors
    assert len({id(e) for e in engines}) == 1
    assert len(target_pools) == 1
