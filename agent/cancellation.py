"""Stop a running ask: a flag shared by every worker process through the cache,
and an event for the asks running in this process, checked at each agent step.
"""

from __future__ import annotations

import logging
import threading
import time

from django.core.cache import cache
from django.db import connection

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
