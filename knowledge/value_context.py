"""The stored values a question names, for its prompt: matched against the
connection's value index (knowledge.values builds it) under the privacy rules
as they are now, so a column masked since its build is never matched.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence

from django.conf import settings

from agent.context import QuestionContext
from agent.privacy import PrivacyPolicy
from agent.value_matching import StoredValue, ValueSet, question_matches
from knowledge.models import IndexedColumn, ValueIndex, ValueIndexStatus

_sets: dict[int, tuple[object, ValueSet]] = {}
_sets_lock = threading.Lock()


def _index_read(connection_id: int) -> ValueIndex | None:
    """Return the connection's last finished build with its connection row (one
    query): it serves while the next one is under way (or failed: its columns
    are replaced only when a build succeeds)."""
    return (
        ValueIndex.objects.filter(connection_id=connection_id, built_at__isnull=False)
        .exclude(status=ValueIndexStatus.OFF)
        .select_related("connection")
        .first()
    )


def _value_set(index: ValueIndex, policy: PrivacyPolicy) -> ValueSet:
    """Return the build's values as a matchable set (cached per build),
    leaving out columns the current rules mask."""
    connection_id = index.connection_id
    stamp = (index.built_at, policy.masks)
    with _sets_lock:
        cached = _sets.get(connection_id)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    stored = [
        StoredValue(column.table_name, column.column_name, value)
        for column in IndexedColumn.objects.filter(connection_id=connection_id)
        if not policy.column_masked(column.table_name, column.column_name)
        for value in column.values
    ]
    values = ValueSet(stored)
    with _sets_lock:
        _sets[connection_id] = (stamp, values)
    return values


def value_context(
    *,
    connection_id: int,
    question: str,
    table_names: list[str],
    schema_inlined: bool = False,
    table_columns: Callable[[], Mapping[str, Sequence[str]]] | None = None,
) -> QuestionContext:
    """Return the stored values the question names, for the prompt, and their
    tables (ranked for retrieval on big schemas)."""
    index = _index_read(connection_id)
    if index is None:
        return QuestionContext()
    # The privacy rules as the row says now, read with the index.
    policy = PrivacyPolicy.for_connection(index.connection)
    if not policy.values_visible:
        return QuestionContext()
    values = _value_set(index, policy)
    if not values.values:
        return QuestionContext()
    # Table names are the question's names for tables, not values (folded
    # cheaply: thousands of them are read per question).
    skip = frozenset(name.lower().replace("_", "") for name in table_names)
    matches = question_matches(
        question, values, skip=skip, limit=settings.VALUE_MATCHES_MAX
    )
    if not matches:
        return QuestionContext()
    text = (
        "Values stored in the database that words of my question match (write "
        "them in SQL exactly as stored):\n" + "\n".join(m.line() for m in matches)
    )
    tables: list[str] = []
    for match in matches:
        if match.stored.table not in tables:
            tables.append(match.stored.table)
    return QuestionContext(
        text=text,
        tables=tables,
        why={t: "a value the question names" for t in tables},
    )
