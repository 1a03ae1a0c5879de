"""`Authorization: Bearer sqa_…`: personal access tokens beside JWTs.

Placed before simplejwt's class: a bearer value starting `sqa_` is ours (and
refused here if it is not a live token), anything else falls through to JWT.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.request import Request
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import AccessToken, Token

from accounts.models import PersonalAccessToken, User
from accounts.revocation import access_revoked
from accounts.services import token_touch
from accounts.tokens import TOKEN_PREFIX, token_matches, token_prefix_of
from sqlagent_project import logcontext


class TokenFailed(exceptions.AuthenticationFailed):
    """A presented personal access token is unknown, revoked or expired."""


def _failed(message: str, code: str) -> TokenFailed:
    return TokenFailed(detail=message, code=code)


def token_authenticate(value: str) -> PersonalAccessToken:
    """Return the live token this value belongs to, with its owner loaded."""
    prefix = token_prefix_of(value)
    token = (
        PersonalAccessToken.objects.select_related("owner")
        .filter(prefix=prefix)
        .first()
        if prefix
        else None
    )
    if token is None or not token_matches(value, token.digest):
        raise _failed("The access token is not valid.", "token_not_valid")
    if token.revoked_at is not None:
        raise _failed("The access token has been revoked.", "token_revoked")
    if token.is_expired:
        raise _failed("The access token has expired.", "token_expired")
    if not token.owner.is_active:
        raise _failed("The token's user is inactive.", "user_inactive")
    token_touch(token=token)
    # Every log line of this request names the token, never its value.
    logcontext.bind(token_name=token.name, user_id=token.owner_id)
    return token


class PersonalAccessTokenAuthentication(BaseAuthentication):
    """Authenticate `Authorization: Bearer sqa_…`; `request.auth` is the token."""

    keyword = b"bearer"
    # True where only personal access tokens are accepted (/mcp): any other
    # bearer value is refused here instead of being left to JWT.
    tokens_only = False

    def authenticate(self, request: Request) -> tuple[User, PersonalAccessToken] | None:
        parts = get_authorization_header(request).split()
        if len(parts) != 2 or parts[0].lower() != self.keyword:
            return None
        try:
            value = parts[1].decode()
        except UnicodeDecodeError:
            return None
        if not value.startswith(TOKEN_PREFIX):
            if self.tokens_only:
                raise _failed(
                    "Only personal access tokens (sqa_…) are accepted here.",
                    "token_not_valid",
                )
            return None
        token = token_authenticate(value)
        return token.owner, token

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'


class RevocableJWTAuthentication(JWTAuthentication):
    """simplejwt's JWT check, plus the denylist a logout writes (one cache read)."""

    def get_validated_token(self, raw_token: bytes) -> Token:
        token = super().get_validated_token(raw_token)
        if access_revoked(token.payload):
            raise exceptions.AuthenticationFailed(
                detail="The access token has been revoked (logged out).",
                code="token_revoked",
            )
        return token


def presented_access_jti(request: Request) -> str:
    """Return the id of a valid access JWT in the request's header, else ""."""
    authenticator = JWTAuthentication()
    header = authenticator.get_header(request)
    raw = authenticator.get_raw_token(header) if header is not None else None
    if raw is None:
        return ""
    try:
        token = AccessToken(raw)
    except TokenError:
        return ""
    jti = token.get(api_settings.JTI_CLAIM)
    return jti if isinstance(jti, str) else ""


class PersonalAccessTokenScheme(OpenApiAuthenticationExtension):
    """Document `Bearer sqa_…` on the operations a token may call."""

    target_class = PersonalAccessTokenAuthentication
    name = "tokenAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "sqa_… personal access token (POST /auth/tokens)",
        }

    def get_security_requirement(self, auto_schema: Any) -> dict[str, list] | None:
        scopes = getattr(auto_schema.view, "token_scopes", {})
        return {self.name: []} if auto_schema.method in scopes else None


class RevocableJWTScheme(SimpleJWTScheme):
    """Document the revocable JWT check as simplejwt's own (`jwtAuth`)."""

    target_class = RevocableJWTAuthentication
