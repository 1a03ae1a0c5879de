"""Fields every log record of the current request carries (request, user, session).

The request middleware starts a context per request; services add what they learn
(`bind(session_id=...)`), and the logging filter copies the fields onto every
record, so a query logged deep in the agent still says whose it was.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar, Token
from types import MappingProxyType
from typing import Any

# `token_name`: the name of the personal access token used, never its value
# (a field called `token` would be masked by the log redaction).
FIELDS = ("request_id", "user_id", "session_id", "token_name")

_EMPTY: Mapping[str, Any] = MappingProxyType({})
_context: ContextVar[Mapping[str, Any]] = ContextVar("sqlagent_log_context")


def begin(**fields: Any) -> Token[Mapping[str, Any]]:
    """Start a fresh context (one per request); pass the token to `end`."""
    return _context.set(MappingProxyType(dict(fields)))


def end(token: Token[Mapping[str, Any]]) -> None:
    """Restore the context that was current before `begin`."""
    _context.reset(token)


def bind(**fields: Any) -> None:
    """Add fields to the current context (a copy: other contexts never see them)."""
    _context.set(MappingProxyType({**_context.get(_EMPTY), **fields}))


def current() -> Mapping[str, Any]:
    """Return the fields of the current context."""
    return _context.get(_EMPTY)
