"""Scheduled questions: asked afresh on a timetable and delivered by email and
webhook; one ScheduleRun per time slot."""

from __future__ import annotations

import secrets
import uuid

from django.conf import settings
from django.db import models

from agent.models import Turn
from connections.models import DatabaseConnection


class Every(models.TextChoices):
    DAY = "day", "Every day"
    WEEK = "week", "Every week"
    MONTH = "month", "Every month"
    CRON = "cron", "Cron expression"


# What a user may set (POST and PATCH); the rest is the service's. The one list
# the services, the API's serializers and the page's form are held to.
SCHEDULE_FIELDS = [
    "question",
    "every",
    "at",
    "weekday",
    "day",
    "cron",
    "timezone",
    "email",
    "webhook_url",
    "paused",
]


def _webhook_secret() -> str:
    return secrets.token_urlsafe(32)


class Schedule(models.Model):
    """A question asked on one of the owner's connections at set times."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="schedules"
    )
    connection = models.ForeignKey(
        DatabaseConnection, on_delete=models.CASCADE, related_name="schedules"
    )
    question = models.TextField()
    every = models.CharField(max_length=5, choices=Every.choices)
    # Local time of day in `timezone` (day, week, month).
    at = models.TimeField(null=True, blank=True)
    # 0 = Monday … 6 = Sunday (week).
    weekday = models.PositiveSmallIntegerField(null=True, blank=True)
    # 1 … 28 (month): every month has it.
    day = models.PositiveSmallIntegerField(null=True, blank=True)
    cron = models.CharField(max_length=100, blank=True)
    timezone = models.CharField(max_length=64, default="UTC")
    email = models.BooleanField(default=True)
    webhook_url = models.URLField(max_length=2000, blank=True)
    # Signs each webhook body (X-SQLAgent-Signature); shown once, at creation.
    webhook_secret = models.CharField(
        max_length=64, default=_webhook_secret, editable=False
    )
    # The schedule's own conversation: each run is a turn in it.
    thread_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    paused = models.BooleanField(default=False)
    paused_reason = models.CharField(max_length=300, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    # The owner was emailed about the current run of failures.
    failures_notified = models.BooleanField(default=False)
    next_run_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["paused", "next_run_at"])]

    def __str__(self) -> str:
        return f"{self.get_every_display()}: {self.question[:60]}"

    @property
    def weekday_name(self) -> str:
        """The weekday's English name (Monday for 0), or "" when none is set."""
        names = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]
        names += ["Saturday", "Sunday"]
        return names[self.weekday] if self.weekday is not None else ""


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    OK = "ok", "Answered"
    FAILED = "failed", "Failed"


class Delivery(models.TextChoices):
    NONE = "", "Not asked for"
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"
    # Refused by the host policy, or nothing to send.
    SKIPPED = "skipped", "Skipped"


class ScheduleRun(models.Model):
    """One time slot of a schedule: asked once and delivered once."""

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", "On schedule"
        MANUAL = "manual", "Run now"

    schedule = models.ForeignKey(
        Schedule, on_delete=models.CASCADE, related_name="runs"
    )
    # The time slot (UTC) this run stands for; "run now" uses the request time.
    slot = models.DateTimeField()
    trigger = models.CharField(max_length=10, choices=Trigger.choices)
    status = models.CharField(
        max_length=10, choices=RunStatus.choices, default=RunStatus.QUEUED
    )
    turn = models.ForeignKey(Turn, on_delete=models.SET_NULL, null=True, blank=True)
    answer = models.TextField(blank=True)
    row_count = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    email_status = models.CharField(
        max_length=10, choices=Delivery.choices, blank=True, default=Delivery.NONE
    )
    email_error = models.TextField(blank=True)
    webhook_status = models.CharField(
        max_length=10, choices=Delivery.choices, blank=True, default=Delivery.NONE
    )
    webhook_error = models.TextField(blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-slot", "-id"]
        constraints = [
            # The idempotency key of a delivery: one run per schedule and slot.
            models.UniqueConstraint(
                fields=["schedule", "slot"], name="schedules_run_once_per_slot"
            )
        ]

    def __str__(self) -> str:
        return f"{self.schedule_id} @ {self.slot:%Y-%m-%d %H:%M} {self.status}"
