"""Request types for views behind authentication."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.http import HttpRequest
from rest_framework.request import Request

if TYPE_CHECKING:
    from accounts.models import User

    class AuthenticatedRequest(Request):
        """A DRF request past `IsAuthenticated`: `.user` is always a `User`."""

        user: User

    class AuthenticatedHttpRequest(HttpRequest):
        """A Django request past `login_required`: `.user` is always a `User`."""

        user: User

else:
    # At run time they are the plain request classes; only mypy sees the narrowing.
    AuthenticatedRequest = Request
    AuthenticatedHttpRequest = HttpRequest

__all__ = ["AuthenticatedHttpRequest", "AuthenticatedRequest"]
