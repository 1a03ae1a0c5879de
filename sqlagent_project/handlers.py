"""Answers for requests that never reach a view: unknown URLs and crashes.

The API answers JSON only, also for a path no route matches (`/databases/-1`);
a browser asking for a page still gets Django's HTML page.
"""

from __future__ import annotations

import sys

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults

from sqlagent_project.capacity import app_database_busy_from


def wants_html(request: HttpRequest) -> bool:
    """Tell a browser asking for a page from an API client."""
    return "text/html" in request.headers.get("Accept", "")


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Answer an unknown URL: JSON for API clients, a page for browsers."""
    if wants_html(request):
        return defaults.page_not_found(request, exception)
    return JsonResponse({"detail": "Not found.", "code": "not_found"}, status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    """Answer a crash outside DRF: JSON for API clients, a page for browsers.

    Out of app-database connections is no crash: 503 + Retry-After. This runs
    inside Django's except block, so the exception is at hand.
    """
    busy = app_database_busy_from(sys.exc_info()[1])
    if busy is not None:
        response = JsonResponse({"detail": busy.message, "code": busy.code}, status=503)
        response["Retry-After"] = str(busy.retry_after)
        return response
    if wants_html(request):
        return defaults.server_error(request)
    return JsonResponse(
        {"detail": "Internal server error.", "code": "server_error"}, status=500
    )
