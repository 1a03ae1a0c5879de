"""Conversation memory: a Thread per session UUID, a Turn per question."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from connections.models import DatabaseConnection


class Thread(models.Model):
    """A conversation; its id is the session UUID it was asked in."""

    id = models.UUIDField(primary_key=True, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="threads"
    )
    db_connection = models.ForeignKey(
        DatabaseConnection,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="threads",
    )
    title = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at"]
        indexes = [models.Index(fields=["user", "-updated_at"])]

    def __str__(self) -> str:
        return self.title or str(self.id)


class TurnStatus(models.TextChoices):
    RUNNING = "running", "Running"
    OK = "ok", "OK"
    ERROR = "error", "Error"


class Turn(models.Model):
    """One question, the queries the agent ran for it, and its answer or error."""

    thread = models.ForeignKey(Thread, on_delete=models.CASCADE, related_name="turns")
    question = models.TextField()
    answer = models.TextField(blank=True)
    # [{sql, row_count, truncated, duration_ms, error}, ...] in the order run.
    queries = models.JSONField(default=list, blank=True)
    # The last successful query's rows: {columns, rows, row_count, truncated}.
    result = models.JSONField(null=True, blank=True)
    status = models.CharField(
        max_length=10, choices=TurnStatus.choices, default=TurnStatus.RUNNING
    )
    error = models.TextField(blank=True)
    error_code = models.CharField(max_length=50, blank=True)
    duration_ms = models.FloatField(null=True, blank=True)
    model = models.CharField(max_length=200, blank=True)
    llm_calls = models.PositiveIntegerField(default=0)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    # Which process ran it, so a restarted worker can fail its orphans.
    worker = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["thread", "created_at"]),
            models.Index(fields=["status", "created_at"]),
        ]

    def __str__(self) -> str:
        return self.question[:80]
