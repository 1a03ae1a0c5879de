"""Stop a running ask: a flag shared by every worker process through the cache,
an event for the asks running in this process, and a look at whether the HTTP
client is still connected, all checked at each agent step and by every query
the ask runs (`sql_guard.queries_stopped_by`).
"""

from __future__ import annotations

import logging
import select
import socket
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from django.core.cache import cache
from django.db import connection

logger = logging.getLogger(__name__)

# Long enough to outlive any ask; the flag is only read while its turn runs.
CANCEL_FLAG_TTL_S = 3600
# How often a run asks the shared cache (each check may be a round trip).
CANCEL_POLL_S = 0.5
# How often a run looks at its client's socket (a system call, no round trip).
CLIENT_CHECK_S = 0.2

_running: dict[int, threading.Event] = {}
_running_lock = threading.Lock()
# One read of the shared flags serves every run of this process: with hundreds
# of asks running, a read per run and poll was hundreds of cache round trips a
# second (a few per cent of the CPU, and an app-database connection each).
_poll_lock = threading.Lock()
_polled_at = 0.0


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
    CANCEL_POLL_S, so streaming many chunks costs few cache reads. With
    `client_gone`, a client that closed its connection stops the run too.
    """

    def __init__(
        self,
        turn_id: int,
        poll_s: float = CANCEL_POLL_S,
        *,
        client_gone: Callable[[], bool] | None = None,
    ) -> None:
        self.turn_id = turn_id
        self.poll_s = poll_s
        self.event = threading.Event()
        self._client_gone = client_gone
        # The first read of the shared flag waits a poll: nobody can have
        # pressed Stop on a turn that was created a moment ago.
        self._checked_at = time.monotonic()
        with _running_lock:
            _running[turn_id] = self.event

    def __call__(self) -> bool:
        if self.event.is_set():
            return True
        if self._client_gone is not None and self._client_gone():
            # Nobody will read the answer: stop before paying for more LLM calls.
            logger.info("ask client went away turn=%s", self.turn_id)
            self.event.set()
            return True
        now = time.monotonic()
        if now - self._checked_at >= self.poll_s:
            self._checked_at = now
            _shared_flags_read(self.poll_s)
        return self.event.is_set()

    def now(self) -> bool:
        """Answer from the shared flag as it is now, not as last read: before
        something that cannot be undone, such as running a query."""
        if not self.event.is_set() and _flag_set(self.turn_id):
            self.event.set()
        return self()

    def stop(self) -> None:
        """Stop the run from this process (its client went away)."""
        self.event.set()

    def close(self) -> None:
        with _running_lock:
            if _running.get(self.turn_id) is self.event:
                del _running[self.turn_id]


def _shared_flags_read(poll_s: float) -> None:
    """Set the event of every run of this process whose Stop flag is in the cache.

    At most one read per `poll_s` in this process, by whichever run asks first;
    the others go on without waiting for it.
    """
    global _polled_at
    if not _poll_lock.acquire(blocking=False):
        return
    try:
        now = time.monotonic()
        if now - _polled_at < poll_s:
            return
        _polled_at = now
        with _running_lock:
            events = dict(_running)
        if not events:
            return
        keys = {cancel_key(turn_id): event for turn_id, event in events.items()}
        flagged = _flags_read(list(keys))
        if flagged is None:
            logger.warning("cancel flags unreadable (%s runs)", len(keys))
            return
        for key in flagged:
            keys[key].set()
    finally:
        _poll_lock.release()


def _flag_set(turn_id: int) -> bool:
    """Read one run's Stop flag from the cache now (False when unreadable)."""
    flagged = _flags_read([cancel_key(turn_id)])
    if flagged is None:
        logger.warning("cancel flag unreadable turn=%s", turn_id)
        return False
    return bool(flagged)


def _flags_read(keys: list[str]) -> dict[str, Any] | None:
    """Return the Stop flags set among `keys` (None when the cache cannot be read).

    A database cache opens this thread's app-database connection; it is given
    back, so a run waiting on the model holds none.
    """
    had_connection = connection.connection is not None
    try:
        return cache.get_many(keys)
    except Exception:
        return None
    finally:
        if not had_connection:
            connection.close()


def client_closed(sock: Any) -> bool:
    """Return whether the peer has closed the connection `sock`; never raise.

    Meant for a request whose body has been read: it peeks at what arrives
    next without taking it. End of stream (b"") or a reset means the client is
    gone (a client that only shut down its sending side counts as gone too);
    nothing to read yet, or bytes of a next request, mean it is still there. A
    socket that cannot be peeked (TLS terminated by gunicorn itself, a closed
    file descriptor, not a socket) counts as still there.
    """
    try:
        # Poll first: on a socket with a timeout, recv would wait that long.
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        if not poller.poll(0):
            return False
        return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except (BlockingIOError, InterruptedError, TimeoutError):
        return False
    except ConnectionError:
        return True
    except Exception:  # a look at the socket must never break the ask
        return False


class ClientWatch:
    """Answer "has the HTTP client of this request gone away?", cheaply.

    Under gunicorn the WSGI environ carries the client's socket
    (`gunicorn.socket`); it is looked at with `client_closed` at most every
    `every_s`. Without such a socket (runserver, the test client) the answer
    is always no. Once gone, always gone.
    """

    def __init__(
        self, environ: Mapping[str, Any], *, every_s: float = CLIENT_CHECK_S
    ) -> None:
        self._sock = environ.get("gunicorn.socket")
        self._every_s = every_s
        self._checked_at: float | None = None
        self._gone = False
        self._lock = threading.Lock()

    def __call__(self) -> bool:
        if self._gone or self._sock is None:
            return self._gone
        # The runner and its query watcher may ask at once: one looks, the
        # other takes the last answer.
        if not self._lock.acquire(blocking=False):
            return self._gone
        try:
            now = time.monotonic()
            if self._checked_at is None or now - self._checked_at >= self._every_s:
                self._checked_at = now
                self._gone = client_closed(self._sock)
        finally:
            self._lock.release()
        return self._gone
