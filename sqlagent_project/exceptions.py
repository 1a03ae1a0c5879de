"""Render every error in DRF's own shape: `{"detail": ..., "code": ...}`."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from sqlagent_project.capacity import app_database_busy_from
from sqlagent_project.errors import ApplicationError

logger = logging.getLogger(__name__)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Render domain errors and DRF errors alike; never leak a traceback."""
    # Out of app-database connections: 503 + Retry-After, not a 500.
    exc = app_database_busy_from(exc) or exc
    if isinstance(exc, ApplicationError):
        body = {"detail": exc.message, "code": exc.code, **exc.extra}
        rendered = Response(body, status=exc.status_code)
        if exc.retry_after is not None:
            rendered["Retry-After"] = str(exc.retry_after)
        if exc.status_code >= 500:
            # A known state of the service (no LLM configured, a full pool, the
            # user's database down), not a fault of this code: one WARNING line
            # with its code instead of django.request's ERROR for every 5xx.
            logger.warning(
                "%s %s answered %s %s",
                context["request"].method if context.get("request") else "-",
                context["request"].path if context.get("request") else "-",
                exc.status_code,
                exc.code,
            )
            rendered._has_been_logged = True  # type: ignore[attr-defined]
        return rendered
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response: Response | None = drf_exception_handler(exc, context)
    if response is not None:
        data = response.data
        if (
            isinstance(exc, exceptions.APIException)
            and isinstance(data, dict)
            and "detail" in data
            and "code" not in data
        ):
            codes = exc.get_codes()
            data["code"] = codes if isinstance(codes, str) else "invalid"
        return response
    logger.exception("Unhandled error in %s", context.get("view").__class__.__name__)
    return Response(
        {"detail": "Internal server error.", "code": "server_error"},
        status=status.HTTP_500_INTERNAL_SERVER_ERROR,
    )
