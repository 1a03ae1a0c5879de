"""The deadline of one query: a cancel when it passes, an end for certain after a grace.

A cancel (PostgreSQL's cancel request, MariaDB's KILL QUERY, SQLite's
interrupt) is honoured only where the server checks for it, between steps of
its work. One function call may run long without checking: PostgreSQL's
`strpos`/`replace` or MariaDB's `INSTR` on strings of a few hundred kilobytes
are quadratic and ran for a minute past a 4 s limit. So, `QUERY_TIMEOUT_GRACE_S`
after the deadline, the watch shuts the connection's socket down (the driver
call returns at once with an error, the ask goes on, the pool discards the
connection) and terminates the session on the server through another
connection of the same account (`pg_terminate_backend`, `KILL CONNECTION`).

Neither server stops a running C function from outside: the terminated session
ends when that call returns. Until the server reports it gone, the session
keeps one of its engine's query slots (as many as the pool's connections), so
an engine (one per database and worker process) never has more statements
working on the server than its pool allows, however many asks time out: the
next ones wait, then answer `database_busy`.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import socket
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from typing import Any

from sqlalchemy import Connection, Engine

from connections.backends import DatabaseBackend
from connections.backends.base import control_connection_open
from connections.exceptions import TargetDatabaseBusy

logger = logging.getLogger("agent.sql_guard")

# How often a terminated session is looked up until the server reports it gone.
_REAP_POLL_S = (0.2, 0.5, 1.0, 2.0)
# Longest wait between two attempts when the server cannot be reached.
_REAP_RETRY_MAX_S = 10.0
_TERMINATE_ATTEMPTS = 3

_IDENTITY_KEY = "sqlagent_session"


# ---------------------------------------------------------------------------
# Query slots: statements of one engine that may be working on the server
# ---------------------------------------------------------------------------

_slots: weakref.WeakKeyDictionary[Engine, threading.BoundedSemaphore] = (
    weakref.WeakKeyDictionary()
)
_slots_lock = threading.Lock()


def _capacity(engine: Engine) -> int:
    from django.conf import settings

    pool: Any = engine.pool
    size = getattr(pool, "size", None)
    overflow = getattr(pool, "_max_overflow", None)
    if callable(size) and isinstance(overflow, int) and overflow >= 0:
        return max(1, int(size()) + overflow)
    return max(1, settings.TARGET_DB_MAX_CONNECTIONS)  # an unpooled engine


def _slots_of(engine: Engine) -> threading.BoundedSemaphore:
    with _slots_lock:
        slots = _slots.get(engine)
        if slots is None:
            slots = threading.BoundedSemaphore(_capacity(engine))
            _slots[engine] = slots
        return slots


def slot_take(engine: Engine) -> threading.BoundedSemaphore:
    """Take one of the engine's query slots, waiting as long as for a pooled
    connection; raise TargetDatabaseBusy when none frees up.

    The engine is the database's pool, shared by every session of the process:
    a busy database makes asks wait their turn here, holding no CPU slot.
    """
    from django.conf import settings

    from sqlagent_project import capacity

    slots = _slots_of(engine)
    if slots.acquire(blocking=False):
        return slots
    with capacity.cpu_released():
        if not slots.acquire(timeout=settings.TARGET_CONNECT_TIMEOUT_S):
            raise TargetDatabaseBusy()
    return slots


# ---------------------------------------------------------------------------
# The session behind a pooled connection
# ---------------------------------------------------------------------------


def _sockname(fd: int) -> Any:
    duplicate = os.dup(fd)
    try:
        sock = socket.socket(fileno=duplicate)
    except OSError:
        os.close(duplicate)
        raise
    with sock:
        return sock.getsockname()


def session_identity(backend: DatabaseBackend, pooled: Any) -> tuple[Any, ...] | None:
    """Return (session id, socket fd, socket address) of a pooled connection.

    Read in the thread that owns the connection. Id and descriptor come from the
    driver without a round trip; the socket's address is looked up once per
    physical connection and kept in the pool record's `info`.
    """
    found = backend.session_identify(pooled.driver_connection)
    if found is None:
        return None
    session_id, fd = found
    cached = pooled.info.get(_IDENTITY_KEY)
    if cached is not None and cached[:2] == (session_id, fd):
        return cached
    try:
        identity: tuple[Any, ...] = (session_id, fd, _sockname(fd))
    except OSError:
        identity = (session_id, None, None)  # no socket to shut down
    pooled.info[_IDENTITY_KEY] = identity
    return identity


def _sever(identity: tuple[Any, ...]) -> bool:
    """Shut down the session's socket so the driver call waiting on it returns.

    Only while the socket still has the address it had at connect: a file
    descriptor closed and reused meanwhile belongs to someone else.
    """
    _, fd, address = identity
    if fd is None:
        return False
    try:
        duplicate = os.dup(fd)
    except OSError:
        return False
    try:
        sock = socket.socket(fileno=duplicate)
    except OSError:
        os.close(duplicate)
        return False
    with sock:
        try:
            if sock.getsockname() != address:
                return False
            sock.shutdown(socket.SHUT_RDWR)  # acts on the socket, not on the fd
        except OSError:
            return False
    return True


def _terminate_and_wait(
    backend: DatabaseBackend, engine: Engine, session_id: int
) -> float:
    """Terminate the session through a new connection; return once the server
    reports it gone, with the seconds it took."""
    started = time.monotonic()
    attempts = 0
    # What the first look saw: a session id the server reuses later (a new
    # PostgreSQL backend with an old pid) is then another session.
    seen: Any = None
    polls = failures = 0
    killer: Any = None
    try:
        while True:
            try:
                if killer is None:
                    killer = control_connection_open(engine)
                cursor = killer.cursor()
                if attempts < _TERMINATE_ATTEMPTS:
                    # A refusal is not retried forever: the closed socket ends
                    # the session anyway, at its next write.
                    attempts += 1
                    cursor.execute(backend.terminate_sql(session_id))
                    if cursor.description:
                        cursor.fetchall()
                    attempts = _TERMINATE_ATTEMPTS
                cursor.execute(backend.session_alive_sql(session_id))
                row = cursor.fetchone()
                cursor.close()
                killer.rollback()  # a new snapshot of the server's sessions
                failures = 0
            except Exception as exc:
                failures += 1
                logger.warning(
                    "terminating session %s failed (%s), retrying",
                    session_id,
                    type(exc).__name__,
                )
                if killer is not None:
                    with contextlib.suppress(Exception):
                        killer.close()
                    killer = None
                time.sleep(min(_REAP_RETRY_MAX_S, 0.5 * 2**failures))
                continue
            if seen is None and row is not None:
                seen = tuple(row)
            if row is None or tuple(row) != seen:
                return time.monotonic() - started
            time.sleep(_REAP_POLL_S[min(polls, len(_REAP_POLL_S) - 1)])
            polls += 1
    finally:
        if killer is not None:
            with contextlib.suppress(Exception):
                killer.close()


def reap(
    backend: DatabaseBackend,
    engine: Engine,
    session_id: int,
    release: Callable[[], None],
) -> None:
    """Terminate the session, then give its query slot back once it is gone."""
    try:
        seconds = _terminate_and_wait(backend, engine, session_id)
        logger.info(
            "terminated session %s left the server after %.1f s", session_id, seconds
        )
    finally:
        release()


# ---------------------------------------------------------------------------
# The watch
# ---------------------------------------------------------------------------


StopSignal = Callable[[], bool]

# The Stop of the ask running in this context (copied into the threads its
# agent run starts): every query of the ask ends when it says so, whatever
# tool or path ran it.
_stop_signal: contextvars.ContextVar[StopSignal | None] = contextvars.ContextVar(
    "query_stop_signal", default=None
)
# How often a running query asks its Stop (a local event, a shared flag read
# at most every CANCEL_POLL_S, a look at the client's socket).
STOP_POLL_S = 0.1


@contextlib.contextmanager
def queries_stopped_by(stop: StopSignal | None) -> Iterator[None]:
    """Let every query run inside this block end as soon as `stop()` says so
    (None: nothing stops them but their deadline)."""
    token = _stop_signal.set(stop)
    try:
        yield
    finally:
        _stop_signal.reset(token)


def stop_signal() -> StopSignal | None:
    """Return the Stop of the ask running in this context, if any."""
    return _stop_signal.get()


class DeadlineWatch:
    """Cancel the running statement at the deadline, or as soon as its ask is
    stopped; end it for certain after the grace. The query thread calls
    `stop()` once its statement is over."""

    def __init__(
        self,
        backend: DatabaseBackend,
        engine: Engine,
        connection: Connection,
        release_slot: Callable[[], None],
    ) -> None:
        self._backend = backend
        self._engine = engine
        self._pooled = connection.connection
        # Read here, in the thread that owns the connection, never by the timers.
        self._identity = session_identity(backend, self._pooled)
        self._release_slot = release_slot
        self._lock = threading.Lock()
        self._done = False
        self.fired = False
        # Fired because the ask was stopped, not at the deadline.
        self.stopped = False
        self.killed = False
        self._grace_s = 0.0
        self._timers: list[threading.Timer] = []
        self._over = threading.Event()

    def start(
        self, seconds: float, grace_s: float, *, stop: StopSignal | None = None
    ) -> None:
        """Start the clock, and the look at `stop`; called by the query thread."""
        self._grace_s = max(grace_s, 0.0)
        self._timer_start(seconds, self._fire)
        if stop is not None:
            threading.Thread(
                target=self._stop_watch, args=(stop,), name="query-stop", daemon=True
            ).start()

    def _stop_watch(self, stop: StopSignal) -> None:
        """Bring the deadline forward to now once the ask is stopped: a Stop
        must not wait for a long query to end by itself."""
        from django.db import connection

        try:
            while not self._over.wait(STOP_POLL_S):
                if stop():
                    logger.info("query cancelled on the database (ask stopped)")
                    self.stopped = True
                    self.expire()
                    return
        except Exception:
            logger.warning("a stopped query could not be cancelled", exc_info=True)
        finally:
            # Reading a shared Stop flag may have opened this thread's
            # app-database connection.
            connection.close()

    def expire(self) -> None:
        """Act as if the deadline were now."""
        self._timer_start(0.0, self._fire)

    def _timer_start(self, seconds: float, action: Callable[[], None]) -> None:
        timer = threading.Timer(max(seconds, 0.0), action)
        timer.daemon = True
        self._timers.append(timer)
        timer.start()

    def _fire(self) -> None:
        with self._lock:
            if self._done or self.fired:
                return
            self.fired = True
            # The kill is timed from the deadline, whatever the cancel costs.
            self._timer_start(self._grace_s, self._kill)
            try:
                self._backend.cancel(self._engine, self._pooled)
            except Exception:
                logger.warning(
                    "cancelling a query at its deadline failed", exc_info=True
                )

    def _kill(self) -> None:
        # Under the lock: the connection is still this query's, never the next
        # one's.
        with self._lock:
            if self._done:
                return
            self.killed = True
            if self._identity is None:
                # SQLite: the statement runs in this process; interrupt again.
                with contextlib.suppress(Exception):
                    self._backend.cancel(self._engine, self._pooled)
                logger.warning("query still running past its deadline and grace")
                return
            severed = _sever(self._identity)
        session_id = int(self._identity[0])
        logger.warning(
            "query still running past its deadline and grace: connection %s, "
            "terminating session %s",
            "closed" if severed else "not closed",
            session_id,
        )
        reap(self._backend, self._engine, session_id, self._release_slot)

    def stop(self) -> bool:
        """End the watch; return whether the slot is now the reaper's to release."""
        with self._lock:
            self._done = True
        self._over.set()
        for timer in list(self._timers):
            timer.cancel()
        return self.killed and self._identity is not None
