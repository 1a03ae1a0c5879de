"""The API's JSON parser: bounded in bytes and in nesting before it parses.

Python's `json` recurses once per level, so JSON nested about a thousand levels
deep raises RecursionError (a 500) instead of a parse error; the depth is
measured first, without recursion.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from typing import IO, Any

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from sqlagent_project.errors import ApplicationError


class RequestTooLarge(ApplicationError):
    """The request body is larger than REQUEST_MAX_BYTES."""

    status_code = 413
    code = "request_too_large"
    default_message = "The request body is too large."


def request_too_large_message(limit: int) -> str:
    """Return the message a client gets for a body over `limit` bytes."""
    return f"The request body is larger than the limit of {limit} bytes."


JSON_TOO_DEEP = "json_too_deep"


def json_too_deep_message(max_depth: int) -> str:
    """Return the message a client gets for JSON nested deeper than `max_depth`."""
    return f"JSON parse error - nested deeper than {max_depth} levels."


# A JSON string with its escapes; what is inside one is never structure.
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def json_depth_exceeds(raw: bytes, limit: int) -> bool:
    """Return whether the arrays and objects in `raw` nest deeper than `limit`."""
    brackets = _JSON_STRING.sub(b"", raw).translate(None, _NOT_BRACKETS)
    depth = 0
    for byte in brackets:
        if byte in b"[{":
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


class BoundedJSONParser(JSONParser):
    """Parse JSON bounded in bytes (REQUEST_MAX_BYTES) and nesting (JSON_MAX_DEPTH)."""

    def parse(
        self,
        stream: IO[bytes],
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        limit = settings.REQUEST_MAX_BYTES
        # The middleware refuses a long Content-Length; this bounds what is read
        # whatever the headers said.
        raw = stream.read(limit + 1)
        if len(raw) > limit:
            raise RequestTooLarge(request_too_large_message(limit))
        max_depth = settings.JSON_MAX_DEPTH
        if json_depth_exceeds(raw, max_depth):
            raise ParseError(json_too_deep_message(max_depth), code=JSON_TOO_DEEP)
        return super().parse(io.BytesIO(raw), media_type, parser_context)
