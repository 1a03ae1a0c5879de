"""Production serving: `.venv/bin/gunicorn -c sqlagent_project/gunicorn.conf.py
sqlagent_project.wsgi`.

Every value can be changed with an environment variable; the defaults suit a
small host. Put a TLS-terminating proxy in front (it sets X-Forwarded-Proto).
"""

from __future__ import annotations

import gc
import logging
import os
from typing import Any

bind = [
    f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}",
]
# Import Django and LangChain (about 1 s) once in the master, then fork.
preload_app = True
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# gthread with deadlines on a request's arrival (sqlagent_project/gunicorn_worker.py).
# Threads, because most of an /ask is spent waiting for the LLM: a worker
# keeps serving other requests meanwhile. Many of them: a waiting ask costs a
# thread and some memory, no app-database connection (it hands it back to the
# pool while the model thinks) and no CPU. See README "Benchmarks" for the
# measurements behind these defaults (gevent was not chosen: not every driver
# here is proven safe under it).
worker_class = "sqlagent_project.gunicorn_worker.DeadlineThreadWorker"
threads = int(os.environ.get("GUNICORN_THREADS", "512"))
# Accepted connections per worker (waiting ones queue here, not in errors).
worker_connections = int(os.environ.get("GUNICORN_WORKER_CONNECTIONS", "1000"))
# Each worker listens on its own socket: the kernel spreads new connections
# evenly instead of the idlest-looking worker taking them all.
reuse_port = True
# A gthread worker keeps its heartbeat while a request waits on the LLM, so this
# only kills a worker that is truly stuck.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "120"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
# Slow clients: a request's headers must arrive within REQUEST_HEADER_TIMEOUT_S
# of their first byte (gathered without holding a thread), its body within
# REQUEST_BODY_TIMEOUT_S of the headers (read before the app runs; else 408).
request_header_timeout_s = float(os.environ.get("REQUEST_HEADER_TIMEOUT_S", "10"))
request_body_timeout_s = float(os.environ.get("REQUEST_BODY_TIMEOUT_S", "30"))
# Short keep-alive: a client is not pinned to one busy worker for long.
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "2"))
# Recycling workers is off: a recycle drops the worker's kept-alive connections
# (a client sending on one sees a reset) and its engine cache. Set a number of
# requests to recycle after, should memory grow; jitter spreads the restarts.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "0"))
max_requests_jitter = max_requests // 10
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")


# Python's garbage collector, tuned for a server holding hundreds of asks in
# flight (measured at N = 500, README "Benchmarks"). With the defaults (700, 10,
# 10) each ask's objects outlived two young passes and were promoted, so a full
# pass over every live object (250-650 ms, all threads stopped) came every few
# seconds: the probes' slowest answers. A young generation of 10,000 lets an
# ask's objects die young; passes are rarer and none took over 200 ms. Empty for
# Python's defaults.
gc_thresholds = [
    int(part)
    for part in os.environ.get("GC_THRESHOLDS", "10000,10,10").split(",")
    if part.strip()
]


def when_ready(server: Any) -> None:
    """After the app is imported, before the workers fork: freeze what is loaded.

    Django, LangChain and their imports (some 280,000 objects) live as long as
    the process; frozen, no collection looks at them again, and the workers
    do not copy the pages a collection would touch.
    """
    gc.freeze()


def post_fork(server: Any, worker: Any) -> None:
    if gc_thresholds:
        gc.set_threshold(*gc_thresholds)
    if worker is not None:
        from django.conf import settings

        worker.header_timeout_s = request_header_timeout_s
        worker.body_timeout_s = request_body_timeout_s
        # A body up to the app's own limit is read before the app runs.
        worker.body_buffer_max = settings.REQUEST_MAX_BYTES


def post_worker_init(worker: Any) -> None:
    """Without a broker, resume at once the evaluation runs an earlier worker
    left (a reload, a kill): the new worker claims them (knowledge/interrupted)."""
    try:
        from django.db import connection

        from knowledge.interrupted import resume_now_and_then
        from sqlagent_project.queue import broker_configured

        if not broker_configured():
            resume_now_and_then()
        connection.close()  # this thread serves no request: hold no connection
    except Exception:  # a hook must never keep the worker from serving
        logging.getLogger(__name__).exception("post_worker_init hook failed")


def child_exit(server: Any, worker: Any) -> None:
    """Fail the turns a worker left running (and release its evaluation runs
    for the next worker to resume), as soon as the master sees it exit.

    A worker killed mid-/ask (SIGKILL, OOM, timeout) cannot close its own turn;
    the master can, so the turn does not wait for the next boot.
    """
    try:
        from django.db import DatabaseError

        from agent.orphans import turns_fail_of_worker
        from knowledge.interrupted import runs_release_of_worker
        from sqlagent_project.capacity import app_database_pools_close

        try:
            turns_fail_of_worker(pid=worker.pid)
            # Evaluation runs it ran without a broker: resumed by the next.
            runs_release_of_worker(pid=worker.pid)
        except DatabaseError:
            logging.getLogger(__name__).warning(
                "could not close the turns of worker %s", worker.pid, exc_info=True
            )
        finally:
            # The master serves no requests: hold no database connection, and
            # no connection pool either (its threads would not survive a fork).
            app_database_pools_close()
    except Exception:  # a hook must never take the master down
        logging.getLogger(__name__).exception("child_exit hook failed")
