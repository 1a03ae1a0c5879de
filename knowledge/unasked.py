"""Telling a question that could not be asked from one answered wrong.

The model or the database unreachable, out of connections or slots, or the
process shutting down (a deploy's graceful reload: "cannot schedule new futures
after interpreter shutdown") say nothing about the model's answer, so such a
question is retried and, failing that, left out of the accuracy.
"""

from __future__ import annotations

import sys
from concurrent.futures import thread as futures_thread

from agent import sql_guard
from sqlagent_project.errors import ApplicationError

# Domain error codes that mean "could not be asked", not "answered badly".
UNREACHABLE_CODES = frozenset(
    {
        "llm_not_configured",
        "llm_unavailable",
        "llm_timeout",
        "database_unavailable",
        "database_busy",
        "ask_pool_full",
        "app_database_busy",
        "interrupted",
    }
)


class NotAsked(Exception):
    """The question could not be put to the model or the database."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def process_ending() -> bool:
    """Whether this interpreter is shutting down (its main thread has ended).

    Python sets concurrent.futures' own flag first thing at shutdown, while
    worker threads still run (the main thread even still reads as alive); from
    then on no future can be scheduled, and the agent schedules some.
    """
    return sys.is_finalizing() or bool(getattr(futures_thread, "_shutdown", False))


def raise_if_unreachable(exc: BaseException) -> None:
    """Raise NotAsked for an error that means the question could not be asked."""
    reason = _unreachable_reason(exc)
    if reason is not None:
        raise NotAsked(reason) from exc


def _unreachable_reason(exc: BaseException) -> str | None:
    if isinstance(exc, ApplicationError):
        return exc.message if exc.code in UNREACHABLE_CODES else None
    if isinstance(exc, sql_guard.QueryFailed):
        # Wrapped at the seam: the database itself could not be reached.
        cause = exc.__cause__
        if isinstance(cause, ApplicationError) and cause.code in UNREACHABLE_CODES:
            return cause.message
        return None
    if isinstance(exc, RuntimeError) and (
        "interpreter shutdown" in str(exc) or process_ending()
    ):
        return "The process running the evaluation was shutting down."
    return None
