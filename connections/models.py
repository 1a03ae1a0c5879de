"""Connection records (passwords encrypted at rest) and the user's sessions."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from connections import crypto
from connections.backends import UnknownDatabaseType, backend_for, db_type_choices


class PrivacyTier(models.TextChoices):
    ROWS = "rows", "Rows: the model sees capped result rows and sample values"
    SCHEMA = "schema", "Schema only: the model never sees a value"


class DatabaseConnection(models.Model):
    """A saved way into a database: a user's own, or shared with their team."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="db_connections",
    )
    # A team connection is the team's: its members use it by their role, and
    # it goes with the team. Null: the owner's own.
    team = models.ForeignKey(
        "teams.Team",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="connections",
    )
    # When it joined its current team: turns asked on it before that (its
    # owner's own, or another team's) are not this team's, neither in its
    # activity nor in its budget. Null for a personal connection.
    team_since = models.DateTimeField(null=True, blank=True, editable=False)
    label = models.CharField(max_length=100, blank=True)
    # One choice per registered engine backend (settings.DATABASE_BACKENDS),
    # read when needed: adding an engine needs no migration.
    db_type = models.CharField(max_length=20, choices=db_type_choices)
    host = models.CharField(max_length=255, blank=True)
    port = models.PositiveIntegerField(default=0)
    database_name = models.CharField(max_length=255)
    username = models.CharField(max_length=255, blank=True)
    # Fernet token of the password; never the plaintext.
    password_encrypted = models.TextField(blank=True, editable=False)
    options = models.JSONField(default=dict, blank=True)
    # What the LLM may see of this database (agent/privacy.py enforces it).
    privacy = models.CharField(
        max_length=10, choices=PrivacyTier.choices, default=PrivacyTier.ROWS
    )
    # `table.column`, `column` or glob patterns whose values never reach the model.
    masked_columns = models.JSONField(default=list, blank=True)
    # Masked values are tokens for the user too (API, stored rows, CSV, pages).
    masked_hidden = models.BooleanField(default=False)
    # When privacy, masked_columns or masked_hidden last changed: turns answered
    # before it are replayed to the model without their answers.
    privacy_changed_at = models.DateTimeField(null=True, blank=True, editable=False)
    # When a refresh of its schema was last asked: every process reads the schema
    # again at its next use (a version of what derives from it, beside updated_at).
    schema_read_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["owner", "id"])]

    def __str__(self) -> str:
        try:
            is_file = self.is_file
        except UnknownDatabaseType:  # an engine no longer registered
            is_file = False
        if is_file:
            target = self.database_name
        else:
            target = f"{self.host}:{self.port}/{self.database_name}"
        return self.label or f"{self.get_db_type_display()} {target}"

    def set_password(self, raw_password: str) -> None:
        self.password_encrypted = crypto.encrypt(raw_password) if raw_password else ""

    def get_password(self) -> str:
        return (
            crypto.decrypt(self.password_encrypted) if self.password_encrypted else ""
        )

    @property
    def is_file(self) -> bool:
        """Whether the database is a file (its backend says): no host or port."""
        return backend_for(self.db_type).is_file

    @property
    def has_password(self) -> bool:
        return bool(self.password_encrypted)


class SessionStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    CLOSED = "closed", "Closed"


class UserSession(models.Model):
    """A user's working session; its UUID is also the conversation thread id."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sessions"
    )
    db_connection = models.ForeignKey(
        DatabaseConnection,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="sessions",
    )
    status = models.CharField(
        max_length=10, choices=SessionStatus.choices, default=SessionStatus.ACTIVE
    )
    # Privilege findings from the last connect (e.g. a superuser role).
    warnings = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_activity_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["user"],
                condition=Q(status="active"),
                name="one_active_session_per_user",
            )
        ]

    def __str__(self) -> str:
        return f"{self.user} {self.status} {self.id}"

    @property
    def thread_id(self) -> uuid.UUID:
        return self.id

    @property
    def is_active(self) -> bool:
        return self.status == SessionStatus.ACTIVE
