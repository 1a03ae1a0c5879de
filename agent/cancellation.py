"""Stop a running ask: a flag shared by every worker process through the cache,
and an event for the asks running in this process, checked at each agent step.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

from django.core.cache import cache
from django.db import connection
from sqlalchemy import Engine, event

from connections.backends import backend_for

logger = logging.getLogger(__name__)

# Long enough to outlive any ask; the flag is only read while its turn runs.
CANCEL_FLAG_TTL_S = 3600
# How often a run asks the shared cache (each check may be a round trip).
CANCEL_POLL_S = 0.5

_running: dict[int, threading.Event] = {}
_running_lock = threading.Lock()


def cancel_key(turn_id: int) -> str:
    return f"ask-cancel:{turn_id}"


def ask_cancel_request(*, turn_id: int) -> None:
    """Ask the run of `turn_id` to stop, wherever it runs."""
    cache.set(cancel_key(turn_id), 1, timeout=CANCEL_FLAG_TTL_S)
    with _running_lock:
        event = _running.get(turn_id)
    if event is not None:
        event.set()  # this process runs it: no need to wait for the next poll


class CancelWatch:
    """Answer "should this run stop?" cheaply, as often as the runner asks.

    The local event answers at once; the shared flag is read at most every
    CANCEL_POLL_S, so streaming many chunks costs few cache reads.
    """

    def __init__(self, turn_id: int, poll_s: float = CANCEL_POLL_S) -> None:
        self.turn_id = turn_id
        self.poll_s = poll_s
        self.event = threading.Event()
        self._checked_at = 0.0
        with _running_lock:
            _running[turn_id] = self.event

    def __call__(self) -> bool:
        if self.event.is_set():
            return True
        now = time.monotonic()
        if now - self._checked_at >= self.poll_s:
            self._checked_at = now
            if self._flag_set():
                self.event.set()
        return self.event.is_set()

    def stop(self) -> None:
        """Stop the run from this process (its client went away)."""
        self.event.set()

    def close(self) -> None:
        with _running_lock:
            if _running.get(self.turn_id) is self.event:
                del _running[self.turn_id]

    def _flag_set(self) -> bool:
        # A database cache opens this thread's app-database connection; give it
        # back, so a run waiting on the model holds none.
        had_connection = connection.connection is not None
        try:
            return bool(cache.get(cancel_key(self.turn_id)))
        except Exception:
            logger.warning("cancel flag unreadable turn=%s", self.turn_id)
            return False
        finally:
            if not had_connection:
                connection.close()


# The pooled connection each thread's latest statement ran on, for every engine
# a run may need to interrupt (filled by a SQLAlchemy event); the backends'
# `cancel` hook takes it.
_statements: dict[int, Any] = {}
_tracked: weakref.WeakSet[Engine] = weakref.WeakSet()
_tracked_lock = threading.Lock()


def _remember_statement(conn: Any, *args: Any) -> None:
    _statements[threading.get_ident()] = conn.connection


def statements_track(engine: Engine) -> None:
    """Remember which connection each thread's statement runs on (once per engine)."""
    with _tracked_lock:
        if engine in _tracked:
            return
        event.listen(engine, "before_cursor_execute", _remember_statement)
        _tracked.add(engine)


class QueryCanceller:
    """While a tool's query runs, cancel it on the database if the run is stopped:
    a Stop must not wait for a long query to end by itself."""

    def __init__(
        self,
        *,
        engine: Engine,
        db_type: str,
        should_stop: Callable[[], bool],
        poll_s: float = 0.1,
    ) -> None:
        self.engine = engine
        self.db_type = db_type
        self.should_stop = should_stop
        self.poll_s = poll_s
        self._watching: dict[int, threading.Event] = {}
        statements_track(engine)

    def start(self) -> None:
        """Watch the query the calling thread is about to run."""
        ident = threading.get_ident()
        _statements.pop(ident, None)  # an older statement's connection
        done = threading.Event()
        self._watching[ident] = done
        threading.Thread(
            target=self._watch, args=(ident, done), name="ask-query-watch", daemon=True
        ).start()

    def finish(self) -> None:
        """The calling thread's query ended: stop watching it."""
        ident = threading.get_ident()
        done = self._watching.pop(ident, None)
        if done is not None:
            done.set()
        _statements.pop(ident, None)

    def close(self) -> None:
        for done in self._watching.values():
            done.set()
        self._watching.clear()

    def _watch(self, ident: int, done: threading.Event) -> None:
        try:
            while not done.wait(self.poll_s):
                if not self.should_stop():
                    continue
                pooled = _statements.get(ident)
                if pooled is not None and not done.is_set():
                    backend_for(self.db_type).cancel(self.engine, pooled)
                    logger.info("query cancelled on the database (ask stopped)")
                return
        except Exception:
            logger.warning("query could not be cancelled", exc_info=True)
        finally:
            # The cache check may have opened this thread's app-database connection.
            connection.close()
