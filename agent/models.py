"""Conversation memory: a Thread per session UUID, a Turn per question."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone

from connections.models import DatabaseConnection
from sqlagent_project.errors import ApplicationError


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
    # Stopped by its owner (POST /ask/{id}/cancel) or because its client left.
    CANCELLED = "cancelled", "Cancelled"


@dataclass(frozen=True)
class TurnOutcome:
    """What answering produced. Each field is the Turn field of the same name, so
    a new outcome field is one edit here plus the model field."""

    answer: str = ""
    # [{sql, row_count, truncated, duration_ms, error}, ...] in the order run.
    queries: list[dict[str, Any]] = field(default_factory=list)
    # The last successful query's rows: {columns, column_types, rows, ...}.
    result: dict[str, Any] | None = None
    # A Vega-Lite v5 spec for the result, or None (agent/charts.py).
    chart: dict[str, Any] | None = None
    model: str = ""
    llm_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    # False when no successful query stands behind the answer (agent/grounding.py).
    grounded: bool = True
    # The model's last reply stopped at the token cap (finish_reason "length").
    cut_off: bool = False
    # Empty results explained before the answer (agent/empty_results.py):
    # [{sql, true_negative, checks: [{table, column, op, literal, found, close}]}].
    diagnosis: list[dict[str, Any]] = field(default_factory=list)
    # A reasoning model's thoughts (bounded; for the admin, never the answer)
    # and their tokens.
    reasoning: str = ""
    reasoning_tokens: int = 0
    # How the model was asked for SQL: "native" tool calls or the "text" protocol.
    protocol: str = ""
    # The tables the first request described and why (agent/context.py):
    # [{table, why}], why one of "named in the question", "a value the
    # question names", "retrieved", "<table> references it".
    described_tables: list[dict[str, str]] = field(default_factory=list)


class TurnSource(models.TextChoices):
    ASK = "ask", "Question to the agent"
    SQL = "sql", "SQL written or edited by the user"


class Turn(models.Model):
    """One question, the queries the agent ran for it, and its answer or error."""

    thread = models.ForeignKey(Thread, on_delete=models.CASCADE, related_name="turns")
    question = models.TextField()
    # A question to the agent, or SQL the user ran (then `question` is the SQL).
    source = models.CharField(
        max_length=10, choices=TurnSource.choices, default=TurnSource.ASK
    )
    answer = models.TextField(blank=True)
    # [{sql, row_count, truncated, duration_ms, error}, ...] in the order run.
    queries = models.JSONField(default=list, blank=True)
    # The last successful query's rows: {columns, rows, row_count, truncated}.
    result = models.JSONField(null=True, blank=True)
    # A Vega-Lite v5 spec built from `result` by agent/charts.py, or null.
    chart = models.JSONField(null=True, blank=True)
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
    # False when no successful query stands behind the answer.
    grounded = models.BooleanField(default=True)
    # The model's last reply stopped at LLM_MAX_TOKENS: the answer is incomplete.
    cut_off = models.BooleanField(default=False)
    # Empty results explained to the model before it answered (TurnOutcome).
    diagnosis = models.JSONField(default=list, blank=True)
    # A reasoning model's thoughts (<think>, reasoning_content), bounded by
    # LLM_REASONING_MAX_CHARS: shown to the admin only, never in the answer.
    reasoning = models.TextField(blank=True)
    reasoning_tokens = models.PositiveIntegerField(default=0)
    # Which protocol answered: native tool calls or text (agent/llm/text_protocol).
    protocol = models.CharField(max_length=10, blank=True)
    # Which tables the first request described and why (TurnOutcome).
    described_tables = models.JSONField(default=list, blank=True)
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

    def finish(
        self,
        *,
        started: float,
        outcome: TurnOutcome | None = None,
        error: ApplicationError | None = None,
    ) -> None:
        """Record how the turn ended and save only what ending changes.

        `started` is the `time.perf_counter()` reading taken when work began.
        A failed turn keeps what its outcome holds so far (the SQL it ran).
        """
        changed = ["status", "error", "error_code", "duration_ms", "finished_at"]
        if outcome is not None:
            for outcome_field in dataclasses.fields(outcome):
                setattr(self, outcome_field.name, getattr(outcome, outcome_field.name))
                changed.append(outcome_field.name)
        if error is None:
            self.status = TurnStatus.OK
        else:
            self.status = (
                TurnStatus.CANCELLED if error.code == "cancelled" else TurnStatus.ERROR
            )
            self.error = error.message
            self.error_code = error.code
        self.duration_ms = round((time.perf_counter() - started) * 1000, 1)
        self.finished_at = timezone.now()
        with transaction.atomic():
            self.save(update_fields=changed)
            Thread.objects.filter(pk=self.thread_id).update(updated_at=self.finished_at)


class TurnShare(models.Model):
    """A turn shared with the team of its connection: a link its members open."""

    turn = models.ForeignKey(Turn, on_delete=models.CASCADE, related_name="shares")
    team = models.ForeignKey(
        "teams.Team", on_delete=models.CASCADE, related_name="shared_turns"
    )
    # The link's unguessable part (the turn id alone would be enumerable).
    token = models.CharField(max_length=43, unique=True)
    shared_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["turn", "team"], name="one_share_per_turn_and_team"
            )
        ]

    def __str__(self) -> str:
        return f"turn {self.turn_id} shared with {self.team_id}"
