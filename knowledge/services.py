"""Writes on knowledge: notes, instructions, examples (checked), imports, feedback."""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.files import File
from django.db import transaction
from django.utils import timezone
from sqlalchemy import inspect
from sqlalchemy.exc import SQLAlchemyError

from accounts.models import User
from agent import sql_guard
from agent.models import Turn, TurnStatus
from connections.backends import UnknownDatabaseType, backend_for
from connections.engines import engine_create
from connections.exceptions import TargetDatabaseUnavailable
from connections.models import DatabaseConnection
from knowledge.exceptions import (
    ExampleSqlRefused,
    ImportFileInvalid,
    NoteTargetTaken,
    TurnNotSavable,
)
from knowledge.models import (
    Example,
    ExampleSource,
    Feedback,
    GoldenQuestion,
    GoldenSet,
    Instruction,
    SchemaNote,
)

logger = logging.getLogger("knowledge")

# Column names other tools use for the SQL (Defog sql-eval, Spider: `query`).
DEFAULT_ALIASES = {"query": "sql", "gold_sql": "sql", "nl": "question"}


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
) -> Example:
    """Save a verified example once its SQL passes the read-only statement check."""
    example_sql_check(connection=connection, sql=sql)
    return Example.objects.create(
        connection=connection,
        question=question.strip(),
        sql=sql.strip(),
        instructions=instructions.strip(),
        source=source,
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
        return sql_guard.query_run(
            engine,
            db_type=connection.db_type,
            sql=sql,
            max_rows=settings.QUERY_MAX_ROWS,
            timeout_s=settings.QUERY_TIMEOUT_S,
        )
    except TargetDatabaseUnavailable as exc:
        raise sql_guard.QueryFailed(exc.message) from exc
    except SQLAlchemyError as exc:
        raise sql_guard.QueryFailed(str(getattr(exc, "orig", exc))[:300]) from exc
    finally:
        engine.dispose()


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


def example_from_turn(*, turn: Turn) -> Example:
    """Save a good answer's last successful query as a verified example."""
    queries = [q for q in turn.queries or [] if q.get("sql") and not q.get("error")]
    connection = turn.thread.db_connection
    if turn.status != TurnStatus.OK or not queries or connection is None:
        raise TurnNotSavable()
    return example_create(
        connection=connection,
        question=turn.question,
        sql=queries[-1]["sql"],
        source=ExampleSource.TURN,
    )


def instruction_create(*, connection: DatabaseConnection, text: str) -> Instruction:
    """Add an instruction to the connection's knowledge."""
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
    """Set the description of a table or column, replacing any earlier one."""
    note, _ = SchemaNote.objects.update_or_create(
        connection=connection,
        table_name=table_name.strip(),
        column_name=column_name.strip(),
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
    added = 0
    for table, column, comment in found:
        _, created = SchemaNote.objects.get_or_create(
            connection=connection,
            table_name=table,
            column_name=column,
            defaults={"description": comment, "source": SchemaNote.Source.DATABASE},
        )
        added += created
    return added


def golden_set_delete(*, golden_set: GoldenSet) -> None:
    """Delete a golden set and its questions; past runs on it keep their results."""
    golden_set.delete()


# ---------------------------------------------------------------------------
# Import
# ---------------------------------------------------------------------------


@dataclass
class ImportReport:
    created: int = 0
    # (line number, reason) for every line that was not imported.
    errors: list[tuple[int, str]] = field(default_factory=list)


def _records(text: str) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """Yield (line, record or error) from CSV, JSONL or a JSON array."""
    stripped = text.lstrip("\ufeff").strip()
    if not stripped:
        return
    if stripped.startswith("["):
        try:
            items = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise ImportFileInvalid(f"The JSON array is not valid JSON: {exc}") from exc
        for number, item in enumerate(items, start=1):
            yield number, item if isinstance(item, dict) else "not a JSON object"
        return
    if stripped.startswith("{"):
        for number, line in enumerate(text.lstrip("\ufeff").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError as exc:
                yield number, f"not valid JSON ({exc.msg})"
                continue
            yield number, item if isinstance(item, dict) else "not a JSON object"
        return
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    if not reader.fieldnames:
        raise ImportFileInvalid("The CSV file has no header line.")
    for row in reader:
        if None in row:
            yield reader.line_num, "more values than header columns"
            continue
        yield reader.line_num, dict(row)


def examples_import(
    *,
    connection: DatabaseConnection,
    text: str,
    set_name: str | None = None,
    mapping: Mapping[str, str] | None = None,
) -> ImportReport:
    """Import question/SQL pairs; each bad line is reported and skipped, never fatal.

    Without `set_name` they become verified examples; with it, the questions of
    that golden set (created with the first good line).
    """
    aliases = {**DEFAULT_ALIASES, **(mapping or {})}
    report = ImportReport()
    golden_set = None
    for number, record in _records(text):
        if isinstance(record, str):
            report.errors.append((number, record))
            continue
        values = {aliases.get(k, k): v for k, v in record.items() if k is not None}
        question = str(values.get("question") or "").strip()
        sql = str(values.get("sql") or "").strip()
        instructions = str(values.get("instructions") or "").strip()
        if not question or not sql:
            missing = "question" if not question else "sql"
            report.errors.append((number, f"missing {missing}"))
            continue
        try:
            example_sql_check(connection=connection, sql=sql)
        except ExampleSqlRefused as exc:
            report.errors.append((number, exc.message))
            continue
        with transaction.atomic():
            if set_name and golden_set is None:
                # Made with its first good line: a file of bad lines leaves none.
                golden_set, _ = GoldenSet.objects.get_or_create(
                    connection=connection, name=set_name
                )
            if golden_set is not None:
                GoldenQuestion.objects.create(
                    golden_set=golden_set,
                    question=question,
                    sql=sql,
                    instructions=instructions,
                )
            else:
                Example.objects.create(
                    connection=connection,
                    question=question,
                    sql=sql,
                    instructions=instructions,
                    source=ExampleSource.IMPORT,
                )
        report.created += 1
    return report


def examples_import_file(
    *, connection: DatabaseConnection, file: File, set_name: str | None = None
) -> ImportReport:
    """Import an uploaded UTF-8 file of question/SQL pairs (see examples_import)."""
    try:
        text = file.read().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ImportFileInvalid("The file is not UTF-8 text.") from exc
    return examples_import(connection=connection, text=text, set_name=set_name)


# ---------------------------------------------------------------------------
# Feedback
# ---------------------------------------------------------------------------


def feedback_set(*, turn: Turn, user: User, rating: str, comment: str = "") -> Feedback:
    """Record the owner's 👍/👎 on a turn, replacing an earlier one."""
    feedback, _ = Feedback.objects.update_or_create(
        turn=turn, defaults={"user": user, "rating": rating, "comment": comment.strip()}
    )
    return feedback
