"""Turns left running by a worker that died: found and closed, so none runs
forever."""

from __future__ import annotations

import logging
import os
import socket
import time
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from agent.exceptions import AgentInterrupted
from agent.models import Turn, TurnStatus

logger = logging.getLogger(__name__)

HOSTNAME = socket.gethostname()
_worker_checked = False
# The age sweep of `turns_fail_orphaned` runs at most this often per process on
# the ask path: it only catches turns older than the longest ask (minutes), and
# dead workers' turns are closed at boot and by gunicorn's child_exit hook.
ORPHAN_SWEEP_INTERVAL_S = 60.0
_swept_at: float | None = None


def worker_id() -> str:
    return f"{HOSTNAME}:{os.getpid()}"


def turns_fail_orphaned_now_and_then() -> None:
    """Run the sweep on the ask path, at most every ORPHAN_SWEEP_INTERVAL_S."""
    global _swept_at
    now = time.monotonic()
    if _swept_at is not None and now - _swept_at < ORPHAN_SWEEP_INTERVAL_S:
        return
    _swept_at = now
    turns_fail_orphaned()


def turns_fail_orphaned() -> int:
    """Close turns left running by a worker that died, so none runs forever.

    On this host, a turn whose worker process is gone is failed at once; any
    running turn older than the longest an ask can take is failed too.
    """
    global _worker_checked
    fields = _interrupted_fields()
    closed = 0
    if not _worker_checked:
        _worker_checked = True
        running = Turn.objects.filter(
            status=TurnStatus.RUNNING, worker__startswith=f"{HOSTNAME}:"
        ).values_list("id", "worker")
        dead = [pk for pk, worker in running if not _process_alive(worker)]
        if dead:
            closed += Turn.objects.filter(
                pk__in=dead, status=TurnStatus.RUNNING
            ).update(**fields)
    # The model's budget for the whole ask, its queries, and a minute of slack
    # (retry back-offs, finishing the turn).
    longest = timedelta(
        seconds=settings.LLM_ASK_BUDGET_S
        + settings.QUERY_TIMEOUT_S * settings.AGENT_MAX_STEPS
        + 60
    )
    closed += Turn.objects.filter(
        status=TurnStatus.RUNNING, created_at__lt=timezone.now() - longest
    ).update(**fields)
    if closed:
        logger.warning("closed %d interrupted turn(s)", closed)
    return closed


def turns_fail_of_worker(*, pid: int) -> int:
    """Close the turns left running by this host's worker `pid`, which has exited."""
    closed = Turn.objects.filter(
        status=TurnStatus.RUNNING, worker=f"{HOSTNAME}:{pid}"
    ).update(**_interrupted_fields())
    if closed:
        logger.warning("closed %d turn(s) of exited worker %s", closed, pid)
    return closed


def _interrupted_fields() -> dict[str, object]:
    interrupted = AgentInterrupted()
    return {
        "status": TurnStatus.ERROR,
        "error": interrupted.message,
        "error_code": interrupted.code,
        "finished_at": timezone.now(),
    }


def worker_gone(worker: str) -> bool:
    """Whether `worker` (host:pid) is a process of this host that has ended; a
    worker of another host is never known to be gone here."""
    return worker.startswith(f"{HOSTNAME}:") and not _process_alive(worker)


def _process_alive(worker: str) -> bool:
    try:
        pid = int(worker.rsplit(":", 1)[1])
    except (IndexError, ValueError):
        return True
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A killed worker whose parent died too may linger as a zombie that nobody
    # reaps; signal 0 still reaches it, but it will never finish its turn.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[:1] != ["Z"]
