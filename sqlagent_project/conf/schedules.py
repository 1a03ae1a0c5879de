"""Scheduled questions and their deliveries by email and webhook."""

from __future__ import annotations

from sqlagent_project.conf.environment import env
from sqlagent_project.conf.targets import _HOSTS_DENY_DEFAULT

# SCHEDULES (scheduled questions, delivered by email and webhook)
# This service's address as its users reach it: links in deliveries.
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")
# Email: Django's standard settings. Without EMAIL_HOST, mail is written to the
# console (the `make run` default) instead of sent.
EMAIL_HOST = env.str("EMAIL_HOST", default="")
EMAIL_BACKEND = env.str(
    "EMAIL_BACKEND",
    default="django.core.mail.backends.smtp.EmailBackend"
    if EMAIL_HOST
    else "django.core.mail.backends.console.EmailBackend",
)
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="sqlagent@localhost")
# Where webhooks may go: as TARGET_HOSTS_* (allow empty = any host; link-local
# and metadata addresses refused), checked at creation and at every delivery.
WEBHOOK_HOSTS_ALLOW = env.list("WEBHOOK_HOSTS_ALLOW", default=[])
WEBHOOK_HOSTS_DENY = env.list("WEBHOOK_HOSTS_DENY", default=_HOSTS_DENY_DEFAULT)
WEBHOOK_TIMEOUT_S = env.float("WEBHOOK_TIMEOUT_S", default=10.0)
# A failed webhook POST (network error, 429 or 5xx) is tried again this many
# times, WEBHOOK_RETRY_DELAY_S apart, doubling.
WEBHOOK_RETRIES = env.int("WEBHOOK_RETRIES", default=3)
WEBHOOK_RETRY_DELAY_S = env.float("WEBHOOK_RETRY_DELAY_S", default=2.0)
# Rows of the answer a delivery carries (never any on a schema-tier connection).
SCHEDULE_DELIVERY_ROWS = env.int("SCHEDULE_DELIVERY_ROWS", default=20)
# After this many failed runs in a row the owner gets one email; after
# SCHEDULE_FAILURES_PAUSE the schedule pauses itself.
SCHEDULE_FAILURES_NOTIFY = env.int("SCHEDULE_FAILURES_NOTIFY", default=3)
SCHEDULE_FAILURES_PAUSE = env.int("SCHEDULE_FAILURES_PAUSE", default=5)
# Without a broker (no beat), the web process dispatches due slots after a
# request, at most every 30 s (NO_BROKER_CHORES, conf/queue.py).
SCHEDULES_DISPATCH_IN_PROCESS = env.bool("SCHEDULES_DISPATCH_IN_PROCESS", default=True)
