"""What other apps add to GET /auth/me, without accounts importing them.

An app registers a provider in its AppConfig.ready(); each returns a dict of
top-level keys for the caller (the agent app adds `budget`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from accounts.models import User

_PROVIDERS: list[Callable[[User], dict[str, Any]]] = []


def me_section_register(provider: Callable[[User], dict[str, Any]]) -> None:
    """Add `provider`'s keys to every GET /auth/me (once, however often asked)."""
    if provider not in _PROVIDERS:
        _PROVIDERS.append(provider)


def me_sections(user: User) -> dict[str, Any]:
    """Return every registered provider's keys for `user`."""
    body: dict[str, Any] = {}
    for provider in _PROVIDERS:
        body.update(provider(user))
    return body
