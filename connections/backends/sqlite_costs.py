"""SQLite string functions whose one call could outlive any deadline, made linear.

A SQLite statement runs inside this process, and SQLite looks at its progress
handler and at interrupt() only between steps: one call is never stopped. On
values of a megabyte (the per-value limit), `instr` and `replace` compare every
position with the whole needle (22 s and 18 s for one call here) and
two-argument `trim` compares every character with every character of the set
(hours). The versions below give the same answers in linear time (CPython's
string search is linear for long needles). Arguments other than two texts (or,
for `instr`, two blobs) are converted the way SQLite converts them only by SQLite
itself: small ones go to SQLite's own function, large ones are refused.

LIKE and GLOB cost the subject's length times the pattern's: the pattern is
bounded instead (`LIKE_PATTERN_MAX_BYTES`).
"""

from __future__ import annotations

import sqlite3
import threading
from typing import Any

# A LIKE/GLOB pattern of this many bytes against a 1 MB value is about a second
# of one uninterruptible call; SQLite's default (50,000) was minutes.
LIKE_PATTERN_MAX_BYTES = 256
# Bytes of arguments under which SQLite's own (quadratic) function still runs:
# at most a few milliseconds.
_BUILTIN_MAX_BYTES = 16 * 1024
# Sets of trim characters up to this long are searched by str.strip in C.
_STRIP_MAX_CHARS = 64


class _Builtin:
    """SQLite's own functions, on a private connection that sees only their
    arguments."""

    def __init__(self, limit: int) -> None:
        self._connection = sqlite3.connect(":memory:", check_same_thread=False)
        self._connection.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, limit)
        self._lock = threading.Lock()

    def __call__(self, name: str, *args: Any, cheap: bool = False) -> Any:
        size = sum(len(a) for a in args if isinstance(a, str | bytes))
        if size > _BUILTIN_MAX_BYTES and not cheap:
            raise ValueError(f"{name}() arguments too large to convert")
        marks = ", ".join("?" for _ in args)
        with self._lock:
            return self._connection.execute(f"SELECT {name}({marks})", args).fetchone()[
                0
            ]


class _Linear:
    """instr, replace, trim, ltrim and rtrim (two arguments) in linear time."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._builtin = _Builtin(limit)

    def instr(self, haystack: Any, needle: Any) -> Any:
        if haystack is None or needle is None:
            return None
        both_text = isinstance(haystack, str) and isinstance(needle, str)
        if both_text or (isinstance(haystack, bytes) and isinstance(needle, bytes)):
            return haystack.find(needle) + 1
        return self._builtin("instr", haystack, needle)

    def replace(self, text: Any, old: Any, new: Any) -> Any:
        if text is None or old is None:
            return None
        if isinstance(old, str | bytes) and old[:1] in ("", "\x00", b"", b"\x00"):
            # SQLite hands X back untouched (as text when it was a blob),
            # before it looks at Z: no search, whatever the size.
            return self._builtin("replace", text, old, new, cheap=True)
        if new is None:
            return None
        if not all(isinstance(value, str) for value in (text, old, new)):
            return self._builtin("replace", text, old, new)
        count = text.count(old)
        if count == 0:
            return text
        size = len(text.encode()) + count * (len(new.encode()) - len(old.encode()))
        if size > self._limit:
            raise ValueError("string or blob too big")
        return text.replace(old, new)

    def _trim(self, name: str, text: Any, chars: Any) -> Any:
        if text is None or chars is None:
            return None
        if not (isinstance(text, str) and isinstance(chars, str)):
            return self._builtin(name, text, chars)
        chars = chars.split("\x00", 1)[0]  # SQLite reads the set up to a NUL
        left, right = name in ("trim", "ltrim"), name in ("trim", "rtrim")
        if len(chars) <= _STRIP_MAX_CHARS:
            if left and right:
                return text.strip(chars)
            return text.lstrip(chars) if left else text.rstrip(chars)
        members = set(chars)
        start, end = 0, len(text)
        while left and start < end and text[start] in members:
            start += 1
        while right and end > start and text[end - 1] in members:
            end -= 1
        return text[start:end]

    def trim(self, text: Any, chars: Any) -> Any:
        return self._trim("trim", text, chars)

    def ltrim(self, text: Any, chars: Any) -> Any:
        return self._trim("ltrim", text, chars)

    def rtrim(self, text: Any, chars: Any) -> Any:
        return self._trim("rtrim", text, chars)


def costs_bound(raw: sqlite3.Connection, limit: int) -> None:
    """Replace the quadratic string functions on `raw`; bound LIKE/GLOB patterns."""
    linear = _Linear(limit)
    raw.create_function("instr", 2, linear.instr, deterministic=True)
    raw.create_function("replace", 3, linear.replace, deterministic=True)
    for name in ("trim", "ltrim", "rtrim"):
        raw.create_function(name, 2, getattr(linear, name), deterministic=True)
    raw.setlimit(sqlite3.SQLITE_LIMIT_LIKE_PATTERN_LENGTH, LIKE_PATTERN_MAX_BYTES)
