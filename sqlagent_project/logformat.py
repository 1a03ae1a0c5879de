"""Log formatting: context fields on every record, plain or JSON lines, redaction.

Redaction is defence in depth: no code path should log a secret, but if one
does (an exception message quoting a DSN, a header dumped while debugging),
whatever looks like a password, token or API key is masked before it is written.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from pythonjsonlogger.json import JsonFormatter as _JsonFormatter

from sqlagent_project import logcontext

MASK = "[REDACTED]"

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # JSON Web Tokens (access and refresh tokens): three base64url parts.
    (re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]*"), MASK),
    # Authorization header values.
    (re.compile(r"(?i)\b(bearer\s+)[\w.~+/=-]{8,}"), rf"\1{MASK}"),
    # SQLAgent personal access tokens.
    (re.compile(r"\bsqa_[\w-]{6,}"), MASK),
    # OpenAI-style API keys.
    (re.compile(r"\bsk-[\w-]{6,}"), MASK),
    # Credentials inside URLs: scheme://user:password@host
    (re.compile(r"(://[^\s:/@\"'\\]+:)[^\s@/\"'\\]+@"), rf"\1{MASK}@"),
    # key=value / "key": "value" for secret-sounding keys.
    (
        re.compile(
            r"(?i)((?:password|passwd|pwd|secret|api[_-]?key|token|access|refresh"
            r"|authorization)\\?[\"']?\s*[:=]\s*\\?[\"']?)([^\s\"'\\,;&}]+)"
        ),
        rf"\1{MASK}",
    ),
)


def _configured_secrets() -> list[str]:
    try:
        from django.conf import settings

        candidates = [
            settings.SECRET_KEY,
            settings.OPENAI_API_KEY,
            *settings.FIELD_ENCRYPTION_KEY,
        ]
    except Exception:  # settings not configured yet: patterns only
        return []
    return [c for c in candidates if isinstance(c, str) and len(c) >= 8]


def redact(text: str) -> str:
    """Return `text` with secret-looking values and configured secrets masked."""
    for secret in _configured_secrets():
        if secret in text:
            text = text.replace(secret, MASK)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class ContextFilter(logging.Filter):
    """Copy the request's context fields (logcontext.FIELDS) onto a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = logcontext.current()
        for name in logcontext.FIELDS:
            if not hasattr(record, name):
                setattr(record, name, context.get(name))
        return True


class PlainFormatter(logging.Formatter):
    """One readable line per record, context fields at the end, secrets masked."""

    def __init__(self) -> None:
        super().__init__(
            "%(asctime)s %(levelname)s %(name)s %(message)s"
            " [request=%(request_id)s%(token_part)s user=%(user_id)s"
            " session=%(session_id)s]"
        )

    def format(self, record: logging.LogRecord) -> str:
        # Only requests made with an access token name one.
        token_name = getattr(record, "token_name", None)
        record.token_part = f" token_name={token_name}" if token_name else ""
        for name in logcontext.FIELDS:
            if getattr(record, name, None) is None:
                setattr(record, name, "-")
        return redact(super().format(record))


class JsonFormatter(_JsonFormatter):
    """One JSON object per line: time, level, logger, message and every extra field."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("fmt", "%(asctime)s %(levelname)s %(name)s %(message)s")
        kwargs.setdefault(
            "rename_fields",
            {"asctime": "time", "levelname": "level", "name": "logger"},
        )
        kwargs.setdefault("json_default", str)
        super().__init__(*args, **kwargs)

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))
