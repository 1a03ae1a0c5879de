"""Put the logged-in browser user on every log line of the request.

JWT requests learn their user inside DRF; a browser request's user comes from
its session, lazily. This binds the user id to the log context the moment
that lazy user is first used, so lines logged by the view carry it too, at no
extra query (an anonymous request that never looks at its user costs nothing).
"""

from __future__ import annotations

from collections.abc import Callable

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.middleware import get_user
from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest, HttpResponse
from django.utils.functional import SimpleLazyObject

from sqlagent_project import logcontext


class UserLogContextMiddleware:
    """Bind `user_id` to the log context when the session user is loaded."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.user = SimpleLazyObject(  # type: ignore[assignment]
            lambda: _user_bound(request)
        )
        return self.get_response(request)


def _user_bound(request: HttpRequest) -> AbstractBaseUser | AnonymousUser:
    user = get_user(request)
    if user.is_authenticated:
        logcontext.bind(user_id=user.pk)
    return user
