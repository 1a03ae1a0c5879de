"""The boards API: create and list personal boards, pin a turn, open a board
with each tile's SQL run again (fresh rows, never the model), owners only."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from boards.models import Board

pytestmark = pytest.mark.django_db

SALES_FILE = "boards.sqlite3"
SQL = "SELECT region, SUM(amount) AS total FROM sales GROUP BY region ORDER BY region"


@pytest.fixture
def sales_db(sqlite_dir: Path) -> Path:
    path = sqlite_dir / SALES_FILE
    path.unlink(missing_ok=True)
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE sales (region TEXT, amount INTEGER)")
        db.executemany(
            "INSERT INTO sales VALUES (?, ?)", [("North", 10), ("South", 20)]
        )
    return path


@pytest.fixture
def turn(alice: Any, alice_client: Any, connected_session: Any, sales_db: Path) -> Any:
    connected_session(alice, "sqlite", database_name=SALES_FILE)
    response = alice_client.post("/ask/sql", {"sql": SQL}, format="json")
    assert response.status_code == 200
    return response.json()


@pytest.fixture
def board(alice_client: Any) -> dict[str, Any]:
    response = alice_client.post("/boards", {"name": "Weekly sales"}, format="json")
    assert response.status_code == 201
    return response.json()


def _pin(client: Any, board: dict[str, Any], turn: dict[str, Any]) -> Any:
    return client.post(
        f"/boards/{board['id']}/tiles", {"turn_id": turn["turn_id"]}, format="json"
    )


def test_a_board_is_created_and_listed_for_its_owner_only(
    alice_client: Any, bob_client: Any, board: dict[str, Any]
) -> None:
    assert board["name"] == "Weekly sales"
    assert board["team_id"] is None
    assert [b["name"] for b in alice_client.get("/boards").json()] == ["Weekly sales"]
    assert bob_client.get("/boards").json() == []


def test_a_pinned_tile_shows_fresh_rows_after_a_row_is_added(
    alice_client: Any,
    board: dict[str, Any],
    turn: dict[str, Any],
    sales_db: Path,
    llm_stub: Any,
) -> None:
    assert _pin(alice_client, board, turn).status_code == 201
    with sqlite3.connect(sales_db) as db:
        db.execute("INSERT INTO sales VALUES ('West', 5)")

    response = alice_client.get(f"/boards/{board['id']}")

    assert response.status_code == 200
    (tile,) = response.json()["tiles"]
    assert tile["sql"] == SQL
    assert tile["columns"] == ["region", "total"]
    assert tile["rows"] == [["North", 10], ["South", 20], ["West", 5]]
    assert tile["error"] is None
    assert tile["refreshed_at"]
    assert tile["chart"]["mark"]["type"] == "bar"
    assert llm_stub.requests == []  # a board never calls the model


def test_a_tile_whose_sql_now_fails_shows_why(
    alice_client: Any, board: dict[str, Any], turn: dict[str, Any], sales_db: Path
) -> None:
    _pin(alice_client, board, turn)
    with sqlite3.connect(sales_db) as db:
        db.execute("DROP TABLE sales")

    (tile,) = alice_client.get(f"/boards/{board['id']}").json()["tiles"]

    assert tile["rows"] == []
    assert "sales" in tile["error"]


def test_bob_gets_404_for_alices_board_and_cannot_pin_alices_turn(
    bob_client: Any, bob: Any, board: dict[str, Any], turn: dict[str, Any]
) -> None:
    assert bob_client.get(f"/boards/{board['id']}").status_code == 404
    assert _pin(bob_client, board, turn).status_code == 404
    bobs = bob_client.post("/boards", {"name": "Bob's"}, format="json").json()
    assert _pin(bob_client, bobs, turn).status_code == 404


def test_bad_input_is_a_400(
    alice_client: Any, board: dict[str, Any], turn: dict[str, Any]
) -> None:
    assert alice_client.post("/boards", {"name": ""}, format="json").status_code == 400
    too_long = alice_client.post("/boards", {"name": "B" * 101}, format="json")
    assert too_long.status_code == 400
    # A team the caller is not a member of (here: none) is a 404.
    team = alice_client.post("/boards", {"name": "T", "team_id": 1}, format="json")
    assert team.status_code == 404
    pin = alice_client.post(
        f"/boards/{board['id']}/tiles", {"turn_id": "x"}, format="json"
    )
    assert pin.status_code == 400
    assert Board.objects.count() == 1


def test_anonymous_gets_401(anon_client: Any, board: dict[str, Any]) -> None:
    assert anon_client.get("/boards").status_code == 401
    assert anon_client.get(f"/boards/{board['id']}").status_code == 401


def test_tiles_keep_their_order_and_each_shows_its_own_rows(
    alice_client: Any, board: dict[str, Any], turn: dict[str, Any]
) -> None:
    other = alice_client.post(
        "/ask/sql", {"sql": "SELECT COUNT(*) AS n FROM sales"}, format="json"
    ).json()
    _pin(alice_client, board, turn)
    _pin(alice_client, board, other)

    tiles = alice_client.get(f"/boards/{board['id']}").json()["tiles"]

    assert [tile["columns"] for tile in tiles] == [["region", "total"], ["n"]]
    assert tiles[1]["rows"] == [[2]]
    assert tiles[1]["chart"] is None
