"""Teams, their members with one role each, and invitations pending registration."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower


class TeamRole(models.TextChoices):
    ADMIN = "admin", "Admin: manages members, connections and their knowledge"
    ANALYST = "analyst", "Analyst: asks, runs SQL, proposes examples"
    VIEWER = "viewer", "Viewer: asks and reads answers; runs no SQL of their own"


class Team(models.Model):
    """A group of users sharing connections, each member with a role."""

    name = models.CharField(max_length=100)
    # Asks and model tokens per UTC day on the team's connections; null: the
    # settings' defaults (BUDGET_TEAM_*), 0: no limit.
    asks_per_day = models.PositiveIntegerField(null=True, blank=True)
    tokens_per_day = models.PositiveBigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    """One user's place in one team."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="team_memberships",
    )
    role = models.CharField(max_length=10, choices=TeamRole.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["team", "user"], name="one_membership_per_team_and_user"
            )
        ]
        indexes = [models.Index(fields=["user", "team"])]

    def __str__(self) -> str:
        return f"{self.user} in {self.team} ({self.role})"


class Invitation(models.Model):
    """A role in a team kept for an email nobody has registered with yet."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="invitations")
    # Stored lower-case: the same form User.email is stored in.
    email = models.EmailField()
    role = models.CharField(max_length=10, choices=TeamRole.choices)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                "team", Lower("email"), name="one_invitation_per_team_and_email"
            )
        ]

    def __str__(self) -> str:
        return f"{self.email} invited to {self.team} ({self.role})"
