"""The app's own database (SQLite or a pooled PostgreSQL) and the shared cache."""

from __future__ import annotations

from pathlib import Path

from sqlagent_project.conf.environment import VAR_DIR, env

# DATABASES
# The app's own database. SQLite by default (WAL + IMMEDIATE transactions: no
# "database is locked" under concurrent writers); PostgreSQL for production.
DATABASES = {
    "default": env.db_url(
        "DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'sqlagent.sqlite3'}"
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
        }
    )
else:
    DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
# PostgreSQL: a pool of app-database connections per process (DB_POOL_MAX_SIZE=0
# turns it off). An ask hands its connection back while the model thinks, so a few
# connections serve many waiting asks; a request that finds none free within
# DB_POOL_TIMEOUT_S gets 503 + Retry-After instead of piling up on the server.
DB_POOL_MAX_SIZE = env.int("DB_POOL_MAX_SIZE", default=8)
DB_POOL_TIMEOUT_S = env.float("DB_POOL_TIMEOUT_S", default=5.0)
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    if DB_POOL_MAX_SIZE > 0:
        # Pooled connections are not persistent ones: Django refuses both at once.
        DATABASES["default"]["CONN_MAX_AGE"] = 0
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            "min_size": env.int("DB_POOL_MIN_SIZE", default=2),
            "max_size": DB_POOL_MAX_SIZE,
            "timeout": DB_POOL_TIMEOUT_S,
        }
    else:
        DATABASES["default"].setdefault(
            "CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60)
        )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Shared by every worker process (rate-limit counters): a table in the app
# database by default (created by `migrate`), or e.g. redis://host:6379/1.
CACHES = {"default": env.cache_url("CACHE_URL", default="dbcache://sqlagent_cache")}
if CACHES["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache":
    # A Redis that does not answer fails a request in seconds, not minutes.
    CACHES["default"].setdefault("OPTIONS", {}).update(
        {"socket_connect_timeout": 2, "socket_timeout": 2}
    )
CACHES["default"].setdefault("KEY_PREFIX", env.str("CACHE_KEY_PREFIX", default=""))
