"""The one base class of every domain error, rendered by one exception handler."""

from __future__ import annotations


class ApplicationError(Exception):
    """An error the client can act on, with its own HTTP status and code."""

    status_code: int = 400
    code: str = "error"
    default_message: str = "The request could not be completed."
    # Seconds a client should wait before trying again (sent as Retry-After).
    retry_after: int | None = None

    def __init__(self, message: str | None = None, *, extra: dict | None = None):
        self.message = message or self.default_message
        self.extra = extra or {}
        super().__init__(self.message)
