"""Login lockout after repeated failures (django-axes), the same for every email.

Axes counts failures per email and client address, whether or not the email
belongs to an account, and refuses a locked pair before the password is checked:
the answer never tells an attacker which emails exist.
"""

from __future__ import annotations

import math
from typing import Any

from axes.helpers import get_cool_off
from axes.signals import user_locked_out
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from rest_framework.exceptions import Throttled
from rest_framework.request import Request

CODE = "locked_out"


def lockout_message(request: HttpRequest | None = None) -> str:
    """Return the message shown to a locked-out client."""
    cool_off = get_cool_off(request)
    minutes = max(1, round(cool_off.total_seconds() / 60)) if cool_off else None
    wait = f"in {minutes} minute{'s' if minutes != 1 else ''}" if minutes else "later"
    return f"Too many failed logins for this email from your address. Try again {wait}."


class LoginLockedOut(Throttled):
    """Too many failed logins for this email from this address."""

    default_code = CODE

    def __init__(self, *, detail: str, wait: float | None) -> None:
        super().__init__(detail=detail, code=CODE)
        # Sets Retry-After, without DRF's "Expected available in ..." suffix.
        self.wait = math.ceil(wait) if wait else None


def lockout_username(request: HttpRequest, credentials: dict[str, Any] | None) -> str:
    """Return the email axes counts failures for (API: `email`, form: `username`)."""
    credentials = credentials or {}
    value = credentials.get("email") or credentials.get("username")
    if not value:
        data: Any = getattr(request, "data", None)
        if not hasattr(data, "get"):
            data = request.POST
        value = data.get("email") or data.get("username")
    # Lower-cased like the login itself, so changing the case starts no new count.
    return str(value).strip().lower()[:255] if value else ""


@receiver(user_locked_out)
def _refuse_api_login(sender: Any, request: Any = None, **kwargs: Any) -> None:
    # The JSON login runs inside DRF, whose request object axes marks but its
    # middleware never sees: answer the lockout here, through DRF's handler.
    if isinstance(request, Request):
        cool_off = get_cool_off(request)
        raise LoginLockedOut(
            detail=lockout_message(request),
            wait=cool_off.total_seconds() if cool_off else None,
        )


def lockout_response(
    request: HttpRequest,
    original_response: HttpResponse | None = None,
    credentials: dict[str, Any] | None = None,
) -> HttpResponse:
    """Answer a locked-out login from a page: a readable page, or JSON if asked."""
    message = lockout_message(request)
    if request.content_type == "application/json":
        return JsonResponse({"detail": message, "code": CODE}, status=429)
    return render(
        request,
        "accounts/locked_out.html",
        {"message": message, "nav": "login"},
        status=429,
    )
