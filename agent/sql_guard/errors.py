"""What the SQL guard raises: a refused statement, a failed query.

A lost or unreachable database is `connections.exceptions.TargetDatabaseUnavailable`
(the one public error for "the user's database failed"); all connections busy
is `TargetDatabaseBusy`; both are raised by `query_run` at the seam.
"""

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
