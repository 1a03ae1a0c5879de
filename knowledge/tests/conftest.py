"""Fixtures the knowledge tests share."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from connections.models import DatabaseConnection
from testsupport.golden import counting_golden_set_create


@pytest.fixture
def counting_golden_set(
    alice, make_connection
) -> Callable[[str, int], DatabaseConnection]:
    """Make a golden set `name` of `count` counting questions on a new SQLite
    connection of alice's; return the connection."""

    def make(name: str, count: int) -> DatabaseConnection:
        connection = make_connection(alice, "sqlite")
        counting_golden_set_create(connection, name, count)
        return connection

    return make
