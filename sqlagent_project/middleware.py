"""Request middleware: one log line per request, a bound on every request body,
and the queue's chores done after responses when there is no broker."""

from __future__ import annotations

import io
import logging
import re
import time
import uuid
from collections.abc import Callable

from django.conf import settings
from django.core.handlers.wsgi import LimitedStream
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.functional import SimpleLazyObject, empty
from django.utils.html import escape
from django.utils.module_loading import import_string

from sqlagent_project import logcontext
from sqlagent_project.handlers import wants_html
from sqlagent_project.parsers import (
    JSON_TOO_DEEP,
    RequestTooLarge,
    json_depth_exceeds,
    json_too_deep_message,
    request_too_large_message,
)
from sqlagent_project.queue import broker_configured

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
        level = logging.ERROR
        try:
            response = self.get_response(request)
            status = response.status_code
            # A 5xx that a domain error explains (no LLM configured, a full
            # pool) was logged as a warning where it was raised.
            expected = getattr(response, "_has_been_logged", False)
            level = (
                logging.ERROR
                if status >= 500 and not expected
                else logging.WARNING
                if status >= 500
                else logging.INFO
            )
            response["X-Request-ID"] = request_id
            return response
        finally:
            duration_ms = round((time.perf_counter() - started) * 1000, 1)
            user_id = _user_id(request)
            if user_id is not None:
                logcontext.bind(user_id=user_id)
            logger.log(
                level,
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


class RequestBodyLimitMiddleware:
    """Answer 413 to a body over REQUEST_MAX_BYTES before any view reads it.

    A declared Content-Length is checked before a byte is read. A chunked body
    (no Content-Length) is read up to the limit and no further, then handed on
    as an ordinary body of known length.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        limit: int = settings.REQUEST_MAX_BYTES
        declared = request.META.get("CONTENT_LENGTH") or ""
        if declared:
            # Django reads a malformed length as 0, so only a number can be long.
            if declared.strip().isdigit() and int(declared) > limit:
                return _too_large(request, limit)
        elif "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower():
            body = _read_at_most(request.META["wsgi.input"], limit + 1)
            if len(body) > limit:
                return _too_large(request, limit)
            request.META["CONTENT_LENGTH"] = str(len(body))
            request._stream = LimitedStream(io.BytesIO(body), len(body))  # type: ignore[assignment]
        if _is_json(request):
            # Read once here (bounded above); DRF reuses `request.body` later.
            max_depth: int = settings.JSON_MAX_DEPTH
            if json_depth_exceeds(request.body, max_depth):
                return _too_deep(request, max_depth)
        return self.get_response(request)


def _is_json(request: HttpRequest) -> bool:
    content_type = (request.content_type or "").lower()
    return content_type == "application/json" or content_type.endswith("+json")


def _read_at_most(stream: io.RawIOBase | io.BufferedIOBase, size: int) -> bytes:
    chunks: list[bytes] = []
    remaining = size
    while remaining > 0:
        chunk = stream.read(min(remaining, 64 * 1024))
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def _too_large(request: HttpRequest, limit: int) -> HttpResponse:
    response = _refusal(
        request,
        status=413,
        title="Request too large",
        message=request_too_large_message(limit),
        code=RequestTooLarge.code,
    )
    # The rest of the body is never read: the connection cannot be reused.
    response["Connection"] = "close"
    return response


def _too_deep(request: HttpRequest, max_depth: int) -> HttpResponse:
    return _refusal(
        request,
        status=400,
        title="Bad request",
        message=json_too_deep_message(max_depth),
        code=JSON_TOO_DEEP,
    )


def _refusal(
    request: HttpRequest, *, status: int, title: str, message: str, code: str
) -> HttpResponse:
    # A browser posting a form gets a page; an API client the API's error shape.
    if wants_html(request):
        page = (
            f"<!doctype html><title>{title}</title>"
            f"<h1>{title}</h1><p>{escape(message)}</p>"
        )
        return HttpResponse(page, status=status)
    return JsonResponse({"detail": message, "code": code}, status=status)


class NoBrokerChoresMiddleware:
    """Without a broker there is no beat and no worker to hand periodic work to:
    after each response, this process does the chores of NO_BROKER_CHORES
    itself, each one turned on by its setting. A chore returns at once unless
    it is due (`queue.Every`); its trouble is never the response's."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response
        self.chores = [
            (switch, import_string(path)) for switch, path in settings.NO_BROKER_CHORES
        ]

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if not broker_configured():
            for switch, chore in self.chores:
                if getattr(settings, switch):
                    chore()
        return response
