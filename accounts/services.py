"""Writes on accounts: sign-up and token revocation."""

from __future__ import annotations

from django.db import transaction
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.exceptions import InvalidRefreshToken
from accounts.models import User


@transaction.atomic
def user_register(*, email: str, password: str, name: str = "") -> User:
    """Create a user who logs in with this email and password."""
    return User.objects.create_user(email=email, password=password, name=name)


def refresh_token_revoke(*, refresh: str) -> None:
    """Blacklist a refresh token so it can never mint access tokens again."""
    try:
        RefreshToken(refresh).blacklist()
    except TokenError as exc:
        raise InvalidRefreshToken() from exc
