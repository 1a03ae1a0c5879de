from __future__ import annotations

from sqlagent_project.errors import ApplicationError


class InvalidRefreshToken(ApplicationError):
    """The refresh token is malformed, expired or already revoked."""

    status_code = 401
    code = "token_not_valid"
    default_message = "Token is invalid or expired."


class TokenExpiryInvalid(ApplicationError):
    """A token's expiry is not in the future."""

    status_code = 400
    code = "invalid"
    default_message = "The expiry must be in the future."
