"""Bounded resources of one process, and the 503 a client gets when one runs out.

An ask spends seconds waiting on the model. It must hold no app-database
connection meanwhile (`app_database_hand_back`), and a process runs at most
ASK_MAX_CONCURRENT of them (`ask_slot_take`): past that, and past the app-database
pool, the client is told to come back (503 + Retry-After) instead of a 500.
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

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


class _SizedBySetting:
    """A process-wide semaphore as large as a setting says, made anew when the
    setting changes (tests change it); holders give back to the one they took."""

    def __init__(self, setting: str) -> None:
        self._setting = setting
        self._lock = threading.Lock()
        self._current: tuple[int, threading.BoundedSemaphore] | None = None

    def get(self) -> threading.BoundedSemaphore:
        size = getattr(settings, self._setting)
        with self._lock:
            if self._current is None or self._current[0] != size:
                self._current = (size, threading.BoundedSemaphore(size))
            return self._current[1]


_ask_slots = _SizedBySetting("ASK_MAX_CONCURRENT")
_cpu_slots = _SizedBySetting("ASK_CPU_SLOTS")


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


# How often a waiting ask asks `give_up` (a look at its client's socket).
GIVE_UP_POLL_S = 0.2


class AskGivenUp(Exception):
    """A waiting ask gave up its place in the queue (its client went away)."""


def ask_slot_take(*, give_up: Callable[[], bool] | None = None) -> AskSlot:
    """Take one of the process's ask slots, waiting briefly for one to free up.

    Raise AskPoolFull (503) when none frees up within ASK_QUEUE_TIMEOUT_S, and
    AskGivenUp as soon as `give_up` says so while waiting (the client went
    away: its ask must not take a slot another client waits for).
    """
    semaphore = _ask_slots.get()
    deadline = time.monotonic() + settings.ASK_QUEUE_TIMEOUT_S
    # A wait: neither a CPU slot nor an app-database connection is held.
    with cpu_released():
        app_database_hand_back()
        wait_check("ask slot")
        while True:
            wait = max(deadline - time.monotonic(), 0)
            if give_up is not None:
                wait = min(wait, GIVE_UP_POLL_S)
            if semaphore.acquire(timeout=wait):
                return AskSlot(semaphore)
            if give_up is not None and give_up():
                raise AskGivenUp()
            if time.monotonic() >= deadline:
                raise AskPoolFull()


class _CpuTurn:
    """One ask's hold on a CPU slot; shared by the threads of its agent run (the
    tools run in LangGraph's pool) so a wait in any of them hands it over."""

    def __init__(self, semaphore: threading.BoundedSemaphore) -> None:
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


@contextmanager
def ask_cpu_turns() -> Iterator[None]:
    """Run an ask's own work (not its waits) in one of the process's
    ASK_CPU_SLOTS, taking turns with the other asks. Taken once, where an ask
    enters (its view, its service, its stream worker); nested, it does nothing.

    One process runs Python on one core at a time (the GIL), shared by every
    runnable thread: with a hundred asks between two model calls, a page request
    got one slice in a hundred and waited seconds. Asks now queue for a CPU slot
    instead, and pages, which never queue, stay quick. An ask holds no slot
    while it waits on the model, a query or another slot: each of those waits
    gives it up where it happens (`cpu_released` in the model's wrapper, in
    `sql_guard.query_run`, the schema catalog, the session engine's connect
    and `ask_slot_take`), so no caller has to remember it; tests check every
    wait with `waits_checked`.
    """
    current = _cpu_turn.get()
    # A thread started with a copy of an ended ask's context (a stream's
    # worker, after its request returned) takes a slot of its own.
    if settings.ASK_CPU_SLOTS <= 0 or (current is not None and not current.ended):
        yield
        return
    turn = _CpuTurn(_cpu_slots.get())
    # Never wait for a slot holding an app-database connection: the slot's
    # holders may be waiting for one (a deadlock on the pool otherwise).
    app_database_hand_back()
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
        # Nor an app-database connection while waiting (another ask may need
        # it), nor when queueing for the slot again (see ask_cpu_turns).
        app_database_hand_back()
        yield
    finally:
        app_database_hand_back()
        turn.take()


class SlotReleasingLock:
    """A lock whose wait gives the ask's CPU slot up: a thread holding the lock
    may need the slot back to finish (its own database reads give it up), so a
    waiter holding the slot would deadlock them both."""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def __enter__(self) -> SlotReleasingLock:
        if not self._lock.acquire(blocking=False):
            with cpu_released():
                wait_check("lock")
                self._lock.acquire()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._lock.release()


def app_database_hand_back() -> None:
    """Hand this thread's app-database connections back before a wait.

    The next query takes one from the pool again. A connection inside a
    transaction is kept (closing it would lose the transaction), and SQLite
    costs nothing to hold.
    """
    for conn in connections.all(initialized_only=True):
        if conn.vendor != "sqlite" and not conn.in_atomic_block:
            conn.close()


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


# ---------------------------------------------------------------------------
# Waits checked (tests): a wait that runs while an ask holds its CPU slot
# ---------------------------------------------------------------------------

# What waited holding a slot, while checking is on; None when off.
_held_waits: list[str] | None = None


def wait_check(what: str) -> None:
    """Record `what` when it waits while this ask holds its CPU slot (checked
    only inside `waits_checked`, in tests)."""
    if _held_waits is None:
        return
    turn = _cpu_turn.get()
    if turn is not None and turn.held > 0:
        _held_waits.append(what)


def _target_statement(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
    wait_check(f"user-database statement: {' '.join(statement.split())[:80]}")


@contextmanager
def waits_checked() -> Iterator[list[str]]:
    """(Tests) Yield the list of waits that ran while an ask held its CPU slot:
    the known wait points (`wait_check`), every statement on a user's database
    (any SQLAlchemy engine) and every read on a Python socket (the model's
    HTTP client). A new wait left unreleased shows up here."""
    import socket

    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    global _held_waits
    held: list[str] = []
    _held_waits = held
    originals = {name: getattr(socket.socket, name) for name in _SOCKET_WAITS}

    def checked(name: str, original: Callable[..., Any]) -> Callable[..., Any]:
        def wait(self: socket.socket, *args: Any, **kwargs: Any) -> Any:
            wait_check(f"socket {name}")
            return original(self, *args, **kwargs)

        return wait

    for name, original in originals.items():
        setattr(socket.socket, name, checked(name, original))
    event.listen(Engine, "before_cursor_execute", _target_statement)
    try:
        yield held
    finally:
        event.remove(Engine, "before_cursor_execute", _target_statement)
        for name, original in originals.items():
            setattr(socket.socket, name, original)
        _held_waits = None


_SOCKET_WAITS = ("recv", "recv_into", "recvfrom", "accept")
