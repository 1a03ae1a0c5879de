"""Reads on accounts, scoped to their owner."""

from __future__ import annotations

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404

from accounts.models import PersonalAccessToken, User


def token_list_for_user(*, user: User) -> QuerySet[PersonalAccessToken]:
    """Return the user's personal access tokens, newest first (revoked ones too)."""
    return PersonalAccessToken.objects.filter(owner=user).order_by("-created_at", "-id")


def token_get_for_user(*, user: User, token_id: int) -> PersonalAccessToken:
    """Return one of the user's tokens; anyone else's is a 404."""
    return get_object_or_404(token_list_for_user(user=user), pk=token_id)
