"""Bounded resources of one process, and the 503 a client gets when one runs out.

An ask spends seconds waiting on the model. It must hold no app-database
connection meanwhile (`app_database_released`), and a process runs at most
ASK_MAX_CONCURRENT of them (`ask_slot_take`): past that, and past the app-database
pool, the client is told to come back (503 + Retry-After) instead of a 500.
"""

from __future__ import annotations

import contextvars
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


class _CpuTurn:
    """One ask's hold on a CPU slot; shared by the threads of its agent run (the
    tools run in LangGraph's pool) so a wait in any of them hands it over."""

    def __init__(self, semaphore: threading.Semaphore) -> None:
        self.semaphore = semaphore
        self.held = 0
        self.ended = False
        self.lock = threading.Lock()

    def take(self) -> None:
        self.semaphore.acquire()
        with self.lock:
            if not self.ended:
                self.held += 1
                return
        # A thread of an ask that has ended keeps no slot.
        self.semaphore.release()

    def give(self) -> bool:
        with self.lock:
            if self.held <= 0:
                return False
            self.held -= 1
        self.semaphore.release()
        return True

    def end(self) -> None:
        with self.lock:
            self.ended = True
            held, self.held = self.held, 0
        for _ in range(held):
            self.semaphore.release()


_cpu_turn: contextvars.ContextVar[_CpuTurn | None] = contextvars.ContextVar(
    "ask_cpu_turn", default=None
)
_cpu_lock = threading.Lock()
_cpu: tuple[int, threading.Semaphore] | None = None


def _cpu_semaphore() -> threading.Semaphore:
    global _cpu
    size = settings.ASK_CPU_SLOTS
    with _cpu_lock:
        if _cpu is None or _cpu[0] != size:
            _cpu = (size, threading.Semaphore(size))
        return _cpu[1]


@contextmanager
def ask_cpu_turns() -> Iterator[None]:
    """Run an ask's own work (the agent loop, not its waits) in one of the
    process's ASK_CPU_SLOTS, taking turns with the other asks.

    One process runs Python on one core at a time (the GIL), shared by every
    runnable thread: with a hundred asks between two model calls, a page request
    got one slice in a hundred and waited seconds. Asks now queue for a few CPU
    slots instead, and pages, which never queue, stay quick. An ask holds no
    slot while it waits on the model or on its query (`cpu_released`).
    """
    if settings.ASK_CPU_SLOTS <= 0 or _cpu_turn.get() is not None:
        yield
        return
    turn = _CpuTurn(_cpu_semaphore())
    # Never wait for a slot holding an app-database connection: the slot's
    # holders may be waiting for one (a deadlock on the pool otherwise).
    _connections_handed_back()
    turn.take()
    token = _cpu_turn.set(turn)
    try:
        yield
    finally:
        _cpu_turn.reset(token)
        turn.end()


@contextmanager
def cpu_released() -> Iterator[None]:
    """Let another ask use this ask's CPU slot while this thread waits."""
    turn = _cpu_turn.get()
    if turn is None or not turn.give():
        yield
        return
    try:
        # Nor an app-database connection while waiting (another ask may need it).
        _connections_handed_back()
        yield
    finally:
        _connections_handed_back()
        turn.take()


def _connections_handed_back() -> None:
    for conn in connections.all(initialized_only=True):
        if conn.vendor != "sqlite" and not conn.in_atomic_block:
            conn.close()


@contextmanager
def app_database_released() -> Iterator[None]:
    """Hand this thread's app-database connections back before a long wait.

    The next query takes one from the pool again. A connection inside a
    transaction is kept (closing it would lose the transaction), and SQLite
    costs nothing to hold.
    """
    _connections_handed_back()
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
