"""Bounded resources of one process, and the 503 a client gets when one runs out.

An ask spends seconds waiting on the model. It must hold no app-database
connection meanwhile (`app_database_released`), and a process runs at most
ASK_MAX_CONCURRENT of them (`ask_slot_take`): past that, and past the app-database
pool, the client is told to come back (503 + Retry-After) instead of a 500.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.db import connections
from django.db.utils import OperationalError
from psycopg_pool import PoolTimeout

from sqlagent_project.errors import ApplicationError

# What PostgreSQL says when max_connections is reached.
_SERVER_FULL = ("too many clients", "remaining connection slots are reserved")


class AskPoolFull(ApplicationError):
    """Every ask slot of this process is taken."""

    status_code = 503
    code = "ask_pool_full"
    default_message = "Too many questions are being answered right now. Try again."
    retry_after = 5


class AppDatabaseBusy(ApplicationError):
    """No app-database connection was free in time."""

    status_code = 503
    code = "app_database_busy"
    default_message = "The service is busy. Try again in a few seconds."
    retry_after = 5


_slots_lock = threading.Lock()
# (size, semaphore): rebuilt when ASK_MAX_CONCURRENT changes (tests change it).
_slots: tuple[int, threading.BoundedSemaphore] | None = None


def _ask_semaphore() -> threading.BoundedSemaphore:
    global _slots
    size = settings.ASK_MAX_CONCURRENT
    with _slots_lock:
        if _slots is None or _slots[0] != size:
            _slots = (size, threading.BoundedSemaphore(size))
        return _slots[1]


class AskSlot:
    """One taken ask slot: given back once, by whichever thread ends the ask.

    A streamed ask takes its slot in the request thread (so a full pool is still
    an ordinary 503) and its worker thread gives it back; `release` may be
    called from every path that can end an ask, only the first call counts.
    """

    def __init__(self, semaphore: threading.BoundedSemaphore) -> None:
        self._semaphore = semaphore
        self._lock = threading.Lock()
        self._held = True

    def release(self) -> None:
        """Give the slot back; a second call does nothing."""
        with self._lock:
            if not self._held:
                return
            self._held = False
        self._semaphore.release()

    def __enter__(self) -> AskSlot:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()


def ask_slot_take() -> AskSlot:
    """Take one of the process's ask slots, waiting briefly for one to free up.

    Raise AskPoolFull (503) when none frees up within ASK_QUEUE_TIMEOUT_S.
    """
    semaphore = _ask_semaphore()
    if not semaphore.acquire(timeout=settings.ASK_QUEUE_TIMEOUT_S):
        raise AskPoolFull()
    return AskSlot(semaphore)


@contextmanager
def app_database_released() -> Iterator[None]:
    """Hand this thread's app-database connections back before a long wait.

    The next query takes one from the pool again. A connection inside a
    transaction is kept (closing it would lose the transaction), and SQLite
    costs nothing to hold.
    """
    for conn in connections.all(initialized_only=True):
        if conn.vendor != "sqlite" and not conn.in_atomic_block:
            conn.close()
    yield


def app_database_busy_from(exc: BaseException | None) -> AppDatabaseBusy | None:
    """Return a 503 error when `exc` says the app database has no connection free."""
    if not isinstance(exc, OperationalError):
        return None
    cause = exc.__cause__
    if isinstance(cause, PoolTimeout) or any(
        marker in str(exc) for marker in _SERVER_FULL
    ):
        return AppDatabaseBusy()
    return None


def app_database_pools_close() -> None:
    """Close this process's app-database pools (in the gunicorn master, before a
    fork: a pool's worker threads do not survive it, a fresh one is made)."""
    connections.close_all()
    for conn in connections.all(initialized_only=True):
        # Only a pool that exists: the `pool` property would create one.
        if conn.alias in getattr(conn, "_connection_pools", {}):
            conn.close_pool()  # type: ignore[attr-defined]  # the psycopg backend
