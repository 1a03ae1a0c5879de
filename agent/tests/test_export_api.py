"""GET /threads/{thread_id}/turns/{turn_id}/export: a turn's SQL run again and
written as CSV or Excel, capped, formula cells as text, for its owner only."""

from __future__ import annotations

import csv
import io
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from accounts.services import token_create

pytestmark = pytest.mark.django_db

EXPORT_FILE = "export.sqlite3"
SQL = "SELECT id, label FROM items ORDER BY id"
LABELS = ["plain", "=1+2", "+cmd", "-3 apples", "@SUM(A1)"]


@pytest.fixture
def items_db(sqlite_dir: Path) -> Path:
    """A SQLite file of its own, so a test can add rows without touching the shop."""
    path = sqlite_dir / EXPORT_FILE
    path.unlink(missing_ok=True)
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, label TEXT)")
        db.executemany(
            "INSERT INTO items (id, label) VALUES (?, ?)",
            list(enumerate(LABELS, 1)),
        )
    return path


@pytest.fixture
def turn(alice: Any, alice_client: Any, connected_session: Any, items_db: Path) -> Any:
    connected_session(alice, "sqlite", database_name=EXPORT_FILE)
    response = alice_client.post("/ask/sql", {"sql": SQL}, format="json")
    assert response.status_code == 200
    return response.json()


def _url(turn: dict[str, Any], kind: str = "csv") -> str:
    return f"/threads/{turn['thread_id']}/turns/{turn['turn_id']}/export?format={kind}"


def _csv(response: Any) -> list[list[str]]:
    text = b"".join(response.streaming_content).decode()
    return list(csv.reader(io.StringIO(text)))


def test_the_csv_export_runs_the_sql_again_and_sees_a_row_added_since(
    alice_client: Any, turn: dict[str, Any], items_db: Path
) -> None:
    with sqlite3.connect(items_db) as db:
        db.execute("INSERT INTO items (id, label) VALUES (6, 'added later')")

    response = alice_client.get(_url(turn))

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert 'filename="sqlagent-' in response["Content-Disposition"]
    rows = _csv(response)
    assert rows[0] == ["id", "label"]
    assert rows[-1] == ["6", "added later"]
    assert len(rows) == 7


def test_formula_cells_are_written_as_text_in_csv(
    alice_client: Any, turn: dict[str, Any]
) -> None:
    rows = _csv(alice_client.get(_url(turn)))

    assert [row[1] for row in rows[1:]] == [
        "plain",
        "'=1+2",
        "'+cmd",
        "'-3 apples",
        "'@SUM(A1)",
    ]


def test_the_excel_export_reads_back_with_the_rows_and_formulas_as_text(
    alice_client: Any, turn: dict[str, Any]
) -> None:
    response = alice_client.get(_url(turn, "xlsx"))

    assert response.status_code == 200
    assert response["Content-Type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    workbook = load_workbook(io.BytesIO(b"".join(response.streaming_content)))
    sheet = workbook.active
    values = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert values == [
        ["id", "label"],
        *[[n, label] for n, label in enumerate(LABELS, 1)],
    ]
    # No cell is a formula a spreadsheet would run.
    assert {cell.data_type for row in sheet.iter_rows() for cell in row} <= {"s", "n"}


def test_the_export_stops_at_the_row_cap_and_says_so_in_the_file(
    alice_client: Any, turn: dict[str, Any], settings: Any
) -> None:
    settings.EXPORT_MAX_ROWS = 2

    rows = _csv(alice_client.get(_url(turn)))
    workbook = load_workbook(
        io.BytesIO(b"".join(alice_client.get(_url(turn, "xlsx")).streaming_content))
    )
    last = [cell.value for cell in list(workbook.active.iter_rows())[-1]]

    assert rows[1:3] == [["1", "plain"], ["2", "'=1+2"]]
    assert len(rows) == 4
    assert rows[-1][0].startswith("Export stopped at the cap of 2 rows")
    assert str(last[0]).startswith("Export stopped at the cap of 2 rows")


def test_a_personal_access_token_may_export(
    alice: Any, turn: dict[str, Any], anon_client: Any
) -> None:
    value = token_create(owner=alice, name="script", scope="ask").value
    anon_client.credentials(HTTP_AUTHORIZATION=f"Bearer {value}")

    response = anon_client.get(_url(turn))

    assert response.status_code == 200
    assert len(_csv(response)) == 6


def test_bob_gets_404_for_alices_export_and_anonymous_401(
    bob_client: Any, anon_client: Any, turn: dict[str, Any]
) -> None:
    assert bob_client.get(_url(turn)).status_code == 404
    assert anon_client.get(_url(turn)).status_code == 401


def test_an_unknown_format_is_a_400(alice_client: Any, turn: dict[str, Any]) -> None:
    response = alice_client.get(_url(turn, "pdf"))

    assert response.status_code == 400
    assert response.json()["code"] == "export_format_invalid"


def test_sql_that_now_fails_is_a_409_with_the_reason(
    alice_client: Any, turn: dict[str, Any], items_db: Path
) -> None:
    with sqlite3.connect(items_db) as db:
        db.execute("DROP TABLE items")

    response = alice_client.get(_url(turn))

    assert response.status_code == 409
    assert response.json()["code"] == "export_failed"
    assert "items" in response.json()["detail"]
