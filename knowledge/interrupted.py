"""Evaluation runs a web process ran without a broker and did not finish (a
graceful reload, a killed worker, a restart): resumed by another, never left
running nor closed early, every question counted once.

Without a broker a run is claimed by one web process (`worker` host:pid,
`heartbeat_at`). A run is free to claim again when its process let it go (it
saw the interpreter shutting down, or the gunicorn master saw it exit), when
that process is gone from this host, or when it has been silent for longer
than a question can take (its host died). A sweep on the web process's
requests (and at each worker's start) claims the free runs and resumes them on
the in-process pool, where they carry on from their stored results
(`run_execute` is resumable; a result is stored once per position).

With a broker none of this applies: Celery delivers the task again (late acks).
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError
from django.db.models import Q
from django.utils import timezone

from agent.orphans import HOSTNAME, worker_gone, worker_id
from knowledge.models import EvaluationRun, RunStatus
from sqlagent_project.queue import Every, broker_configured, enqueue

logger = logging.getLogger(__name__)

# The sweep runs at most this often per process, after a response.
RESUME_INTERVAL_S = 15.0
# A run never claimed (created, not yet queued) is left this long to the process
# creating it.
UNCLAIMED_GRACE = timedelta(minutes=1)

_lock = threading.Lock()
# Runs this process claimed (queued on its pool or running), and those running.
_claimed: set[int] = set()
_executing: set[int] = set()
_sweeps = Every(RESUME_INTERVAL_S)


def silent_limit() -> timedelta:
    """Return how long a claimed run may go without a heartbeat: the longest
    one question can take, with its retries and their back-off."""
    question = (
        settings.LLM_ASK_BUDGET_S
        + settings.QUERY_TIMEOUT_S * (settings.AGENT_MAX_STEPS + 1)
        + 60
    )
    tries = settings.EVALUATION_QUESTION_RETRIES + 1
    backoff = settings.EVALUATION_RETRY_DELAY_S * 2**tries
    return timedelta(seconds=question * tries + backoff)


def _free() -> Q:
    """Runs no live process holds: released, silent, or of a gone process."""
    running = EvaluationRun.objects.filter(
        status=RunStatus.RUNNING, worker__startswith=f"{HOSTNAME}:"
    ).values_list("worker", flat=True)
    gone = {worker for worker in running if worker_gone(worker)}
    now = timezone.now()
    return (
        # Let go (it was claimed once, so it has a heartbeat) ...
        Q(worker="", heartbeat_at__isnull=False)
        # ... or never claimed: its process died between creating and queuing it.
        | Q(worker="", started_at__lt=now - UNCLAIMED_GRACE)
        | Q(worker__in=gone)
        | Q(heartbeat_at__lt=now - silent_limit())
        # This very process (a reused pid, or its own earlier claim lost).
        | Q(worker=worker_id())
    )


def run_claim(*, run_id: int, new: bool = False) -> bool:
    """Claim a running run for this process; False if this process has it
    already or a live process does. `new`: this process was asked to run it,
    so a run never claimed yet is its to take at once."""
    with _lock:
        if run_id in _claimed:
            return False
        _claimed.add(run_id)
    free = _free()
    if new:
        free |= Q(worker="", heartbeat_at__isnull=True)
    taken = (
        EvaluationRun.objects.filter(pk=run_id, status=RunStatus.RUNNING)
        .filter(free)
        .update(worker=worker_id(), heartbeat_at=timezone.now())
    )
    if not taken:
        with _lock:
            _claimed.discard(run_id)
    return bool(taken)


def run_enter(*, run_id: int) -> bool:
    """Start running a run here: claimed by this process and still its (or
    claimed now); False if it runs here already or another process holds it."""
    with _lock:
        if run_id in _executing:
            return False
        _executing.add(run_id)
        claimed = run_id in _claimed
    # A claim made when it was queued may have been lost since (queued too
    # long behind other work, it fell silent and another host took it).
    if claimed:
        held = run_heartbeat(run_id=run_id)
    else:
        held = run_claim(run_id=run_id, new=True)
    if not held:
        run_leave(run_id=run_id)
    return held


def run_leave(*, run_id: int) -> None:
    """This process no longer runs the run (finished, released or lost)."""
    with _lock:
        _executing.discard(run_id)
        _claimed.discard(run_id)


def run_heartbeat(*, run_id: int) -> bool:
    """Say this process is at the run; False if another has claimed it since
    (it was silent too long), which then finishes it."""
    return bool(
        EvaluationRun.objects.filter(
            pk=run_id, status=RunStatus.RUNNING, worker=worker_id()
        ).update(heartbeat_at=timezone.now())
    )


def run_release(*, run_id: int) -> None:
    """Let the next process resume the run (this one is shutting down)."""
    EvaluationRun.objects.filter(
        pk=run_id, status=RunStatus.RUNNING, worker=worker_id()
    ).update(worker="")
    logger.warning("evaluation run %s released for another process", run_id)


def runs_release_of_worker(*, pid: int) -> int:
    """Release the runs this host's web worker `pid` held when it exited (the
    gunicorn master calls it): the next sweep resumes them. Return how many."""
    released = EvaluationRun.objects.filter(
        status=RunStatus.RUNNING, worker=f"{HOSTNAME}:{pid}"
    ).update(worker="")
    if released:
        logger.warning("released %d evaluation run(s) of worker %s", released, pid)
    return released


def runs_resume_interrupted() -> list[int]:
    """Claim every interrupted run and queue it here again; return their ids."""
    if broker_configured():
        return []
    from knowledge.tasks import evaluation_run

    with _lock:
        mine = set(_claimed)
    candidates = (
        EvaluationRun.objects.filter(status=RunStatus.RUNNING)
        .filter(_free())
        .exclude(pk__in=mine)
        .values_list("pk", flat=True)
    )
    resumed = [pk for pk in candidates if run_claim(run_id=pk)]
    for pk in resumed:
        logger.warning("evaluation run %s resumed by %s", pk, worker_id())
        enqueue(evaluation_run, run_id=pk)
    return resumed


def resume_now_and_then() -> list[int]:
    """Resume the interrupted runs here unless this process looked lately (one
    query; a task only for a run found). Return the runs resumed."""
    if not _sweeps.due():
        return []
    try:
        return runs_resume_interrupted()
    except DatabaseError:
        # After a response: the app database's trouble is not this request's.
        logger.warning("could not look for interrupted evaluation runs", exc_info=True)
        return []
