"""Without a broker there is no beat: the web process dispatches due slots
itself, on its pool, at most every DISPATCH_INTERVAL_S, after a response."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from sqlagent_project.queue import broker_configured, enqueue

DISPATCH_INTERVAL_S = 30.0
_lock = threading.Lock()
_dispatched_at: float | None = None


def dispatch_now_and_then() -> bool:
    """Queue a dispatch of due slots here unless one was queued lately; say if so."""
    global _dispatched_at
    now = time.monotonic()
    with _lock:
        if _dispatched_at is not None and now - _dispatched_at < DISPATCH_INTERVAL_S:
            return False
        _dispatched_at = now
    from schedules.tasks import dispatch_due

    enqueue(dispatch_due)
    return True


class InProcessDispatchMiddleware:
    """Dispatches due schedules from the web process when no broker is set."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if settings.SCHEDULES_DISPATCH_IN_PROCESS and not broker_configured():
            dispatch_now_and_then()
        return response
