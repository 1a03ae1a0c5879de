"""`manage.py check --deploy` fails when the configured cache cannot be used.

Rate limits live in the cache: a missing table or an unreachable Redis would
otherwise show up as a 500 on the first login of a fresh deployment.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.cache import caches
from django.core.checks import Error, Tags, register

_PROBE_KEY = "sqlagent:deploy-check"


@register(Tags.caches, deploy=True)
def cache_usable_check(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    """Write, read and delete one key in every configured cache."""
    errors: list[Error] = []
    for alias in settings.CACHES:
        cache = caches[alias]
        try:
            cache.set(_PROBE_KEY, "ok", 10)
            answered = cache.get(_PROBE_KEY)
            cache.delete(_PROBE_KEY)
        except Exception as exc:  # any backend, any driver: report, never crash
            errors.append(
                Error(
                    f"The cache {alias!r} ({settings.CACHES[alias]['BACKEND']}) "
                    f"cannot be used: {type(exc).__name__}.",
                    hint=_hint(settings.CACHES[alias]["BACKEND"]),
                    id="sqlagent.E001",
                )
            )
            continue
        if answered != "ok":
            errors.append(
                Error(
                    f"The cache {alias!r} did not return a value it just stored.",
                    hint="A dummy cache cannot hold rate limits; set CACHE_URL.",
                    id="sqlagent.E002",
                )
            )
    return errors


def _hint(backend: str) -> str:
    if backend.endswith("DatabaseCache"):
        return "Run `manage.py migrate` (it creates the cache table)."
    if backend.endswith("RedisCache"):
        return "Check that Redis answers at CACHE_URL."
    return "Check CACHE_URL."
