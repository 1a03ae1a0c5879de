"""Running one slot of a schedule: asked afresh within the owner's rights,
delivered once per channel, failures in a row counted."""

from __future__ import annotations

import logging
from datetime import timedelta
from types import SimpleNamespace

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.http import Http404
from django.utils import timezone

from accounts.models import User
from agent.models import Turn
from agent.services import thread_ask_scheduled
from connections.selectors import ConnectionAccess, connection_get_for_user
from schedules import delivery
from schedules.chart_image import chart_png
from schedules.models import Delivery, RunStatus, Schedule, ScheduleRun
from sqlagent_project.errors import ApplicationError
from sqlagent_project.throttling import ScopedSettingsThrottle

logger = logging.getLogger(__name__)


def _longest_ask() -> timedelta:
    return timedelta(
        seconds=settings.LLM_ASK_BUDGET_S
        + settings.QUERY_TIMEOUT_S * settings.AGENT_MAX_STEPS
        + 60
    )


def _claim(run_id: int) -> ScheduleRun | None:
    """Take the run for this worker, or None when it is finished or another
    worker is running it (a second delivery of a live task)."""
    with transaction.atomic():
        run = (
            ScheduleRun.objects.select_for_update()
            .select_related("schedule__owner", "schedule__connection")
            .filter(pk=run_id)
            .first()
        )
        if run is None:
            return None
        if (
            run.status == RunStatus.RUNNING
            and run.started_at
            and (timezone.now() - run.started_at < _longest_ask())
        ):
            return None
        if run.status in (RunStatus.OK, RunStatus.FAILED) and Delivery.PENDING not in (
            run.email_status,
            run.webhook_status,
        ):
            return None
        if run.status in (RunStatus.QUEUED, RunStatus.RUNNING):
            run.status = RunStatus.RUNNING
            run.started_at = timezone.now()
            run.save(update_fields=["status", "started_at"])
        return run


def schedule_run_execute(*, run_id: int) -> ScheduleRun | None:
    """Ask the run's question (unless a previous delivery did) and deliver it
    on each channel not yet delivered. Idempotent."""
    run = _claim(run_id)
    if run is None:
        return None
    schedule = run.schedule
    if run.status == RunStatus.RUNNING:
        _ask(run)
    _deliver(run)
    run.finished_at = timezone.now()
    run.save()
    _failures_account(schedule, run)
    return run


def _ask(run: ScheduleRun) -> None:
    schedule = run.schedule
    owner = schedule.owner
    try:
        if not owner.is_active:
            raise Http404
        # The owner's rights as they stand today, not when it was scheduled.
        connection = connection_get_for_user(
            user=owner, connection_id=schedule.connection_id, need=ConnectionAccess.USE
        )
    except Http404:
        run.status = RunStatus.FAILED
        run.error = "The connection is no longer yours to ask: the schedule stopped."
        _pause(schedule, reason=run.error, tell_owner=True)
        return
    if not _ask_budget_take(owner):
        run.status = RunStatus.FAILED
        run.error = (
            "Your rate of questions (THROTTLE_ASK_RATE) was reached; "
            "this run was not asked."
        )
        return
    try:
        turn = thread_ask_scheduled(
            user=owner,
            connection=connection,
            thread_id=schedule.thread_id,
            question=schedule.question,
        )
    except ApplicationError as exc:
        run.status = RunStatus.FAILED
        run.error = exc.message[:500]
        # The turn this run stored as failed, if it got that far (never an
        # earlier run's).
        run.turn = (
            Turn.objects.filter(
                thread_id=schedule.thread_id, created_at__gte=run.started_at
            )
            .order_by("-id")
            .first()
        )
    else:
        run.status = RunStatus.OK
        run.turn = turn
        run.answer = turn.answer
        run.row_count = (turn.result or {}).get("row_count")
    if schedule.email and schedule.owner.email:
        run.email_status = Delivery.PENDING
    if schedule.webhook_url:
        run.webhook_status = Delivery.PENDING
    run.save()


class _AskScope:
    """Stands for the /ask view: the same throttle scope, so scheduled runs
    count against (and within) the owner's rate of questions."""

    throttle_scope = "ask"


def _ask_budget_take(owner: User) -> bool:
    """Count one question against the owner's ask rate; False when over it."""
    request = SimpleNamespace(user=owner, META={})
    return ScopedSettingsThrottle().allow_request(request, _AskScope())  # type: ignore[arg-type]


def _message(run: ScheduleRun, *, email: bool) -> delivery.Message:
    schedule = run.schedule
    turn = run.turn
    allowed = delivery.rows_may_leave(schedule.connection)
    result = (turn.result if turn else None) or {}
    sql = (
        next(
            (
                q["sql"]
                for q in reversed(turn.queries or [])
                if q.get("sql") and not q.get("error")
            ),
            "",
        )
        if turn
        else ""
    )
    limit = settings.SCHEDULE_DELIVERY_ROWS
    return delivery.Message(
        delivery_id=f"{schedule.pk}:{run.slot.isoformat()}",
        question=schedule.question,
        answer=run.answer if run.status == RunStatus.OK else run.error,
        sql=sql,
        columns=list(result.get("columns") or []) if allowed else [],
        rows=list(result.get("rows") or [])[:limit] if allowed else [],
        row_count=run.row_count,
        rows_withheld=not allowed and bool(result.get("rows")),
        turn_url=f"{settings.SITE_URL}/history/{schedule.thread_id}/",
        failed=run.status != RunStatus.OK,
        chart_png=chart_png(turn.chart) if turn and allowed and email else None,
    )


def _deliver(run: ScheduleRun) -> None:
    schedule = run.schedule
    message = _message(run, email=run.email_status == Delivery.PENDING)
    if run.email_status == Delivery.PENDING:
        try:
            delivery.email_send(
                to=schedule.owner.email,
                subject=f"SQLAgent: {schedule.question[:80]}",
                message=message,
            )
        except delivery.DeliveryFailed as exc:
            run.email_status, run.email_error = Delivery.FAILED, str(exc)
        else:
            run.email_status, run.email_error = Delivery.SENT, ""
        run.save(update_fields=["email_status", "email_error"])
    if run.webhook_status == Delivery.PENDING:
        try:
            delivery.webhook_post(
                url=schedule.webhook_url,
                secret=schedule.webhook_secret,
                message=message,
            )
        except delivery.WebhookRefused as exc:
            run.webhook_status, run.webhook_error = Delivery.SKIPPED, str(exc)
        except delivery.DeliveryFailed as exc:
            run.webhook_status, run.webhook_error = Delivery.FAILED, str(exc)
        else:
            run.webhook_status, run.webhook_error = Delivery.SENT, ""
        run.save(update_fields=["webhook_status", "webhook_error"])


def _failures_account(schedule: Schedule, run: ScheduleRun) -> None:
    """Count failed runs in a row: the owner is emailed once past
    SCHEDULE_FAILURES_NOTIFY, and the schedule pauses at SCHEDULE_FAILURES_PAUSE."""
    failed = (
        run.status == RunStatus.FAILED
        or Delivery.FAILED
        in (
            run.email_status,
            run.webhook_status,
        )
        or run.webhook_status == Delivery.SKIPPED
    )
    schedule.refresh_from_db()
    if not failed:
        if schedule.consecutive_failures or schedule.failures_notified:
            schedule.consecutive_failures = 0
            schedule.failures_notified = False
            schedule.save(update_fields=["consecutive_failures", "failures_notified"])
        return
    schedule.consecutive_failures += 1
    fields = ["consecutive_failures"]
    count = schedule.consecutive_failures
    if count >= settings.SCHEDULE_FAILURES_PAUSE and not schedule.paused:
        schedule.paused = True
        schedule.paused_reason = f"Paused after {count} failed runs in a row."
        fields += ["paused", "paused_reason"]
    if count >= settings.SCHEDULE_FAILURES_NOTIFY and not schedule.failures_notified:
        schedule.failures_notified = True
        fields.append("failures_notified")
        _tell_owner(
            schedule,
            f"Your scheduled question has failed {count} times in a row. "
            f"Last reason: {run.error or run.webhook_error or run.email_error}",
        )
    schedule.save(update_fields=[*fields, "updated_at"])


def _pause(schedule: Schedule, *, reason: str, tell_owner: bool) -> None:
    schedule.paused = True
    schedule.paused_reason = reason[:300]
    schedule.save(update_fields=["paused", "paused_reason", "updated_at"])
    if tell_owner:
        _tell_owner(schedule, reason)


def _tell_owner(schedule: Schedule, text: str) -> None:
    if not schedule.owner.email:
        return
    try:
        send_mail(
            subject=f"SQLAgent schedule: {schedule.question[:80]}",
            message=f"{text}\n\n{settings.SITE_URL}/schedules/",
            from_email=None,
            recipient_list=[schedule.owner.email],
        )
    except Exception:
        logger.warning("could not email the owner of schedule %s", schedule.pk)
