"""Creating schedules and finding the slots that are due (running one slot:
schedules/runs.py)."""

from __future__ import annotations

import contextlib
import logging
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import User
from connections.selectors import ConnectionAccess, connection_get_for_user
from schedules import delivery, timing
from schedules.exceptions import ScheduleInvalid
from schedules.models import SCHEDULE_FIELDS, RunStatus, Schedule, ScheduleRun
from sqlagent_project.queue import QueueUnavailable, enqueue

logger = logging.getLogger(__name__)


def _expression(schedule: Schedule) -> str:
    return timing.cron_for(
        every=schedule.every,
        at=schedule.at,
        weekday=schedule.weekday,
        day=schedule.day,
        cron=schedule.cron,
    )


def _next_run_set(schedule: Schedule, *, after: datetime) -> None:
    schedule.next_run_at = timing.next_slot(
        expression=_expression(schedule), timezone=schedule.timezone, after=after
    )


def schedule_create(*, owner: User, connection_id: int, **data: Any) -> Schedule:
    """Create a schedule on one of the owner's connections (404 otherwise);
    its timing and webhook host are checked now."""
    # Any member who may ask on a team connection may schedule a question on it.
    connection = connection_get_for_user(
        user=owner, connection_id=connection_id, need=ConnectionAccess.USE
    )
    schedule = Schedule(owner=owner, connection=connection)
    for name in SCHEDULE_FIELDS:
        if name in data:
            setattr(schedule, name, data[name])
    _validate(schedule)
    _next_run_set(schedule, after=timezone.now())
    schedule.save()
    logger.info("schedule created id=%s user=%s", schedule.pk, owner.pk)
    return schedule


def schedule_update(*, schedule: Schedule, **data: Any) -> Schedule:
    """Change a schedule's question, timing, channels or pause."""
    for name in SCHEDULE_FIELDS:
        if name in data:
            setattr(schedule, name, data[name])
    _validate(schedule)
    if "paused" in data and not data["paused"]:
        # Resumed by its owner: the failure count starts again.
        schedule.paused_reason = ""
        schedule.consecutive_failures = 0
        schedule.failures_notified = False
    _next_run_set(schedule, after=timezone.now())
    schedule.save()
    return schedule


def schedule_delete(*, schedule: Schedule) -> None:
    """Delete a schedule and its runs (its thread stays in the history)."""
    schedule.delete()


def _validate(schedule: Schedule) -> None:
    try:
        _expression(schedule)
        timing.zone(schedule.timezone)
        if schedule.webhook_url:
            delivery.webhook_check(schedule.webhook_url)
    except timing.TimingInvalid as exc:
        raise ScheduleInvalid(str(exc), extra={"field": exc.field}) from exc
    except delivery.WebhookRefused as exc:
        raise ScheduleInvalid(str(exc), extra={"field": "webhook_url"}) from exc


def schedule_run_now(*, schedule: Schedule) -> ScheduleRun:
    """Queue a run of the schedule now, outside its timetable."""
    run = ScheduleRun.objects.create(
        schedule=schedule, slot=timezone.now(), trigger=ScheduleRun.Trigger.MANUAL
    )
    transaction.on_commit(lambda: _enqueue_run(run.pk))
    return run


def _enqueue_run(run_id: int) -> None:
    from schedules.tasks import schedule_run

    try:
        enqueue(schedule_run, run_id=run_id)
    except QueueUnavailable as exc:
        # Shown as failed with its reason, never left queued for nobody.
        ScheduleRun.objects.filter(pk=run_id).update(
            status=RunStatus.FAILED, error=exc.message, finished_at=timezone.now()
        )
        raise


def schedules_dispatch_due(*, now: datetime | None = None) -> list[int]:
    """Create and queue the run of every slot that is due; return their ids.

    Safe to call from any number of hosts at once: each due schedule is
    claimed under a row lock (others skip it), and a slot's run is unique per
    schedule, so a slot is run once. Slots missed while nothing dispatched are
    not caught up: the next slot is counted from now.
    """
    now = now or timezone.now()
    queued: list[int] = []
    with transaction.atomic():
        due = (
            Schedule.objects.select_for_update(skip_locked=True)
            .filter(paused=False, next_run_at__lte=now)
            .order_by("next_run_at")[:100]
        )
        for schedule in due:
            slot = schedule.next_run_at
            if slot is None:  # the filter excludes it; for the type checker
                continue
            try:
                with transaction.atomic():
                    run = ScheduleRun.objects.create(
                        schedule=schedule,
                        slot=slot,
                        trigger=ScheduleRun.Trigger.SCHEDULE,
                    )
            except IntegrityError:
                run = None  # this slot was dispatched already
            _next_run_set(schedule, after=max(now, slot))
            schedule.save(update_fields=["next_run_at", "updated_at"])
            if run is not None:
                queued.append(run.pk)
    for run_id in queued:
        # A broker that refuses one marks that run failed; the others still go.
        with contextlib.suppress(QueueUnavailable):
            _enqueue_run(run_id)
    return queued
