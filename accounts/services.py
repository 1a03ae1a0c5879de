"""Writes on accounts: sign-up, refresh-token revocation, personal access tokens."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import RefreshToken

from accounts import tokens
from accounts.exceptions import InvalidRefreshToken, TokenExpiryInvalid
from accounts.models import PersonalAccessToken, TokenScope, User
from accounts.revocation import SESSION_CLAIM, access_session_revoke

logger = logging.getLogger(__name__)

# Writing last_used_at on every request would make every read a write; once a
# minute tells a token in use from a forgotten one.
_LAST_USED_RESOLUTION = timedelta(seconds=60)


@transaction.atomic
def user_register(*, email: str, password: str, name: str = "") -> User:
    """Create a user who logs in with this email and password."""
    return User.objects.create_user(email=email, password=password, name=name)


def refresh_token_revoke(*, refresh: str, access_jti: str = "") -> None:
    """Log out: blacklist the refresh token, and revoke its session's access tokens.

    `access_jti` names an access token sent with the logout (one minted before
    sessions were named carries no session id).
    """
    try:
        token = RefreshToken(refresh)
        token.blacklist()
    except TokenError as exc:
        raise InvalidRefreshToken() from exc
    session_id = token.get(SESSION_CLAIM)
    access_session_revoke(
        session_id=session_id if isinstance(session_id, str) else None,
        access_jti=access_jti,
    )


@dataclass(frozen=True)
class CreatedToken:
    """A new token and its value, which exists only in this object."""

    token: PersonalAccessToken
    value: str


@transaction.atomic
def token_create(
    *,
    owner: User,
    name: str,
    scope: str = TokenScope.ASK,
    expires_at: datetime | None = None,
) -> CreatedToken:
    """Mint a token for `owner`: its digest is stored, its value returned once."""
    if expires_at is not None and expires_at <= timezone.now():
        raise TokenExpiryInvalid()
    minted = tokens.token_mint()
    token = PersonalAccessToken.objects.create(
        owner=owner,
        name=name,
        scope=TokenScope(scope),
        prefix=minted.prefix,
        digest=minted.digest,
        expires_at=expires_at,
    )
    logger.info(
        "access token created id=%s owner=%s name=%s scope=%s",
        token.pk,
        owner.pk,
        token.name,
        token.scope,
    )
    return CreatedToken(token=token, value=minted.value)


def token_revoke(*, token: PersonalAccessToken) -> PersonalAccessToken:
    """Revoke a token for good; revoking it again changes nothing."""
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        logger.info("access token revoked id=%s name=%s", token.pk, token.name)
    return token


def token_touch(*, token: PersonalAccessToken) -> None:
    """Record that the token was used, at most once a minute."""
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at >= _LAST_USED_RESOLUTION:
        PersonalAccessToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
