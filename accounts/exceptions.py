from __future__ import annotations

from sqlagent_project.errors import ApplicationError


class InvalidRefreshToken(ApplicationError):
    """The refresh token is malformed, expired or already revoked."""

    status_code = 401
    code = "token_not_valid"
    default_message = "Token is invalid or expired."
