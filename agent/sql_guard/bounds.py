"""Byte bounds applied while rows are fetched: per cell, per result, for the LLM.

A cell longer than `QUERY_MAX_CELL_BYTES` is cut and ends with a visible marker
(`…[cut: 200000000 bytes]`); rows stop once the whole result would pass
`QUERY_MAX_RESULT_BYTES`, and the result says so. What the LLM reads is cut
further, at `LLM_MAX_CELL_CHARS` (`cell_for_llm`).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from agent.jsonable import to_jsonable

CUT_MARKER = "…[cut: {size} bytes]"


@dataclass(frozen=True)
class Bounds:
    """The caps one query runs under."""

    max_rows: int
    max_cell_bytes: int
    max_result_bytes: int

    @classmethod
    def from_settings(cls, *, max_rows: int) -> Bounds:
        """Return the configured byte caps with the caller's row cap."""
        from django.conf import settings

        return cls(
            max_rows=max_rows,
            max_cell_bytes=settings.QUERY_MAX_CELL_BYTES,
            max_result_bytes=settings.QUERY_MAX_RESULT_BYTES,
        )


def cut_marker(size: int) -> str:
    """Return the text that ends a cut cell, naming the cell's full size."""
    return CUT_MARKER.format(size=size)


def _text_cut(text: str, max_bytes: int, size: int | None = None) -> tuple[str, bool]:
    # Four bytes at most per character: most cells are settled without encoding.
    if len(text) * 4 <= max_bytes:
        return text, False
    encoded = text.encode("utf-8")
    if len(encoded) <= max_bytes:
        return text, False
    kept = encoded[:max_bytes].decode("utf-8", errors="ignore")
    return kept + cut_marker(size if size is not None else len(encoded)), True


def cell_bound(value: Any, max_bytes: int) -> tuple[Any, bool]:
    """Return `value` JSON-safe, about `max_bytes` at most, and whether it was cut."""
    if isinstance(value, bytes | bytearray | memoryview):
        raw = bytes(value)
        if len(raw) <= max_bytes:
            return to_jsonable(raw), False
        # base64 grows 4/3: keep what stays within the cap once encoded.
        kept = base64.b64encode(raw[: max_bytes * 3 // 4]).decode("ascii")
        return kept + cut_marker(len(raw)), True
    converted = to_jsonable(value)
    if isinstance(converted, str):
        return _text_cut(converted, max_bytes)
    if isinstance(converted, list | dict):
        dumped = json.dumps(converted, ensure_ascii=False)
        if len(dumped.encode("utf-8")) > max_bytes:
            return _text_cut(dumped, max_bytes)
    return converted, False


def prefix_cell(prefix: str | None, size: int, max_bytes: int) -> str:
    """Return a cell the server already cut to `prefix`, marked with its full size."""
    text, _ = _text_cut(prefix or "", max_bytes)
    if text.endswith("]") and "…[cut: " in text:
        text = text[: text.rindex("…[cut: ")]
    return text + cut_marker(size)


def row_bytes(row: list[Any]) -> int:
    """Return the size of a bounded row as JSON, the way it is answered and stored."""
    return len(json.dumps(row, ensure_ascii=False).encode("utf-8"))


def cell_for_llm(value: Any, max_chars: int | None = None) -> Any:
    """Return a result cell as the LLM should see it: at most LLM_MAX_CELL_CHARS."""
    if max_chars is None:
        from django.conf import settings

        max_chars = settings.LLM_MAX_CELL_CHARS
    if isinstance(value, str) and len(value) > max_chars:
        return value[:max_chars] + f"…[cut: {len(value)} chars]"
    return value
