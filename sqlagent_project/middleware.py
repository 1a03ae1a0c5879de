"""Request logging: one line per request with its outcome, user and session."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils.functional import SimpleLazyObject, empty

from sqlagent_project import logcontext

logger = logging.getLogger("sqlagent.request")

# A request id from the proxy is kept only if it is short and harmless.
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RequestLogMiddleware:
    """Give each request a log context and log method, path, status and duration."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        # A fresh context per request. It is not reset on the way out: Django
        # logs a 4xx/5xx answer after the last middleware returns, and that line
        # must still name the request; the next request starts its own context.
        logcontext.begin(request_id=request_id)
        started = time.perf_counter()
        status = 500
        try:
            response = self.get_response(request)
            status = response.status_code
            response["X-Request-ID"] = request_id
            return response
        finally:
            duration_ms = round((time.perf_counter() - started) * 1000, 1)
            user_id = _user_id(request)
            if user_id is not None:
                logcontext.bind(user_id=user_id)
            logger.log(
                logging.ERROR if status >= 500 else logging.INFO,
                "%s %s %s %.1fms",
                request.method,
                request.path,
                status,
                duration_ms,
                extra={
                    "method": request.method,
                    "path": request.path,
                    "status": status,
                    "duration_ms": duration_ms,
                },
            )


def _user_id(request: HttpRequest) -> int | None:
    # DRF authenticates JWT requests inside the view and then sets `user` on
    # the Django request too, so it is known here after the response. A session
    # user nobody asked for is left unloaded: it would cost a query.
    user = request.__dict__.get("user")
    if isinstance(user, SimpleLazyObject) and user._wrapped is empty:
        return None
    return getattr(user, "pk", None) if user is not None else None
