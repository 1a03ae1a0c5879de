"""Scheduled questions on the queue: beat dispatches the due slots; a worker
runs each (idempotent: a slot is asked once and delivered once per channel)."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from schedules import runs, services
from sqlagent_project.queue import Every, enqueue

# Without a broker (no beat), after responses (NoBrokerChoresMiddleware).
DISPATCH_INTERVAL_S = 30.0
_dispatches = Every(DISPATCH_INTERVAL_S)


@shared_task(name="schedules.dispatch_due", acks_late=True)
def dispatch_due() -> list[int]:
    """Queue a run for every schedule whose slot is due."""
    return services.schedules_dispatch_due()


@shared_task(name="schedules.run", acks_late=True)
def schedule_run(*, run_id: int) -> dict[str, Any]:
    """Ask and deliver one slot of a schedule."""
    run = runs.schedule_run_execute(run_id=run_id)
    if run is None:
        return {"run_id": run_id, "skipped": True}
    return {
        "run_id": run_id,
        "status": run.status,
        "email": run.email_status,
        "webhook": run.webhook_status,
    }


def dispatch_now_and_then() -> bool:
    """Queue a dispatch of due slots here unless one was queued lately; say if so."""
    if not _dispatches.due():
        return False
    enqueue(dispatch_due)
    return True
