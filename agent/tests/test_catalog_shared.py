"""With a broker, a big database's schema catalog is read once by a worker and
shared: every web process starts from it instead of reading the database, and
a changed connection is never served its old version's catalog."""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from django.core.cache import cache
from django_celery_results.models import TaskResult

from agent.catalog import SchemaCatalog
from agent.catalog_store import catalog_key
from agent.engines import engine_cache
from agent.querying import catalog_get
from agent.schema_browser import schema_refresh
from connections.models import UserSession
from sqlagent_project import queue
from testsupport.queue import broker_switched, celery_worker_running
from testsupport.serving import free_port

pytestmark = pytest.mark.django_db(transaction=True)

COLUMNS = {"customers": ["id", "name"], "orders": ["id", "customer_id", "total"]}


@pytest.fixture
def warehouse(settings: Any, shop: Any) -> Iterator[str]:
    """A SQLite database of this test's own (it gains a table in one test)."""
    name = f"warehouse_{uuid.uuid4().hex[:8]}.sqlite3"
    path = Path(settings.SQLITE_DATABASES_DIR) / name
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
        db.execute(
            "CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER, "
            "total NUMERIC)"
        )
    try:
        yield name
    finally:
        path.unlink(missing_ok=True)


@pytest.fixture
def big(settings: Any) -> None:
    """Every database counts as big (the shop has but a few tables)."""
    settings.CATALOG_SHARED_MIN_TABLES = 1
    settings.CATALOG_BUILD_WAIT_S = 30
    cache.clear()


@pytest.fixture
def catalog_of(
    alice: Any, connected_session: Callable[..., Any], warehouse: str
) -> Callable[[], SchemaCatalog]:
    """Return the catalog a web process gets for alice's warehouse session."""
    session = connected_session(alice, "sqlite", database_name=warehouse)

    def get() -> SchemaCatalog:
        fresh = UserSession.objects.select_related("db_connection").get(pk=session.pk)
        return catalog_get(engine_cache.get(fresh))

    return get


def _connection() -> Any:
    """Alice's warehouse connection as the app database holds it now."""
    return UserSession.objects.get(user__email="alice@example.com").db_connection


def _builds() -> list[dict[str, Any]]:
    done = TaskResult.objects.filter(task_name="agent.catalog_build", status="SUCCESS")
    return [json.loads(r.result) for r in done.order_by("date_done")]


def test_the_worker_builds_the_catalog_once_and_each_process_reads_it(
    redis_broker, big, catalog_of
):
    with celery_worker_running():
        queue.worker_seen_now()
        first = catalog_of()
        assert first.columns_all() == COLUMNS
        # As another web process (or host): nothing of this one's kept.
        engine_cache.close_all()
        other = catalog_of()

        assert other is not first
        assert other.columns_all() == COLUMNS
        assert other.column_types("orders")["total"] == "NUMERIC"
        # It never looked at the database's structure itself.
        assert other._inspector is None

    assert [b["built"] for b in _builds()] == [True]
    # A refresh on request (`?refresh=1`) has the next one built anew.
    schema_refresh(connection=_connection())
    assert cache.get(catalog_key(_connection())) is None


def test_a_changed_connection_is_not_served_its_old_versions_catalog(
    redis_broker, big, catalog_of, warehouse, settings
):
    with celery_worker_running():
        queue.worker_seen_now()
        before = catalog_of()
        assert "refunds" not in before.table_names()
        connection = _connection()
        old_key = catalog_key(connection)

        path = Path(settings.SQLITE_DATABASES_DIR) / warehouse
        with sqlite3.connect(path) as db:
            db.execute("CREATE TABLE refunds (id INTEGER PRIMARY KEY, amount REAL)")
        connection.label = "Warehouse, with refunds"
        connection.save()  # a new version of the connection
        after = catalog_of()

        assert catalog_key(connection) != old_key
        assert "refunds" in after.table_names()
        assert after.columns_all()["refunds"] == ["id", "amount"]
        # The old version's catalog is still there, and was not served.
        assert "refunds" not in cache.get(old_key)["tables"]

    assert [b["built"] for b in _builds()] == [True, True]


def test_with_no_worker_seen_lately_the_process_reads_for_itself_at_once(
    redis_broker, big, catalog_of
):
    cache.delete(queue.WORKER_SEEN_KEY)

    catalog = catalog_of()

    assert catalog.columns_all() == COLUMNS
    # Nothing queued for nobody, nothing shared.
    assert redis.Redis.from_url(redis_broker).llen("celery") == 0
    assert cache.get(catalog_key(_connection())) is None


def test_without_a_broker_each_process_reads_its_own_catalog_as_before(
    big, catalog_of, settings
):
    settings.CELERY_BROKER_URL = ""

    catalog = catalog_of()

    assert catalog.columns_all() == COLUMNS
    assert cache.get(catalog_key(_connection())) is None
    assert _builds() == []


def test_a_broker_that_does_not_take_the_build_leaves_the_process_to_read_it(
    big, catalog_of, settings
):
    # Nothing listens there: the build cannot be queued.
    with broker_switched(settings, f"redis://127.0.0.1:{free_port()}/0"):
        queue.worker_seen_now()

        catalog = catalog_of()

        # The ask goes on, as without a broker: no 503 for a saving.
        assert catalog.columns_all() == COLUMNS
    assert cache.get(catalog_key(_connection())) is None
