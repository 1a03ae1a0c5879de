"""Without a broker, evaluation runs a web process left unfinished (a reload, a
killed worker, a restart) are resumed by the web processes themselves: after a
response, at most every RESUME_INTERVAL_S (knowledge/interrupted.py)."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from knowledge.interrupted import resume_now_and_then
from sqlagent_project.queue import broker_configured


class InterruptedRunsResumeMiddleware:
    """Resumes interrupted evaluation runs here when no broker is set."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if settings.EVALUATION_RESUME_IN_PROCESS and not broker_configured():
            resume_now_and_then()
        return response
