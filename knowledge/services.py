"""Writes on knowledge: notes, instructions, examples (checked), feedback.

Imports of files are in `knowledge.imports`; every addition fits a cap
(`knowledge.limits`).
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.utils import timezone
from sqlalchemy import Engine, inspect
from sqlalchemy.exc import SQLAlchemyError

from accounts.models import User
from agent import sql_guard
from agent.catalog import SchemaCatalog
from agent.models import Turn, TurnStatus
from agent.querying import query_checked_run
from connections.backends import UnknownDatabaseType, backend_for
from connections.engines import engine_create
from connections.exceptions import TargetDatabaseUnavailable
from connections.models import DatabaseConnection
from knowledge import limits
from knowledge.exceptions import (
    ExampleSqlRefused,
    NoteTargetTaken,
    TurnNotSavable,
)
from knowledge.limits import knowledge_room, knowledge_room_check
from knowledge.models import (
    Example,
    ExampleSource,
    Feedback,
    GoldenQuestion,
    GoldenSet,
    Instruction,
    SchemaNote,
)
from knowledge.versions import knowledge_changed, knowledge_lock
from sqlagent_project.queue import broker_configured, enqueue

logger = logging.getLogger("knowledge")


def example_sql_check(*, connection: DatabaseConnection, sql: str) -> str:
    """Return the SQL when it is one read-only statement; else raise with the reason."""
    try:
        return sql_guard.statement_check(sql, db_type=connection.db_type)
    except sql_guard.StatementRefused as exc:
        raise ExampleSqlRefused(exc.reason) from exc


def example_create(
    *,
    connection: DatabaseConnection,
    question: str,
    sql: str,
    instructions: str = "",
    source: str = ExampleSource.MANUAL,
    proposed_by: User | None = None,
) -> Example:
    """Save an example once its SQL passes the read-only statement check: verified,
    or (with `proposed_by`, a team analyst) kept unverified for an admin."""
    example_sql_check(connection=connection, sql=sql)
    with knowledge_room(connection_id=connection.pk, kind=limits.EXAMPLES):
        return Example.objects.create(
            connection=connection,
            question=question.strip(),
            sql=sql.strip(),
            instructions=instructions.strip(),
            source=source,
            verified=proposed_by is None,
            proposed_by=proposed_by,
        )


def example_update(*, example: Example, **fields: Any) -> Example:
    """Change an example; changed SQL is checked again and its last check forgotten."""
    if "sql" in fields and fields["sql"] != example.sql:
        example_sql_check(connection=example.connection, sql=fields["sql"])
        example.checked_at = None
        example.last_check_ok = None
        example.last_check_error = ""
    for name, value in fields.items():
        setattr(example, name, value.strip() if isinstance(value, str) else value)
    example.save()
    return example


def example_delete(*, example: Example) -> None:
    """Delete a verified example: it is no longer retrieved into prompts."""
    example.delete()


def sql_run_readonly(
    *, connection: DatabaseConnection, sql: str
) -> sql_guard.QueryResult:
    """Run SQL on the connection's database read-only and bounded, on a fresh engine."""
    try:
        engine = engine_create(connection, pooled=False)
    except TargetDatabaseUnavailable as exc:
        raise sql_guard.QueryFailed(exc.message) from exc
    try:
        catalog = SchemaCatalog(engine, connection.db_type)
        return sql_run_on(engine, db_type=connection.db_type, catalog=catalog, sql=sql)
    finally:
        engine.dispose()


def sql_run_on(
    engine: Engine, *, db_type: str, catalog: SchemaCatalog, sql: str
) -> sql_guard.QueryResult:
    """Run SQL read-only and bounded on an open engine whose catalog is known
    (an evaluation run keeps one of each for all its questions)."""
    try:
        # Checked as the model's queries are (attribute calls too).
        return query_checked_run(
            engine,
            db_type=db_type,
            catalog=catalog,
            sql=sql,
        )
    except TargetDatabaseUnavailable as exc:
        raise sql_guard.QueryFailed(exc.message) from exc
    except SQLAlchemyError as exc:
        raise sql_guard.QueryFailed(str(getattr(exc, "orig", exc))[:300]) from exc


def example_check(*, example: Example) -> Example:
    """Re-run the example's SQL to show whether it still works on today's schema."""
    try:
        sql_run_readonly(connection=example.connection, sql=example.sql)
    except sql_guard.StatementRefused as exc:
        example.last_check_ok, example.last_check_error = False, exc.reason
    except sql_guard.QueryFailed as exc:
        example.last_check_ok, example.last_check_error = False, exc.message
    else:
        example.last_check_ok, example.last_check_error = True, ""
    example.checked_at = timezone.now()
    example.save(update_fields=["last_check_ok", "last_check_error", "checked_at"])
    return example


def example_from_turn(*, turn: Turn, proposed_by: User | None = None) -> Example:
    """Save a good answer's last successful query as an example (unverified when
    `proposed_by` a team analyst)."""
    queries = [q for q in turn.queries or [] if q.get("sql") and not q.get("error")]
    connection = turn.thread.db_connection
    if turn.status != TurnStatus.OK or not queries or connection is None:
        raise TurnNotSavable()
    return example_create(
        connection=connection,
        question=turn.question,
        sql=queries[-1]["sql"],
        source=ExampleSource.TURN,
        proposed_by=proposed_by,
    )


def instruction_create(*, connection: DatabaseConnection, text: str) -> Instruction:
    """Add an instruction to the connection's knowledge, within its cap."""
    with knowledge_room(connection_id=connection.pk, kind=limits.INSTRUCTIONS):
        return Instruction.objects.create(connection=connection, text=text.strip())


def instruction_update(*, instruction: Instruction, text: str) -> Instruction:
    """Replace an instruction's text."""
    instruction.text = text.strip()
    instruction.save(update_fields=["text"])
    return instruction


def instruction_delete(*, instruction: Instruction) -> None:
    """Delete an instruction."""
    instruction.delete()


def note_upsert(
    *,
    connection: DatabaseConnection,
    table_name: str,
    column_name: str = "",
    description: str,
) -> SchemaNote:
    """Set the description of a table or column, replacing any earlier one.

    A new one must fit under the cap; replacing one adds nothing.
    """
    target: dict[str, Any] = {
        "connection": connection,
        "table_name": table_name.strip(),
        "column_name": column_name.strip(),
    }
    with transaction.atomic():
        knowledge_lock(connection.pk)
        if not SchemaNote.objects.filter(**target).exists():
            knowledge_room_check(connection_id=connection.pk, kind=limits.DESCRIPTIONS)
        note, _ = SchemaNote.objects.update_or_create(
            **target,
            defaults={
                "description": description.strip(),
                "source": SchemaNote.Source.MANUAL,
            },
        )
    return note


def note_update(*, note: SchemaNote, **fields: str) -> SchemaNote:
    """Change a description or what it describes; it is then written by hand.

    Moving it onto a table or column that already has one is refused: the
    other description would be lost without anyone choosing that.
    """
    for name, value in fields.items():
        setattr(note, name, value.strip())
    taken = (
        SchemaNote.objects.filter(
            connection_id=note.connection_id,
            table_name=note.table_name,
            column_name=note.column_name,
        )
        .exclude(pk=note.pk)
        .exists()
    )
    if taken:
        raise NoteTargetTaken(f"“{note}” already has a description: edit that one.")
    note.source = SchemaNote.Source.MANUAL
    note.save()
    return note


def note_delete(*, note: SchemaNote) -> None:
    """Delete a description (a prefill may add the database's comment back)."""
    note.delete()


def notes_prefill_requested(*, connection: DatabaseConnection) -> int | None:
    """Prefill now and return how many were added (no broker: as it always
    was), or put it on the queue for a worker and return None (a big database's
    comments take a while to read)."""
    if not broker_configured():
        return notes_prefill(connection=connection)
    from knowledge.tasks import notes_prefill as notes_prefill_task

    enqueue(notes_prefill_task, connection_id=connection.pk)
    return None


def notes_prefill(*, connection: DatabaseConnection) -> int:
    """Copy the database's own table and column comments into notes not yet written.

    Returns how many notes were added. An engine that keeps no comments (its
    backend says so: SQLite) adds nothing.
    A database that cannot be read raises TargetDatabaseUnavailable with the reason.
    """
    try:
        if not backend_for(connection.db_type).schema_comments:
            return 0
    except UnknownDatabaseType as exc:
        raise TargetDatabaseUnavailable(str(exc)) from None
    engine = engine_create(connection, pooled=False)
    found: list[tuple[str, str, str]] = []
    try:
        inspector = inspect(engine)
        for table in inspector.get_table_names():
            comment = (inspector.get_table_comment(table) or {}).get("text")
            if comment:
                found.append((table, "", comment))
            for reflected in inspector.get_columns(table):
                column_comment = reflected.get("comment")
                if column_comment:
                    found.append((table, reflected["name"], column_comment))
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", exc))[:300]
        raise TargetDatabaseUnavailable(
            f"The database's comments could not be read: {reason}"
        ) from exc
    finally:
        engine.dispose()
    return _notes_add_from_database(connection=connection, found=found)


def _notes_add_from_database(
    *, connection: DatabaseConnection, found: list[tuple[str, str, str]]
) -> int:
    """Save the comments of targets not yet described, all or none (the cap)."""
    with transaction.atomic():
        knowledge_lock(connection.pk)
        taken = set(
            SchemaNote.objects.filter(connection=connection).values_list(
                "table_name", "column_name"
            )
        )
        new: dict[tuple[str, str], str] = {}
        for table, column, comment in found:
            if (table, column) not in taken:
                new.setdefault((table, column), comment)
        knowledge_room_check(
            connection_id=connection.pk, kind=limits.DESCRIPTIONS, adding=len(new)
        )
        SchemaNote.objects.bulk_create(
            SchemaNote(
                connection=connection,
                table_name=table,
                column_name=column,
                description=comment,
                source=SchemaNote.Source.DATABASE,
            )
            for (table, column), comment in new.items()
        )
        if new:
            knowledge_changed(connection.pk)
    return len(new)


def golden_set_delete(*, golden_set: GoldenSet) -> None:
    """Delete a golden set and its questions; past runs on it keep their results."""
    golden_set.delete()


# ---------------------------------------------------------------------------
# Feedback
# ---------------------------------------------------------------------------


def feedback_set(*, turn: Turn, user: User, rating: str, comment: str = "") -> Feedback:
    """Record the owner's 👍/👎 on a turn, replacing an earlier one."""
    feedback, _ = Feedback.objects.update_or_create(
        turn=turn, defaults={"user": user, "rating": rating, "comment": comment.strip()}
    )
    return feedback


def golden_question_update(
    *, item: GoldenQuestion, question: str, sql: str, instructions: str = ""
) -> GoldenQuestion:
    """Change one question of a golden set (its SQL was checked by the form)."""
    item.question = question.strip()
    item.sql = sql.strip()
    item.instructions = instructions.strip()
    item.save(update_fields=["question", "sql", "instructions"])
    return item
