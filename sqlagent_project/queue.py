"""Handing background work to the queue, or running it here without a broker.

With `CELERY_BROKER_URL` set, `enqueue` sends the task to the broker and a
Celery worker (any host) runs it. Without one, the task runs on a small thread
pool of this process, through the same task code (`Task.apply`), and its state
is recorded the same way; that is how `make run` works with nothing more.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from celery import Task
from django.conf import settings
from django.core.cache import cache
from django.db import close_old_connections
from django.db import connection as db_connection
from kombu.exceptions import OperationalError as KombuOperationalError

from sqlagent_project.errors import ApplicationError

logger = logging.getLogger(__name__)

WORKER_SEEN_KEY = "queue:worker-seen"
# How often a worker says it is alive (and so how fresh /health can be).
WORKER_BEAT_INTERVAL_S = 15.0

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


class Every:
    """Say "due" at most once per `interval_s` in this process (the first time
    included): how a chore done after responses stays cheap."""

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self._at: float | None = None
        self._lock = threading.Lock()

    def due(self) -> bool:
        now = time.monotonic()
        with self._lock:
            if self._at is not None and now - self._at < self.interval_s:
                return False
            self._at = now
            return True

    def forget(self) -> None:
        """Be due at the next call (tests, and a process that just started)."""
        with self._lock:
            self._at = None


def broker_configured() -> bool:
    """Whether tasks go to a broker (else they run in this process)."""
    return bool(settings.CELERY_BROKER_URL)


class QueueUnavailable(ApplicationError):
    """The task broker did not take the task (down or unreachable)."""

    status_code = 503
    code = "queue_unavailable"
    default_message = "Background work cannot be queued right now; try again shortly."
    retry_after = 30


def enqueue(task: Task, **kwargs: Any) -> None:
    """Run `task(**kwargs)` in the background: on a worker, or on this
    process's pool. A broker that does not take it raises QueueUnavailable."""
    if broker_configured():
        try:
            task.apply_async(
                kwargs=kwargs,
                retry=True,
                retry_policy={"max_retries": 2, "interval_start": 0.2},
            )
        except (KombuOperationalError, OSError) as exc:
            logger.warning("task %s not queued: the broker did not take it", task.name)
            raise QueueUnavailable() from exc
        return
    _in_process_pool().submit(_run_here, task, kwargs)


def _in_process_pool() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(
                max_workers=max(1, settings.TASKS_IN_PROCESS_WORKERS),
                thread_name_prefix="task",
            )
        return _pool


def _run_here(task: Task, kwargs: dict[str, Any]) -> None:
    close_old_connections()
    try:
        task.apply(kwargs=kwargs)
    except Exception:
        logger.exception("in-process task %s failed", task.name)
    finally:
        # This pool thread's own app-database connection: hand it back now.
        db_connection.close()


def worker_seen_now() -> None:
    """Record that a worker is alive (read by /health across hosts)."""
    cache.set(WORKER_SEEN_KEY, time.time(), timeout=None)


def worker_seen_at() -> datetime | None:
    """Return when a worker last said it was alive, or None if never."""
    seen = cache.get(WORKER_SEEN_KEY)
    return datetime.fromtimestamp(seen, tz=UTC) if seen else None


def broker_state() -> str:
    """Return "ok" if the broker accepts a connection within 2 s, else
    "unavailable"."""
    from sqlagent_project.celery import app

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=0, timeout=2)
    except Exception:
        logger.warning("the task broker did not answer", exc_info=True)
        return "unavailable"
    return "ok"


def queue_health() -> dict[str, Any] | None:
    """Return the broker's state and a worker's last sign of life, or None
    without a broker (tasks run in the web process)."""
    if not broker_configured():
        return None
    seen = worker_seen_at()
    fresh = (
        seen is not None
        and time.time() - seen.timestamp() <= settings.CELERY_WORKER_SEEN_S
    )
    return {
        "broker": broker_state(),
        "worker": "ok" if fresh else "none_recently",
        "worker_seen_at": seen.isoformat() if seen else None,
    }
