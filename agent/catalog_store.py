"""The schema catalog of a big database, read once by a worker and shared.

Reading every column of a database of thousands of tables takes seconds, and
each web process (each host) used to make that read itself. With a broker, a
database of at least CATALOG_SHARED_MIN_TABLES tables has it made by a task
(`agent.catalog_build`, idempotent, acknowledged late) once per connection
version; the result (table and view names, column names and types: structure,
never a value) is kept in the shared cache for CATALOG_MAX_AGE_S under a key of
the connection version, so a changed connection never gets the old one, and a
web process starts its catalog from it. Descriptions with sample values stay
in each process, as before.

A process still lists the table names of a database it has no shared catalog
for (milliseconds) to tell whether it is big. It reads the database itself,
as without a broker, when the database is small, when no worker was seen
lately, when the build fails, or when it takes longer than CATALOG_BUILD_WAIT_S.
"""

from __future__ import annotations

import hashlib
import logging
import time
from datetime import UTC, datetime
from typing import Any, cast

from django.conf import settings
from django.core.cache import cache

from agent import sql_guard
from agent.catalog import SchemaCatalog
from connections.engines import engine_create
from connections.models import DatabaseConnection
from connections.privileges import verdict_key
from sqlagent_project import capacity
from sqlagent_project.queue import broker_configured, enqueue, worker_seen_at

logger = logging.getLogger(__name__)

# How often a waiting request looks for the worker's result.
POLL_S = 0.2


def catalog_key(connection: DatabaseConnection) -> str:
    """Return the cache key of the connection's catalog at its current version
    (its record's `updated_at`, what decides where it logs in, and its last
    schema refresh)."""
    _, updated_at, digest = cast(tuple[int, datetime, str], verdict_key(connection))
    # In UTC: the same text whichever driver's time zone object it came with.
    stamps = [updated_at, connection.schema_read_at]
    stamp = "|".join(t.astimezone(UTC).isoformat() if t else "" for t in stamps)
    version = hashlib.sha256(f"{stamp}|{digest}".encode()).hexdigest()[:32]
    return f"catalog:{connection.pk}:{version}"


def catalog_build(*, connection: DatabaseConnection) -> bool:
    """Read the connection's catalog structure and share it; False when a
    fresh one is shared already (a second delivery builds nothing)."""
    key = catalog_key(connection)
    if cache.get(key) is not None:
        return False
    engine = engine_create(connection, pooled=False)
    try:
        # No privacy policy: the structure holds no value, no sample is read.
        structure = SchemaCatalog(engine, connection.db_type).structure()
    except Exception:
        # Waiting requests stop waiting and read for themselves.
        cache.set(f"{key}:failed", True, timeout=60)
        raise
    finally:
        engine.dispose()
    cache.set(key, structure, timeout=settings.CATALOG_MAX_AGE_S)
    logger.info(
        "catalog built connection=%s tables=%d", connection.pk, len(structure["tables"])
    )
    return True


def catalog_forget(*, connection: DatabaseConnection) -> None:
    """Drop the shared catalog (a refresh on request): the next is built anew."""
    key = catalog_key(connection)
    cache.delete_many([key, f"{key}:queued", f"{key}:failed"])


def shared_structure(
    *, connection_id: int, version: Any, catalog: SchemaCatalog
) -> dict[str, Any] | None:
    """Return the shared structure of a big database at this version, queueing
    its build and waiting for it when missing; None: read it here (sharing is
    a saving, so the cache or the broker in trouble only means that)."""
    if not broker_configured():
        return None
    connection = DatabaseConnection.objects.filter(pk=connection_id).first()
    if connection is None or connection.updated_at != version:
        return None  # the engine is of another version than the record's
    key = catalog_key(connection)
    found = _cached(key)
    if found is not None:
        return found
    if len(catalog.table_names()) < settings.CATALOG_SHARED_MIN_TABLES:
        return None
    if not _worker_lately():
        logger.warning("no worker seen lately: catalog read here %s", connection_id)
        return None
    from agent.tasks import catalog_build_task

    try:
        if cache.add(f"{key}:queued", True, timeout=settings.CATALOG_BUILD_WAIT_S):
            enqueue(catalog_build_task, connection_id=connection.pk, key=key)
    except Exception:  # the cache's or the broker's own errors, any backend
        logger.warning("catalog build not queued, read here", exc_info=True)
        return None
    return _wait(key)


def _cached(key: str) -> Any:
    try:
        return cache.get(key)
    except Exception:  # the cache's own errors, any backend
        logger.warning("shared catalog not read from the cache", exc_info=True)
        return None


def _worker_lately() -> bool:
    try:
        seen = worker_seen_at()
    except Exception:  # the cache's own errors, any backend
        return False
    return seen is not None and (
        time.time() - seen.timestamp() <= settings.CELERY_WORKER_SEEN_S
    )


def _wait(key: str) -> dict[str, Any] | None:
    deadline = time.monotonic() + settings.CATALOG_BUILD_WAIT_S
    stop = sql_guard.stop_signal()
    # A wait on another process: this ask's CPU slot is free for others.
    with capacity.cpu_released():
        while time.monotonic() < deadline:
            found: dict[str, Any] | None = _cached(key)
            if found is not None:
                return found
            if _cached(f"{key}:failed") or (stop is not None and stop()):
                # The build failed, or the ask was stopped (its next query
                # says so): no more waiting.
                return None
            time.sleep(POLL_S)
    logger.warning("catalog not built in time, read here key=%s", key)
    return None
