"""What a team knows about one connection, the sets it measures answers with,
the runs that measured them, and feedback on turns."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from agent.models import Turn
from connections.models import DatabaseConnection


class SchemaNote(models.Model):
    """A description of a table, or of one of its columns (column set)."""

    class Source(models.TextChoices):
        MANUAL = "manual", "Written by hand"
        DATABASE = "database", "The database's own comment"

    connection = models.ForeignKey(
        DatabaseConnection, on_delete=models.CASCADE, related_name="schema_notes"
    )
    table_name = models.CharField(max_length=255)
    column_name = models.CharField(max_length=255, blank=True)
    description = models.TextField()
    source = models.CharField(
        max_length=10, choices=Source.choices, default=Source.MANUAL
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["table_name", "column_name"]
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "table_name", "column_name"],
                name="knowledge_schemanote_unique_target",
            )
        ]

    def __str__(self) -> str:
        return (
            f"{self.table_name}.{self.column_name}"
            if self.column_name
            else self.table_name
        )


class Instruction(models.Model):
    """A short business rule or glossary entry the model should follow."""

    connection = models.ForeignKey(
        DatabaseConnection, on_delete=models.CASCADE, related_name="instructions"
    )
    text = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.text[:80]


class ExampleSource(models.TextChoices):
    MANUAL = "manual", "Added by hand"
    IMPORT = "import", "Imported from a file"
    TURN = "turn", "Saved from an answer"


class Example(models.Model):
    """A verified question -> SQL pair, retrieved into prompts of similar questions."""

    connection = models.ForeignKey(
        DatabaseConnection, on_delete=models.CASCADE, related_name="examples"
    )
    question = models.TextField()
    sql = models.TextField()
    instructions = models.TextField(blank=True)
    source = models.CharField(
        max_length=10, choices=ExampleSource.choices, default=ExampleSource.MANUAL
    )
    checked_at = models.DateTimeField(null=True, blank=True)
    last_check_ok = models.BooleanField(null=True, blank=True)
    last_check_error = models.TextField(blank=True)
    # A team analyst's proposal stays unverified (never retrieved into prompts
    # nor evaluated) until an admin of the team verifies it.
    verified = models.BooleanField(default=True)
    proposed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="proposed_examples",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.question[:80]


class KnowledgeVersion(models.Model):
    """A marker of a connection's knowledge, replaced on every change to it.

    Retrieval reads it (one indexed row) before each question and rebuilds its
    index only when it differs. A random token, not a counter: a rolled-back
    transaction or a reused connection id can never bring back an old value.
    """

    connection = models.OneToOneField(
        DatabaseConnection,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="knowledge_version",
    )
    token = models.CharField(max_length=32)

    def __str__(self) -> str:
        return f"knowledge of connection {self.connection_id}: {self.token}"


class GoldenSet(models.Model):
    """A named set of questions with gold SQL, kept apart from the examples."""

    connection = models.ForeignKey(
        DatabaseConnection, on_delete=models.CASCADE, related_name="golden_sets"
    )
    name = models.CharField(max_length=100)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "name"], name="knowledge_goldenset_unique_name"
            )
        ]

    def __str__(self) -> str:
        return self.name


class GoldenQuestion(models.Model):
    golden_set = models.ForeignKey(
        GoldenSet, on_delete=models.CASCADE, related_name="questions"
    )
    question = models.TextField()
    sql = models.TextField()
    instructions = models.TextField(blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.question[:80]


class RunStatus(models.TextChoices):
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    # Finished, but some questions could not be asked (model or database
    # unreachable, the worker shutting down): accuracy is over the answered ones.
    INCOMPLETE = "incomplete", "Incomplete"
    FAILED = "failed", "Failed"


class EvaluationRun(models.Model):
    """One pass of the agent over a golden set, scored by execution accuracy."""

    connection = models.ForeignKey(
        DatabaseConnection, on_delete=models.CASCADE, related_name="evaluation_runs"
    )
    # Empty: the connection's verified examples.
    set_name = models.CharField(max_length=100, blank=True)
    status = models.CharField(
        max_length=10, choices=RunStatus.choices, default=RunStatus.RUNNING
    )
    model = models.CharField(max_length=200, blank=True)
    prompt_version = models.CharField(max_length=64, blank=True)
    settings = models.JSONField(default=dict, blank=True)
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    correct = models.PositiveIntegerField(default=0)
    # Questions that could not be asked: outside `accuracy`, never counted wrong.
    unanswered = models.PositiveIntegerField(default=0)
    # Over the answered questions only (done - unanswered).
    accuracy = models.FloatField(null=True, blank=True)
    ci_low = models.FloatField(null=True, blank=True)
    ci_high = models.FloatField(null=True, blank=True)
    error = models.TextField(blank=True)
    # The web process that claimed it without a broker (host:pid), so a run its
    # process left (killed, reloaded) is claimed again and resumed by another
    # (knowledge/interrupted.py); empty when released for the next one, and on
    # a Celery worker, whose task is delivered again instead.
    worker = models.CharField(max_length=100, blank=True)
    # When that process last said it was at it (claimed, or scored a question):
    # a run silent for longer than a question can take is taken by another host.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"run {self.pk} on {self.set_name or 'examples'}"

    @property
    def answered(self) -> int:
        """Questions asked and scored: the accuracy's denominator."""
        if self.status == RunStatus.RUNNING:
            return self.done - self.unanswered
        return self.total - self.unanswered


class Outcome(models.TextChoices):
    CORRECT = "correct", "Correct"
    WRONG_ROWS = "wrong_rows", "Wrong rows"
    SQL_ERROR = "sql_error", "SQL error"
    REFUSED = "refused", "Refused"
    LLM_ERROR = "llm_error", "LLM error"
    UNGROUNDED = "ungrounded", "No query behind the answer"
    GOLD_ERROR = "gold_error", "Gold SQL failed"
    # The model or the database could not be reached (after retries), or the
    # process was shutting down: not asked, so neither right nor wrong.
    UNANSWERED = "unanswered", "Not asked (model or database unreachable)"


class EvaluationResult(models.Model):
    run = models.ForeignKey(
        EvaluationRun, on_delete=models.CASCADE, related_name="results"
    )
    position = models.PositiveIntegerField()
    question = models.TextField()
    gold_sql = models.TextField()
    generated_sql = models.TextField(blank=True)
    outcome = models.CharField(max_length=12, choices=Outcome.choices)
    gold_rows = models.JSONField(null=True, blank=True)
    returned_rows = models.JSONField(null=True, blank=True)
    answer = models.TextField(blank=True)
    error = models.TextField(blank=True)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    duration_ms = models.FloatField(default=0)
    # Schema linking (knowledge.linking): the tables the gold SQL reads, those
    # the first request described ([{table, why}]) and the gold ones it missed.
    gold_tables = models.JSONField(default=list, blank=True)
    described_tables = models.JSONField(default=list, blank=True)
    missed_tables = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["position"]
        constraints = [
            # A question re-run by a second delivery of the run is never
            # counted twice.
            models.UniqueConstraint(
                fields=["run", "position"], name="knowledge_result_once_per_position"
            )
        ]

    def __str__(self) -> str:
        return f"{self.outcome}: {self.question[:60]}"


class Feedback(models.Model):
    """A thumbs up or down on one turn, by the turn's owner."""

    class Rating(models.TextChoices):
        UP = "up", "👍"
        DOWN = "down", "👎"

    turn = models.OneToOneField(Turn, on_delete=models.CASCADE, related_name="feedback")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    rating = models.CharField(max_length=4, choices=Rating.choices)
    comment = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at"]

    def __str__(self) -> str:
        return f"{self.rating} on turn {self.turn_id}"


class ValueIndexStatus(models.TextChoices):
    BUILDING = "building", "Building"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"
    OFF = "off", "Off (privacy)"


class ValueIndex(models.Model):
    """The state of a connection's value index: when built, how big, and why
    not (a `schema`-tier connection gets none)."""

    connection = models.OneToOneField(
        DatabaseConnection,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="value_index",
    )
    status = models.CharField(
        max_length=10,
        choices=ValueIndexStatus.choices,
        default=ValueIndexStatus.BUILDING,
    )
    columns = models.PositiveIntegerField(default=0)
    values = models.PositiveIntegerField(default=0)
    bytes = models.PositiveIntegerField(default=0)
    # Columns left out for having too many distinct values, or past the caps.
    skipped = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    built_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"value index of connection {self.connection_id}: {self.status}"


class IndexedColumn(models.Model):
    """One column's distinct values, as stored in the database."""

    connection = models.ForeignKey(
        DatabaseConnection, on_delete=models.CASCADE, related_name="indexed_columns"
    )
    table_name = models.CharField(max_length=255)
    column_name = models.CharField(max_length=255)
    values = models.JSONField(default=list)

    class Meta:
        ordering = ["table_name", "column_name"]
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "table_name", "column_name"],
                name="knowledge_indexedcolumn_unique_target",
            )
        ]

    def __str__(self) -> str:
        return f"{self.table_name}.{self.column_name}"
