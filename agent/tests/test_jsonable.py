"""to_jsonable: database values become JSON values predictably."""

from __future__ import annotations

import datetime
import ipaddress
import json
import math
import uuid
from decimal import Decimal

import pytest

from agent.jsonable import to_jsonable


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Decimal("120.50"), "120.50"),
        (Decimal("12345678901234567890.000000001"), "12345678901234567890.000000001"),
        (Decimal("NaN"), "NaN"),
        (datetime.date(2026, 1, 5), "2026-01-05"),
        (datetime.datetime(2026, 1, 5, 10, 30), "2026-01-05T10:30:00"),
        (
            datetime.datetime(2026, 1, 5, 10, 30, tzinfo=datetime.UTC),
            "2026-01-05T10:30:00+00:00",
        ),
        (datetime.time(10, 30, 1), "10:30:01"),
        (datetime.timedelta(days=1, hours=2), "1 day, 2:00:00"),
        (b"\x01\xff", "Af8="),
        (bytearray(b"\x01\xff"), "Af8="),
        (memoryview(b"\x01\xff"), "Af8="),
        (
            uuid.UUID("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
            "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
        ),
        (ipaddress.ip_address("10.0.0.1"), "10.0.0.1"),
    ],
)
def test_a_value_json_cannot_hold_becomes_a_predictable_string(value, expected):
    assert to_jsonable(value) == expected


@pytest.mark.parametrize(
    "value", [None, True, False, 0, 42, 10**30, 1.5, "text", "", "ünïcödé"]
)
def test_a_json_native_value_is_unchanged(value):
    result = to_jsonable(value)

    assert result == value
    assert type(result) is type(value)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_a_non_finite_float_becomes_null(value):
    assert to_jsonable(value) is None


def test_containers_are_converted_recursively():
    value = {
        "amounts": [Decimal("1.10"), (datetime.date(2026, 1, 5), b"\x00")],
        1: {"tags": {"b", "a"}},
    }

    result = to_jsonable(value)

    assert result == {
        "amounts": ["1.10", ["2026-01-05", "AA=="]],
        "1": {"tags": ["a", "b"]},
    }
    assert json.loads(json.dumps(result)) == result
