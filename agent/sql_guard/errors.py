"""What the SQL guard raises: a refused statement, a failed query, a lost database."""

from __future__ import annotations


class StatementRefused(Exception):
    """The statement is not a single read-only query; `reason` says why."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class QueryFailed(Exception):
    """The database refused or failed the statement, or it ran out of time."""

    def __init__(self, message: str, *, timed_out: bool = False):
        super().__init__(message)
        self.message = message
        self.timed_out = timed_out


class TargetDown(Exception):
    """The target database could not be reached or went away."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason
