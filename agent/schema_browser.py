"""The schema at hand: a connection's tables for the side panel and the API, listed
by name first (milliseconds on thousands of tables) and described one table at a
time on demand; and first questions suggested from the schema, with no LLM call.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone
from sqlalchemy import Engine, inspect
from sqlalchemy.engine.reflection import Inspector
from sqlalchemy.exc import SQLAlchemyError

from accounts.models import User
from agent.catalog_store import catalog_forget
from agent.engines import engine_cache
from agent.querying import session_engine_get, target_errors
from connections.engines import engine_create
from connections.models import DatabaseConnection, SessionStatus, UserSession

logger = logging.getLogger(__name__)

MAX_TABLES_LISTED = 5000
_DATE_TYPES = re.compile(r"date|time", re.IGNORECASE)
_NUMBER_TYPES = re.compile(r"int|numeric|decimal|real|double|float|money", re.I)
_TEXT_TYPES = re.compile(r"char|text|string|enum", re.IGNORECASE)


@dataclass(frozen=True)
class TableEntry:
    name: str
    kind: str  # "table" or "view"


@dataclass(frozen=True)
class ColumnEntry:
    name: str
    type: str
    nullable: bool
    primary_key: bool
    references: str | None
    comment: str | None


@dataclass(frozen=True)
class TableDetail:
    name: str
    kind: str
    comment: str | None
    columns: list[ColumnEntry] = field(default_factory=list)


@contextlib.contextmanager
def _engine_for(
    *, user: User, connection: DatabaseConnection
) -> Iterator[tuple[Engine, dict[str, Any]]]:
    """Yield the session's engine and what is kept with it when this connection
    is the one in use, else a one-off unpooled engine (disposed afterwards) and
    a dict that goes with it."""
    session = (
        UserSession.objects.select_related("db_connection")
        .filter(user=user, status=SessionStatus.ACTIVE, db_connection=connection)
        .first()
    )
    with target_errors():
        if session is not None:
            session_engine = session_engine_get(session)
            yield session_engine.engine, session_engine.extras
            return
        engine = engine_create(connection, pooled=False)
        try:
            yield engine, {}
        finally:
            engine.dispose()


def schema_tables(
    *, user: User, connection: DatabaseConnection, search: str = ""
) -> list[TableEntry]:
    """Return the connection's tables and views whose name contains `search`."""
    needle = search.strip().lower()
    with _engine_for(user=user, connection=connection) as (engine, kept):
        # Kept with the connection version's schema catalog (every session on
        # it shares them) until the connection changes or a refresh is asked.
        entries = kept.get("schema_tables")
        if entries is None:
            inspector = inspect(engine)
            tables = [TableEntry(n, "table") for n in inspector.get_table_names()]
            views = [TableEntry(n, "view") for n in inspector.get_view_names()]
            entries = sorted(tables + views, key=lambda e: e.name.lower())
            kept["schema_tables"] = entries
    if needle:
        entries = [e for e in entries if needle in e.name.lower()]
    return entries[:MAX_TABLES_LISTED]


def schema_table_detail(
    *, user: User, connection: DatabaseConnection, table: str
) -> TableDetail | None:
    """Return one table's columns, types, keys and comments; None if unknown."""
    with _engine_for(user=user, connection=connection) as (engine, kept):
        key = f"schema_table:{table}"
        detail: TableDetail | None = kept.get(key)
        if detail is None:
            detail = _table_detail_read(inspect(engine), table)
            if detail is not None:  # names that are no table are not kept
                kept[key] = detail
        return detail


def schema_refresh(*, connection: DatabaseConnection) -> None:
    """Read the connection's schema again at the next use, for every session on
    it: catalog, prompt schema, suggested questions and the schema panel."""
    # The catalog a worker shared for every process goes (the next is under the
    # new mark's key anyway)...
    catalog_forget(connection=connection)
    engine_cache.schema_refresh(connection.pk)
    # ...and other processes (workers, hosts) see the mark on the row at their
    # next use; a queryset update leaves updated_at, so pools and verdicts, alone.
    connection.schema_read_at = timezone.now()
    DatabaseConnection.objects.filter(pk=connection.pk).update(
        schema_read_at=connection.schema_read_at
    )
    logger.info("schema refresh connection=%s", connection.pk)


def _table_detail_read(inspector: Inspector, table: str) -> TableDetail | None:
    tables = set(inspector.get_table_names())
    views = set(inspector.get_view_names())
    if table not in tables and table not in views:
        return None
    kind = "table" if table in tables else "view"
    columns = inspector.get_columns(table)
    primary_key = set(
        inspector.get_pk_constraint(table).get("constrained_columns") or []
    )
    references: dict[str, str] = {}
    for fk in inspector.get_foreign_keys(table):
        for local, remote in zip(
            fk["constrained_columns"], fk["referred_columns"], strict=False
        ):
            references[local] = f"{fk['referred_table']}.{remote}"
    comment = None
    with contextlib.suppress(NotImplementedError, SQLAlchemyError):
        comment = inspector.get_table_comment(table).get("text")
    return TableDetail(
        name=table,
        kind=kind,
        comment=comment,
        columns=[
            ColumnEntry(
                name=c["name"],
                type=str(c["type"]),
                nullable=bool(c.get("nullable", True)),
                primary_key=c["name"] in primary_key,
                references=references.get(c["name"]),
                comment=c.get("comment"),
            )
            for c in columns
        ],
    )


def _label(name: str) -> str:
    return name.replace("_", " ")


def questions_suggest(
    *, user: User, connection: DatabaseConnection, limit: int = 4
) -> list[str]:
    """Return first questions built from the schema: counts, latest rows, totals."""
    with _engine_for(user=user, connection=connection) as (engine, kept):
        # Kept with the session's engine: the chat page shows them on every load
        # of an empty thread, and reading the schema each time cost more than
        # the rest of the page. As fresh as the session's schema catalog.
        key = f"suggested_questions:{limit}"
        suggestions = kept.get(key)
        if suggestions is None:
            suggestions = kept[key] = _suggestions_from(inspect(engine), limit)
        return list(suggestions)


def _suggestions_from(inspector: Inspector, limit: int) -> list[str]:
    suggestions: list[str] = []
    names = sorted(inspector.get_table_names())[:20]
    if names:
        suggestions.append("How many rows does each table have?")
    for name in names:
        if len(suggestions) >= limit:
            break
        columns = inspector.get_columns(name)
        dates = [c["name"] for c in columns if _DATE_TYPES.search(str(c["type"]))]
        numbers = [
            c["name"]
            for c in columns
            if _NUMBER_TYPES.search(str(c["type"]))
            and not c["name"].lower().endswith("id")
        ]
        texts = [
            c["name"]
            for c in columns
            if _TEXT_TYPES.search(str(c["type"]))
            and c["name"].lower() not in {"name", "email", "body", "description"}
        ]
        if dates:
            suggestions.append(
                f"Show the 10 latest {_label(name)} by {_label(dates[0])}."
            )
        if dates and numbers and len(suggestions) < limit:
            suggestions.append(
                f"What is the total {_label(numbers[0])} of {_label(name)} per month?"
            )
        elif texts and len(suggestions) < limit:
            suggestions.append(
                f"How many {_label(name)} are there per {_label(texts[0])}?"
            )
    return suggestions[:limit]
