"""Turn database values into JSON-safe values, the same way every time.

- `Decimal` → `str`, exact (`Decimal("120.50")` → `"120.50"`; NaN → `"NaN"`).
- `datetime`, `date`, `time` → ISO 8601 strings (`isoformat()`, offset kept).
- `timedelta` → `str` (`"1 day, 2:00:00"`).
- `bytes`, `bytearray`, `memoryview` → standard base64 text.
- `UUID` → its canonical string.
- `float` NaN and ±infinity → `None`: JSON has no such numbers, and a string would
  pass for text.
- `bool`, `int`, `str`, `None` and finite `float` unchanged; lists and tuples →
  lists, sets → lists sorted by their string form, dicts → dicts with string keys,
  converted recursively.
- Anything else (IP addresses, ranges, enums, ...) → `str(value)`.
"""

from __future__ import annotations

import base64
import datetime
import math
import uuid
from decimal import Decimal
from typing import Any


def to_jsonable(value: Any) -> Any:
    """Return `value` as something `json.dumps` accepts, converted predictably."""
    # bool is an int subclass: both pass through unchanged.
    if value is None or isinstance(value, str | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime.date | datetime.time):
        # datetime is a date subclass; isoformat() covers all three.
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, list | tuple):
        return [to_jsonable(item) for item in value]
    if isinstance(value, set | frozenset):
        return sorted((to_jsonable(item) for item in value), key=str)
    if isinstance(value, dict):
        return {str(key): to_jsonable(item) for key, item in value.items()}
    return str(value)
