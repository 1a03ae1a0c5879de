"""A turn's full result as a file: its SQL run again, written as CSV or Excel.

The stored rows of a turn are what the chat showed (capped for the page); an
export runs the SQL again under the same guard and bounds with its own row cap
(`EXPORT_MAX_ROWS`), and says in the file itself when it stopped at a cap.
Cells a spreadsheet would run as a formula are written as text.
"""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.utils.text import slugify

from agent import sql_guard
from agent.models import Turn
from agent.reruns import NothingToRerun, sql_rerun_for_user, turn_sql
from sqlagent_project.errors import ApplicationError

# Spreadsheets run a cell starting with one of these as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
FORMATS = ("csv", "xlsx")
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_CSV_ROWS_PER_CHUNK = 200


class ExportRefused(ApplicationError):
    """The turn's SQL is refused by the guard now (the rules may have changed)."""

    status_code = 400
    code = "export_refused"


class ExportFailed(ApplicationError):
    """The turn's SQL failed when run again (a table dropped, a timeout)."""

    status_code = 409
    code = "export_failed"


@dataclass(frozen=True)
class Export:
    """A turn's rows run again, ready to write."""

    filename: str
    result: sql_guard.QueryResult
    row_cap: int

    @property
    def cap_note(self) -> str | None:
        """Return the line that says the export stopped at a cap, if it did."""
        if not self.result.truncated:
            return None
        if self.result.truncated_reason == "bytes":
            return (
                f"Export stopped after {self.result.row_count} rows at the size "
                "limit of a result; the query returned more."
            )
        return (
            f"Export stopped at the cap of {self.row_cap} rows (EXPORT_MAX_ROWS); "
            "the query returned more."
        )


def turn_export(*, turn: Turn) -> Export:
    """Run the turn's SQL again on its conversation's database, for its owner."""
    connection = turn.thread.db_connection
    if connection is None:
        raise NothingToRerun("The database of this conversation was removed.")
    sql = turn_sql(turn)
    row_cap = settings.EXPORT_MAX_ROWS
    try:
        result = sql_rerun_for_user(connection=connection, sql=sql, max_rows=row_cap)
    except sql_guard.StatementRefused as exc:
        raise ExportRefused(f"Refused: {exc.reason}") from exc
    except sql_guard.QueryFailed as exc:
        raise ExportFailed(f"The query failed when run again: {exc.message}") from exc
    name = slugify(turn.question)[:40] or "result"
    return Export(
        filename=f"sqlagent-{name}-turn-{turn.id}", result=result, row_cap=row_cap
    )


def spreadsheet_text(value: Any) -> Any:
    """Return a cell a spreadsheet shows as text, never runs as a formula."""
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return spreadsheet_text(str(value))
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_chunks(export: Export) -> Iterator[str]:
    """Yield the CSV a few hundred rows at a time (the response streams them)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def flush() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    writer.writerow([spreadsheet_text(c) for c in export.result.columns])
    for number, row in enumerate(export.result.rows, 1):
        writer.writerow([spreadsheet_text(value) for value in row])
        if number % _CSV_ROWS_PER_CHUNK == 0:
            yield flush()
    if export.cap_note:
        writer.writerow([export.cap_note])
    yield flush()


def xlsx_file(export: Export) -> Any:
    """Return an open temporary file holding the workbook, at its start."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Result")

    def text_safe(value: Any) -> WriteOnlyCell:
        if isinstance(value, dict | list):
            value = str(value)
        cell = WriteOnlyCell(sheet, value=value)
        if isinstance(value, str):
            # openpyxl would store "=…" as a formula: keep every text a string.
            cell.data_type = "s"
        return cell

    sheet.append([text_safe(column) for column in export.result.columns])
    for row in export.result.rows:
        sheet.append([text_safe(value) for value in row])
    if export.cap_note:
        sheet.append([text_safe(export.cap_note)])
    # Up to 1 MB in memory, then on disk: a 100,000-row export is not held.
    spooled = tempfile.SpooledTemporaryFile(max_size=1024 * 1024)  # noqa: SIM115
    workbook.save(spooled)
    spooled.seek(0)
    return spooled
