"""The real task queue for tests: Redis on 127.0.0.1:6379 as broker (a db number
of its own, emptied first) and a Celery worker running in a thread of the test
process (celery.contrib.testing), so tasks cross the real broker."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from testsupport.workers import broker_db

# A db of this xdist worker's own (13 in a serial run), apart from the cache
# tests' 15: the fixture empties it. SQLAGENT_TEST_BROKER_URL overrides it (a
# run beside another on the same Redis).
BROKER_URL = os.environ.get(
    "SQLAGENT_TEST_BROKER_URL", f"redis://127.0.0.1:6379/{broker_db()}"
)


def _pools_dropped(app: Any) -> None:
    # The app keeps connections to the broker it first used; a test that
    # switches brokers must not publish through them.
    app._pool = None
    app.amqp._producer_pool = None


@contextlib.contextmanager
def broker_switched(settings: Any, url: str) -> Iterator[str]:
    """Point the Celery app and the settings at `url` for the block."""
    from sqlagent_project.celery import app

    previous = app.conf.broker_url
    settings.CELERY_BROKER_URL = url
    app.conf.broker_url = url
    _pools_dropped(app)
    try:
        yield url
    finally:
        app.conf.broker_url = previous
        _pools_dropped(app)


@pytest.fixture
def redis_broker(settings: Any) -> Iterator[str]:
    """Point the Celery app and the settings at an empty Redis broker."""
    redis.Redis.from_url(BROKER_URL).flushdb()
    try:
        with broker_switched(settings, BROKER_URL):
            yield BROKER_URL
    finally:
        redis.Redis.from_url(BROKER_URL).flushdb()


@contextlib.contextmanager
def celery_worker_running() -> Iterator[Any]:
    """Run a real Celery worker (solo pool) consuming from the broker."""
    from celery.contrib.testing.worker import start_worker

    from sqlagent_project.celery import app

    with start_worker(app, pool="solo", perform_ping_check=False) as worker:
        yield worker
