"""The task queue (Celery, or a thread pool without a broker) and periodic work."""

from __future__ import annotations

from sqlagent_project.conf.environment import env

# TASK QUEUE (Celery; sqlagent_project/celery.py and queue.py)
# The broker, e.g. redis://127.0.0.1:6379/2. Empty (the default): background work
# runs on a thread pool in the web process and nothing more is needed.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="")
# Task state and results in the app database (the admin lists them).
CELERY_RESULT_BACKEND = "django-db"
CELERY_RESULT_EXTENDED = True
CELERY_TASK_TRACK_STARTED = True
# The in-process path records its runs too.
CELERY_TASK_STORE_EAGER_RESULT = True
# Acknowledged when done, not when taken: a worker killed mid-task leaves it to
# be delivered again (after the visibility timeout) to another worker.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Seconds an unacknowledged task waits before Redis gives it to another worker:
# longer than the longest task (an evaluation run resumes where it stopped, so
# a second delivery of a live run only repeats no question).
CELERY_VISIBILITY_TIMEOUT_S = env.int("CELERY_VISIBILITY_TIMEOUT_S", default=3600)
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_VISIBILITY_TIMEOUT_S}
CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = CELERY_BROKER_TRANSPORT_OPTIONS
CELERY_TIMEZONE = "UTC"
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Schedules live in the app database (django-celery-beat): one `beat` for all hosts.
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Periodic work beat sends (kept in the app database by the scheduler above).
CELERY_BEAT_SCHEDULE = {
    "turns-fail-orphaned": {"task": "agent.turns_fail_orphaned", "schedule": 60.0},
    "schedules-dispatch-due": {"task": "schedules.dispatch_due", "schedule": 30.0},
}
# Without a broker there is no beat: each web process does the periodic work
# itself after a response (NoBrokerChoresMiddleware), every chore at most once
# per its interval, while the setting named beside it is on.
NO_BROKER_CHORES = [
    # Resume evaluation runs a process left (a reload, a kill): every 15 s.
    ("EVALUATION_RESUME_IN_PROCESS", "knowledge.interrupted.resume_now_and_then"),
    # Dispatch the schedules' due slots: every 30 s.
    ("SCHEDULES_DISPATCH_IN_PROCESS", "schedules.tasks.dispatch_now_and_then"),
]
# THE SHARED SCHEMA CATALOG of big databases (agent/catalog_store.py). With a
# broker, the catalog (table and view names, column names and types; never a
# value) of a database of at least CATALOG_SHARED_MIN_TABLES tables (0: every
# database) is read once per connection version by a worker task and kept in the
# shared cache (CACHE_URL) for CATALOG_MAX_AGE_S seconds; every web process on
# every host starts from it instead of reading the database itself. A request
# waits up to CATALOG_BUILD_WAIT_S for the worker, then reads for itself (at once
# when no worker was seen lately). Without a broker each process reads its own.
CATALOG_SHARED_MIN_TABLES = env.int("CATALOG_SHARED_MIN_TABLES", default=200)
CATALOG_BUILD_WAIT_S = env.float("CATALOG_BUILD_WAIT_S", default=20.0)
CATALOG_MAX_AGE_S = env.int("CATALOG_MAX_AGE_S", default=3600)
# Threads of the in-process path (no broker) running background tasks.
TASKS_IN_PROCESS_WORKERS = env.int("TASKS_IN_PROCESS_WORKERS", default=2)
# /health calls the queue healthy while a worker answered within this many seconds.
CELERY_WORKER_SEEN_S = env.int("CELERY_WORKER_SEEN_S", default=120)
