"""The value index: each connection's text values of few distinct kinds, read in
the background and matched against every question before the first model call.

Built only where the model may see values: a `schema`-tier connection gets no
index (its rows are deleted), and a masked column is never read. Rules that
change after a build are applied again when the index is read, so a column
masked since is never matched, and its stored values are dropped at once.
A build reads the database through the guarded path (`agent.value_lookup`),
one bounded `SELECT DISTINCT … LIMIT` per text column; an ask never waits on
it: a question on a connection without a ready index is matched against
nothing (the matching: knowledge/value_context.py).
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import close_old_connections, transaction
from django.db import connection as db_connection
from django.utils import timezone
from sqlalchemy.exc import SQLAlchemyError

from agent import sql_guard
from agent.catalog import SchemaCatalog
from agent.privacy import PrivacyPolicy
from agent.value_lookup import distinct_values, is_text_type
from connections.engines import engine_create
from connections.models import DatabaseConnection, UserSession
from knowledge.models import IndexedColumn, ValueIndex, ValueIndexStatus
from sqlagent_project.queue import QueueUnavailable, broker_configured, enqueue

logger = logging.getLogger("knowledge.values")

_BUILD_GIVEN_UP = timedelta(hours=1)
_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()
_pending: set[int] = set()
_futures: dict[int, Future[None]] = {}


@dataclass
class _Caps:
    """What one build may still keep."""

    values: int
    bytes: int
    columns: int


def value_index_build(*, connection: DatabaseConnection) -> ValueIndex:
    """Read the connection's text columns of few distinct values into the index,
    replacing what it held; none at all under the `schema` tier."""
    policy = PrivacyPolicy.for_connection(connection)
    index, _ = ValueIndex.objects.get_or_create(connection=connection)
    if not policy.values_visible:
        return _index_off(index)
    index.status = ValueIndexStatus.BUILDING
    index.started_at = timezone.now()
    index.error = ""
    index.save(update_fields=["status", "started_at", "error"])
    try:
        columns, skipped = _columns_read(connection, policy)
    except Exception as exc:
        logger.warning("value index failed connection=%s", connection.pk)
        index.status = ValueIndexStatus.FAILED
        index.error = str(getattr(exc, "message", exc))[:300]
        index.save(update_fields=["status", "error"])
        return index
    with transaction.atomic():
        IndexedColumn.objects.filter(connection=connection).delete()
        IndexedColumn.objects.bulk_create(
            IndexedColumn(
                connection=connection, table_name=t, column_name=c, values=values
            )
            for (t, c), values in columns.items()
        )
        index.status = ValueIndexStatus.READY
        index.columns = len(columns)
        index.values = sum(len(v) for v in columns.values())
        index.bytes = sum(len(x.encode()) for v in columns.values() for x in v)
        index.skipped = skipped
        index.built_at = timezone.now()
        index.save()
    logger.info(
        "value index built connection=%s columns=%d values=%d",
        connection.pk,
        index.columns,
        index.values,
    )
    return index


def _index_off(index: ValueIndex) -> ValueIndex:
    with transaction.atomic():
        IndexedColumn.objects.filter(connection_id=index.connection_id).delete()
        index.status = ValueIndexStatus.OFF
        index.columns = index.values = index.bytes = index.skipped = 0
        index.error = "The privacy tier 'schema' keeps every value from the model."
        index.built_at = timezone.now()
        index.save()
    return index


def _columns_read(
    connection: DatabaseConnection, policy: PrivacyPolicy
) -> tuple[dict[tuple[str, str], list[str]], int]:
    """Return each indexable column's values, and how many were left out."""
    engine = engine_create(connection, pooled=False)
    caps = _Caps(
        values=settings.VALUE_INDEX_MAX_VALUES,
        bytes=settings.VALUE_INDEX_MAX_BYTES,
        columns=settings.VALUE_INDEX_MAX_COLUMNS,
    )
    found: dict[tuple[str, str], list[str]] = {}
    skipped = 0
    try:
        catalog = SchemaCatalog(engine, connection.db_type, privacy=policy)
        for table in catalog.table_names():
            # A view's values are its tables' (and a view may hide a mask).
            if catalog.is_view(table):
                continue
            try:
                declared_types = catalog.column_types(table)
            except SQLAlchemyError:  # dropped meanwhile, or not readable
                skipped += 1
                continue
            for column, declared in declared_types.items():
                if not is_text_type(declared) or policy.column_masked(table, column):
                    continue
                if caps.columns <= 0:
                    skipped += 1
                    continue
                caps.columns -= 1
                values = _column_values(catalog, table, column, caps)
                if values is None:
                    skipped += 1
                elif values:
                    found[(table, column)] = values
    finally:
        engine.dispose()
    return found, skipped


def _column_values(
    catalog: SchemaCatalog, table: str, column: str, caps: _Caps
) -> list[str] | None:
    """Return the column's distinct values, or None when it has too many (or
    they would pass the connection's caps)."""
    try:
        read = distinct_values(
            catalog, table, column, cap=settings.VALUE_INDEX_MAX_DISTINCT
        )
    except (sql_guard.QueryFailed, sql_guard.StatementRefused):
        return None
    if not read.complete:
        return None
    size = sum(len(v.encode()) for v in read.values)
    if len(read.values) > caps.values or size > caps.bytes:
        return None
    caps.values -= len(read.values)
    caps.bytes -= size
    return sorted(read.values)


# -- in the background ------------------------------------------------------


def value_index_build_in_background(*, connection_id: int) -> bool:
    """Queue a build of the connection's index: on the task queue when a broker
    is configured, else on the process's value-index thread; False when this
    process already has one queued or running."""
    global _executor
    if broker_configured():
        from knowledge.tasks import value_index_build as task

        enqueue(task, connection_id=connection_id)
        return True
    with _executor_lock:
        if connection_id in _pending:
            return False
        _pending.add(connection_id)
        if _executor is None:
            _executor = ThreadPoolExecutor(
                max_workers=1, thread_name_prefix="value-index"
            )
        executor = _executor
    future = executor.submit(_background, connection_id)
    with _executor_lock:
        _futures[connection_id] = future
    return True


def value_index_build_wait(*, connection_id: int, timeout_s: float) -> None:
    """Wait for the connection's queued build to end (management commands,
    tests); at once when none was queued."""
    with _executor_lock:
        future = _futures.get(connection_id)
    if future is not None:
        future.result(timeout=timeout_s)


def _background(connection_id: int) -> None:
    close_old_connections()
    try:
        connection = DatabaseConnection.objects.filter(pk=connection_id).first()
        if connection is not None:
            value_index_build(connection=connection)
    except Exception:
        logger.exception("value index build failed connection=%s", connection_id)
    finally:
        with _executor_lock:
            _pending.discard(connection_id)
        db_connection.close()


def value_index_stale(index: ValueIndex | None, *, now: datetime) -> bool:
    """Say whether an index is missing, failed or older than its age limit."""
    if index is None or index.status == ValueIndexStatus.FAILED:
        return True
    if index.status == ValueIndexStatus.BUILDING:
        # A build this long under way died with its process.
        started = index.started_at
        return started is None or now - started > _BUILD_GIVEN_UP
    if index.built_at is None:
        return True
    return now - index.built_at > timedelta(seconds=settings.VALUE_INDEX_MAX_AGE_S)


def on_session_bound(sender: object, session_id: object, **kwargs: Any) -> None:
    """After a connect, build the connection's index if it is missing or old."""
    if not settings.VALUE_INDEX_ON_CONNECT:
        return
    session = UserSession.objects.filter(pk=str(session_id)).first()
    if session is None or session.db_connection_id is None:
        return
    index = ValueIndex.objects.filter(connection_id=session.db_connection_id).first()
    stale = value_index_stale(index, now=timezone.now())
    if index is not None and index.status == ValueIndexStatus.OFF:
        # Off for the `schema` tier: built once the tier lets values go.
        connection = session.db_connection
        stale = connection is not None and (
            PrivacyPolicy.for_connection(connection).values_visible
        )
    if stale:
        # After the connect's transaction, so the build sees its rows.
        connection_id = session.db_connection_id
        transaction.on_commit(lambda: _build_soon(connection_id))


def _build_soon(connection_id: int) -> None:
    # A connect never fails for its index: a broker that is down only delays it
    # (the next connect, or the knowledge page's Rebuild, queues it again).
    try:
        value_index_build_in_background(connection_id=connection_id)
    except QueueUnavailable:
        logger.warning("value index not queued connection=%s", connection_id)


def on_connection_saved(
    sender: object, instance: DatabaseConnection, **kwargs: Any
) -> None:
    """Drop what the connection's privacy rules no longer let the model see."""
    policy = PrivacyPolicy.for_connection(instance)
    if not policy.values_visible:
        if IndexedColumn.objects.filter(connection=instance).exists():
            index = ValueIndex.objects.filter(connection=instance).first()
            if index is not None:
                _index_off(index)
            else:
                IndexedColumn.objects.filter(connection=instance).delete()
        return
    if policy.masks:
        masked = [
            c.pk
            for c in IndexedColumn.objects.filter(connection=instance).only(
                "table_name", "column_name"
            )
            if policy.column_masked(c.table_name, c.column_name)
        ]
        if masked:
            IndexedColumn.objects.filter(pk__in=masked).delete()
            _sizes_recount(instance)


def _sizes_recount(connection: DatabaseConnection) -> None:
    """Make the index's size say what it holds after columns were dropped."""
    kept = [c.values for c in IndexedColumn.objects.filter(connection=connection)]
    ValueIndex.objects.filter(connection=connection).update(
        columns=len(kept),
        values=sum(len(v) for v in kept),
        bytes=sum(len(x.encode()) for v in kept for x in v),
    )


def value_index_summary(*, connection: DatabaseConnection) -> dict[str, Any]:
    """Return what the knowledge page and API show of the index: its state,
    size and age."""
    index = ValueIndex.objects.filter(connection=connection).first()
    if index is None:
        return {
            "status": "none",
            "columns": 0,
            "values": 0,
            "bytes": 0,
            "skipped": 0,
            "built_at": None,
            "age_s": None,
            "error": "",
        }
    age = (
        None
        if index.built_at is None
        else round((timezone.now() - index.built_at).total_seconds())
    )
    return {
        "status": index.status,
        "columns": index.columns,
        "values": index.values,
        "bytes": index.bytes,
        "skipped": index.skipped,
        "built_at": index.built_at,
        "age_s": age,
        "error": index.error,
    }
