"""What the SQL guard raises: a refused statement, a failed query.

A lost or unreachable database is `connections.exceptions.TargetDatabaseUnavailable`
(the one public error for "the user's database failed"); all connections busy
is `TargetDatabaseBusy`; both are raised by `query_run` at the seam.
"""

from __future__ import annotations

from typing import Any

# MySQL/MariaDB error numbers a model can act on, by name (the rest by number).
_MYSQL_ERRORS = {
    1054: "unknown column",
    1064: "syntax error",
    1146: "unknown table",
    1241: "operand should contain other columns",
    1242: "subquery returns more than one row",
    1292: "incorrect value",
    1305: "unknown function",
    1365: "division by zero",
    1366: "incorrect value",
    1582: "wrong arguments to a function",
    1583: "wrong arguments to a function",
    1690: "value out of range",
}


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

    @property
    def _driver_error(self) -> Any:
        cause = self.__cause__
        return getattr(cause, "orig", None) or cause

    @property
    def code(self) -> str | None:
        """Return the database's code for the error, never its text: the
        SQLSTATE (PostgreSQL), the error number (MySQL, MariaDB) or the
        result code's name (SQLite)."""
        error = self._driver_error
        if error is None:
            return None
        sqlstate = getattr(error, "sqlstate", None)
        if isinstance(sqlstate, str) and sqlstate.isalnum():
            return f"SQLSTATE {sqlstate}"
        args = getattr(error, "args", ())
        if args and isinstance(args[0], int) and not isinstance(args[0], bool):
            name = _MYSQL_ERRORS.get(args[0])
            return f"error {args[0]}" + (f" ({name})" if name else "")
        name = getattr(error, "sqlite_errorname", None)
        if isinstance(name, str) and name.isidentifier():
            return name
        return None

    @property
    def kind(self) -> str:
        """Return the driver's class of the error (e.g. InvalidTextRepresentation,
        OperationalError): it says what went wrong, never with which value."""
        error = self._driver_error
        return type(error).__name__ if error is not None else "QueryFailed"

    def summary(self) -> str:
        """Return the error as its code and class only, without its text."""
        if self.timed_out:
            return self.message  # our own words: no value in them
        code = self.code
        named = f"{self.kind}, {code}" if code else self.kind
        return (
            f"The database failed the query ({named}). Its message is withheld: "
            "it could quote values that may not be shown."
        )
