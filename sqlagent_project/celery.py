"""The Celery application: background work (evaluation runs, knowledge prefill,
scheduled questions, the sweep of interrupted turns) on a queue.

With `CELERY_BROKER_URL` set (Redis in production) tasks go to the broker and a
`celery -A sqlagent_project worker` runs them; without one (the `make run`
default) they run in the web process (sqlagent_project/queue.py). Task state is
kept in the app database (django-celery-results), schedules too (django-celery-beat).
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

from celery import Celery
from celery.signals import worker_init, worker_shutdown

logger = logging.getLogger(__name__)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sqlagent_project.settings")

app = Celery("sqlagent_project")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


_alive_stop = threading.Event()


@worker_init.connect
def _worker_alive_start(**_: Any) -> None:
    """Say, every WORKER_BEAT_INTERVAL_S, that this worker is alive (/health)."""
    _alive_stop.clear()
    threading.Thread(
        target=_worker_alive_loop, name="worker-alive", daemon=True
    ).start()


@worker_shutdown.connect
def _worker_alive_stop(**_: Any) -> None:
    _alive_stop.set()


def _worker_alive_loop() -> None:
    from django.db import connection

    from sqlagent_project.queue import WORKER_BEAT_INTERVAL_S, worker_seen_now

    while not _alive_stop.is_set():
        try:
            worker_seen_now()
        except Exception:
            logger.warning("could not record that the worker is alive", exc_info=True)
        finally:
            connection.close()
        _alive_stop.wait(WORKER_BEAT_INTERVAL_S)
