"""CACHE_URL=redis://… holds the rate limits, shared by every process and instance.

Runs against the real Redis on 127.0.0.1:6379, in its own db number and under a
key prefix of its own; only keys under that prefix are removed afterwards.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from django.core.cache import cache

from testsupport.fixtures import PASSWORD
from testsupport.serving import (
    Client,
    Gunicorn,
    app_database_migrate,
    database_url_derived,
    serving_env,
)

REDIS_URL = "redis://127.0.0.1:6379/15"


def _flush_prefix(prefix: str) -> None:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    prefix = f"sqlagent-test-{uuid.uuid4().hex[:10]}"
    yield prefix
    _flush_prefix(prefix)


@pytest.fixture
def redis_cache(settings, redis_prefix) -> str:
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": redis_prefix,
        }
    }
    return redis_prefix


def test_the_cache_stores_its_keys_in_redis_under_the_configured_prefix(redis_cache):
    cache.set("greeting", "hello", 30)

    assert cache.get("greeting") == "hello"
    stored = redis.Redis.from_url(REDIS_URL).keys(f"{redis_cache}*")
    assert [k.decode() for k in stored] == [f"{redis_cache}:1:greeting"]


@pytest.mark.django_db
def test_the_login_rate_limit_counts_in_redis(
    redis_cache, settings, anon_client, alice
):
    settings.THROTTLE_LOGIN_RATE = "2/minute"
    body = {"email": alice.email, "password": PASSWORD}

    codes = [
        anon_client.post("/auth/login", body, format="json").status_code
        for _ in range(3)
    ]

    assert codes == [200, 200, 429]
    stored = redis.Redis.from_url(REDIS_URL).keys(f"{redis_cache}*throttle*")
    assert stored, "the throttle's counter lives in Redis"


@pytest.fixture(scope="module")
def two_instances(
    shop_databases: dict[str, Any], tmp_path_factory
) -> Iterator[tuple[Gunicorn, Gunicorn]]:
    prefix = f"sqlagent-test-{uuid.uuid4().hex[:10]}"
    env = serving_env(
        database_url=database_url_derived("redis"),
        sqlite_dir=shop_databases["sqlite_dir"],
        CACHE_URL=REDIS_URL,
        CACHE_KEY_PREFIX=prefix,
        THROTTLE_LOGIN_RATE="8/minute",
        LOGIN_FAILURE_LIMIT="3",
    )
    app_database_migrate(env)
    log_dir = tmp_path_factory.mktemp("gunicorn")
    a = Gunicorn(env, workers=1, log_dir=log_dir)
    b = Gunicorn(env, workers=1, log_dir=log_dir)
    try:
        a.start()
        b.start()
        yield a, b
    finally:
        a.stop()
        b.stop()
        _flush_prefix(prefix)


@pytest.mark.slow
def test_lockout_and_login_rate_hold_across_two_instances_sharing_redis(two_instances):
    a, b = two_instances
    via_a, via_b = Client(a.url), Client(b.url)
    email = f"redis-{uuid.uuid4().hex[:8]}@example.com"
    assert (
        via_a.post("/auth/register", {"email": email, "password": PASSWORD}).status_code
        == 201
    )

    def login(client: Client, password: str) -> int:
        body = {"email": email, "password": password}
        return client.post("/auth/login", body).status_code

    # Three failures spread over both instances lock the email out on both:
    # the third already answers with the lockout, so does the right password.
    assert login(via_a, "wrong-1") == 401
    assert login(via_b, "wrong-2") == 401
    assert login(via_a, "wrong-3") == 429
    locked = via_b.post("/auth/login", {"email": email, "password": PASSWORD})
    assert locked.status_code == 429
    assert locked.json()["code"] == "locked_out"

    # 4 logins so far from this address. The rate (8 a minute) is counted once
    # for both instances: 4 more pass, the next is refused on either. Counted
    # per instance, 4 each so far, both would still let 4 more through.
    def stranger(client: Client) -> int:
        body = {"email": f"x-{uuid.uuid4().hex[:8]}@example.com", "password": "x"}
        return client.post("/auth/login", body).status_code

    assert [stranger(via_b if i % 2 else via_a) for i in range(4)] == [401] * 4
    throttled = via_a.post("/auth/login", {"email": email, "password": PASSWORD})
    assert throttled.status_code == 429
    assert throttled.json()["code"] == "throttled"
    assert "Retry-After" in throttled.headers
