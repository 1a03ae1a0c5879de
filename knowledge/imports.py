"""Import a file of question/SQL pairs (CSV, JSONL or a JSON array).

The file is read whole before anything is saved. A file that cannot be read
(not UTF-8, not valid JSON, nested too deeply, a CSV field past the csv
module's limit) or that has more lines than KNOWLEDGE_IMPORT_MAX_LINES is
refused with the reason, and nothing is imported. A bad line is reported with
its number and skipped. The good lines are saved together, and none of them
when they would take the connection past its cap of examples.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.files import File
from django.db import transaction

from connections.models import DatabaseConnection
from knowledge import limits
from knowledge.exceptions import ExampleSqlRefused, ImportFileInvalid, ImportTooLong
from knowledge.limits import knowledge_room
from knowledge.models import Example, ExampleSource, GoldenQuestion, GoldenSet
from knowledge.services import example_sql_check
from knowledge.versions import knowledge_changed

# Column names other tools use for the SQL (Defog sql-eval, Spider: `query`).
DEFAULT_ALIASES = {"query": "sql", "gold_sql": "sql", "nl": "question"}
FIELDS = (
    ("question", limits.QUESTION_MAX_CHARS),
    ("sql", limits.SQL_MAX_CHARS),
    ("instructions", limits.INSTRUCTIONS_MAX_CHARS),
)

Record = tuple[int, dict[str, Any] | str]


@dataclass
class ImportReport:
    created: int = 0
    # (line number, reason) for every line that was not imported.
    errors: list[tuple[int, str]] = field(default_factory=list)


def _too_long(limit: int) -> ImportTooLong:
    return ImportTooLong(
        f"The file has more than {limit:,} lines, the most one import takes: "
        "split it. Nothing was imported."
    )


def _json_array(text: str, max_lines: int) -> list[Record]:
    try:
        items = json.loads(text)
    except RecursionError as exc:
        raise ImportFileInvalid(
            "The JSON array is nested too deeply to read: each item must be a "
            "flat object."
        ) from exc
    except ValueError as exc:
        raise ImportFileInvalid(f"The JSON array is not valid JSON: {exc}") from exc
    if len(items) > max_lines:
        raise _too_long(max_lines)
    return [
        (number, item if isinstance(item, dict) else "not a JSON object")
        for number, item in enumerate(items, start=1)
    ]


def _json_lines(text: str, max_lines: int) -> list[Record]:
    lines = [(n, line) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
    if len(lines) > max_lines:
        raise _too_long(max_lines)
    records: list[Record] = []
    for number, line in lines:
        try:
            item = json.loads(line)
        except RecursionError:
            records.append((number, "nested too deeply to read"))
            continue
        except ValueError as exc:
            records.append((number, f"not valid JSON ({getattr(exc, 'msg', exc)})"))
            continue
        records.append(
            (number, item if isinstance(item, dict) else "not a JSON object")
        )
    return records


def _csv_rows(text: str, max_lines: int) -> list[Record]:
    reader = csv.DictReader(io.StringIO(text))
    records: list[Record] = []
    try:
        if not reader.fieldnames:
            raise ImportFileInvalid("The CSV file has no header line.")
        for row in reader:
            if len(records) == max_lines:
                raise _too_long(max_lines)
            if None in row:
                records.append((reader.line_num, "more values than header columns"))
            else:
                records.append((reader.line_num, dict(row)))
    except csv.Error as exc:
        # e.g. a field past the csv module's limit (131,072 characters).
        raise ImportFileInvalid(
            # The DictReader's own line number is set only after a good row.
            f"The CSV file cannot be read at line {reader.reader.line_num}: {exc}; "
            "nothing was imported."
        ) from exc
    return records


def _records(text: str) -> list[Record]:
    """Return (line, record or why it is not one) for the file's every line."""
    max_lines = settings.KNOWLEDGE_IMPORT_MAX_LINES
    text = text.lstrip("\ufeff")
    stripped = text.strip()
    if not stripped:
        return []
    if stripped.startswith("["):
        return _json_array(stripped, max_lines)
    if stripped.startswith("{"):
        return _json_lines(text, max_lines)
    return _csv_rows(text, max_lines)


def _pair(
    record: dict[str, Any], aliases: Mapping[str, str]
) -> tuple[str, str, str] | str:
    """Return (question, sql, instructions) of one line, or why it is refused."""
    values = {aliases.get(k, k): v for k, v in record.items() if k is not None}
    texts: dict[str, str] = {}
    for name, limit in FIELDS:
        value = values.get(name)
        if value is None:
            value = ""
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            return f"{name} is not text"
        text = str(value).strip()
        if len(text) > limit:
            return f"{name} is longer than {limit:,} characters"
        if "\x00" in text:
            return f"{name} contains a NUL character"
        texts[name] = text
    for name in ("question", "sql"):
        if not texts[name]:
            return f"missing {name}"
    return texts["question"], texts["sql"], texts["instructions"]


def examples_import(
    *,
    connection: DatabaseConnection,
    text: str,
    set_name: str | None = None,
    mapping: Mapping[str, str] | None = None,
) -> ImportReport:
    """Import question/SQL pairs; each bad line is reported and skipped.

    Without `set_name` they become verified examples (all the good lines, or
    none past the cap); with it, the questions of that golden set (created
    when there is a good line).
    """
    aliases = {**DEFAULT_ALIASES, **(mapping or {})}
    report = ImportReport()
    good: list[tuple[str, str, str]] = []
    for number, record in _records(text):
        pair = record if isinstance(record, str) else _pair(record, aliases)
        if isinstance(pair, str):
            report.errors.append((number, pair))
            continue
        try:
            example_sql_check(connection=connection, sql=pair[1])
        except ExampleSqlRefused as exc:
            report.errors.append((number, exc.message))
            continue
        good.append(pair)
    if good and set_name:
        _golden_questions_save(connection=connection, set_name=set_name, pairs=good)
    elif good:
        _examples_save(connection=connection, pairs=good)
    report.created = len(good)
    return report


def _golden_questions_save(
    *, connection: DatabaseConnection, set_name: str, pairs: list[tuple[str, str, str]]
) -> None:
    with transaction.atomic():
        golden_set, _ = GoldenSet.objects.get_or_create(
            connection=connection, name=set_name
        )
        GoldenQuestion.objects.bulk_create(
            (
                GoldenQuestion(
                    golden_set=golden_set, question=q, sql=sql, instructions=notes
                )
                for q, sql, notes in pairs
            ),
            batch_size=500,
        )


def _examples_save(
    *, connection: DatabaseConnection, pairs: list[tuple[str, str, str]]
) -> None:
    with knowledge_room(
        connection_id=connection.pk, kind=limits.EXAMPLES, adding=len(pairs)
    ):
        Example.objects.bulk_create(
            (
                Example(
                    connection=connection,
                    question=q,
                    sql=sql,
                    instructions=notes,
                    source=ExampleSource.IMPORT,
                )
                for q, sql, notes in pairs
            ),
            batch_size=500,
        )
        knowledge_changed(connection.pk)


def examples_import_file(
    *, connection: DatabaseConnection, file: File, set_name: str | None = None
) -> ImportReport:
    """Import an uploaded UTF-8 file of question/SQL pairs (see examples_import)."""
    try:
        text = file.read().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ImportFileInvalid("The file is not UTF-8 text.") from exc
    return examples_import(connection=connection, text=text, set_name=set_name)
