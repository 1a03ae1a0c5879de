"""Logging: level, plain or JSON lines, and the request context on every record."""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

from sqlagent_project.conf.environment import env

# LOGGING
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
# plain: one readable line per record; json: one JSON object per line.
LOG_FORMAT = env.str("LOG_FORMAT", default="plain")
if LOG_FORMAT not in ("plain", "json"):
    raise ImproperlyConfigured("LOG_FORMAT must be 'plain' or 'json'.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        # request_id, user_id and session_id of the current request on every record
        "context": {"()": "sqlagent_project.logformat.ContextFilter"},
    },
    "formatters": {
        # Both redact anything shaped like a password, token or API key.
        "plain": {"()": "sqlagent_project.logformat.PlainFormatter"},
        "json": {"()": "sqlagent_project.logformat.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["context"],
        },
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # The request line already carries every 4xx; keep Django's for 5xx.
        "django.request": {"level": "ERROR"},
        "httpx": {"level": "WARNING"},
        "openai": {"level": "WARNING"},
    },
}
