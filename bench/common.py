"""Set up a benchmark process: a migrated app database, Django configured in
process, users with tokens, and the timing helpers every section shares."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from testsupport.serving import (
    app_database_migrate,
    database_url_derived,
    serving_env,
)


def django_setup(*, sqlite_dir: Path, llm_base_url: str) -> dict[str, str]:
    """Migrate the bench app database and configure Django in this process."""
    env = serving_env(
        database_url=database_url_derived("bench"),
        sqlite_dir=sqlite_dir,
        llm_base_url=llm_base_url,
        ALLOWED_HOSTS="127.0.0.1,localhost,testserver",
        ROOT_URLCONF="bench.urls",
        LLM_MAX_RETRIES="0",
    )
    app_database_migrate(env)
    os.environ.update(env)
    import django

    django.setup()
    return env


def user_with_token(email_prefix: str) -> tuple[Any, str]:
    """Create a user with a cheap shared hash; return it and an access token."""
    import secrets

    from django.contrib.auth.hashers import make_password
    from rest_framework_simplejwt.tokens import RefreshToken

    from accounts.models import User

    user = User.objects.create(
        email=f"{email_prefix}-{secrets.token_hex(4)}@example.com",
        password=make_password(None),
    )
    return user, str(RefreshToken.for_user(user).access_token)


def api_client(token: str) -> Any:
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def timed(fn: Callable[[], Any], repeat: int) -> list[float]:
    """Return the wall time of `repeat` calls, in milliseconds."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return times


def median(values: list[float]) -> float:
    return statistics.median(values)


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
