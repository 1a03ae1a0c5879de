"""Team boards: created by a team's admins and analysts, read by every member
(tiles run again under the reader's own rights), changed by their creator or
the team's admins, and a 404 for everyone else, on the real engines."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from boards.models import Board
from teams.models import Membership
from teams.services import member_remove, team_delete
from testsupport.fixtures import ENGINES

pytestmark = pytest.mark.django_db

SQL = "SELECT name, country FROM customers WHERE country = 'Germany' ORDER BY id"
SALES_FILE = "team-boards.sqlite3"
SALES_SQL = (
    "SELECT region, SUM(amount) AS total FROM sales GROUP BY region ORDER BY region"
)


def _ask_sql(client: Any, connection: Any, sql: str = SQL) -> dict[str, Any]:
    assert client.post(f"/databases/connect_db/{connection.id}").status_code == 200
    response = client.post("/ask/sql", {"sql": sql}, format="json")
    assert response.status_code == 200, response.content
    return dict(response.json())


def _create(client: Any, team: Any, name: str = "Team sales") -> Any:
    return client.post("/boards", {"name": name, "team_id": team.id}, format="json")


def _pin(client: Any, board_id: int, turn: dict[str, Any]) -> Any:
    return client.post(
        f"/boards/{board_id}/tiles", {"turn_id": turn["turn_id"]}, format="json"
    )


def _board_routes(client: Any, board_id: int, turn: dict[str, Any]) -> list[int]:
    return [
        client.get(f"/boards/{board_id}").status_code,
        client.patch(f"/boards/{board_id}", {"name": "X"}, format="json").status_code,
        _pin(client, board_id, turn).status_code,
        client.delete(f"/boards/{board_id}").status_code,
    ]


@pytest.mark.parametrize("db_type", ENGINES)
def test_every_member_reads_a_team_board_and_a_non_member_gets_404_everywhere(
    bob_client: Any,
    carol_client: Any,
    mallory_client: Any,
    mallory: Any,
    team: Any,
    make_team_connection: Any,
    db_type: str,
) -> None:
    turn = _ask_sql(bob_client, make_team_connection(team, db_type))
    created = _create(bob_client, team)
    assert created.status_code == 201, created.content
    board = created.json()
    assert board["team_id"] == team.id
    assert board["team_name"] == "Data"
    assert _pin(bob_client, board["id"], turn).status_code == 201

    listed = carol_client.get("/boards").json()
    assert [(b["name"], b["team_id"], b["can_change"]) for b in listed] == [
        ("Team sales", team.id, False)
    ]
    opened = carol_client.get(f"/boards/{board['id']}")
    assert opened.status_code == 200
    (tile,) = opened.json()["tiles"]
    assert tile["error"] is None
    assert tile["rows"][0][0] == "Ada Lovelace"

    assert mallory_client.get("/boards").json() == []
    assert _board_routes(mallory_client, board["id"], turn) == [404, 404, 404, 404]
    page = Client()
    page.force_login(mallory)
    assert page.get(f"/boards/{board['id']}/").status_code == 404
    assert page.post("/boards/pin/", {"board_id": board["id"]}).status_code == 404
    assert _create(mallory_client, team).status_code == 404
    assert Board.objects.get().name == "Team sales"


def test_a_viewer_reads_fresh_rows_but_cannot_create_or_change_a_team_board(
    alice_client: Any,
    bob_client: Any,
    carol_client: Any,
    team: Any,
    make_team_connection: Any,
    sqlite_dir: Path,
) -> None:
    path = sqlite_dir / SALES_FILE
    path.unlink(missing_ok=True)
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE sales (region TEXT, amount INTEGER)")
        db.executemany("INSERT INTO sales VALUES (?, ?)", [("North", 10)])
    shared = make_team_connection(team, "sqlite", database_name=SALES_FILE)
    turn = _ask_sql(bob_client, shared, SALES_SQL)
    board = _create(bob_client, team).json()
    _pin(bob_client, board["id"], turn)
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO sales VALUES ('West', 5)")

    (tile,) = carol_client.get(f"/boards/{board['id']}").json()["tiles"]

    assert tile["rows"] == [["North", 10], ["West", 5]]
    refused = _create(carol_client, team)
    assert refused.status_code == 403
    assert refused.json()["code"] == "team_role_required"
    # The board is checked before the turn: her role is what refuses.
    assert _board_routes(carol_client, board["id"], turn) == [200, 403, 403, 403]
    # The team's admin may change a board another member created.
    renamed = alice_client.patch(
        f"/boards/{board['id']}", {"name": "Renamed"}, format="json"
    )
    assert renamed.status_code == 200
    assert renamed.json()["name"] == "Renamed"
    assert alice_client.delete(f"/boards/{board['id']}").status_code == 204
    assert not Board.objects.exists()


def test_a_removed_member_gets_404_for_the_teams_board(
    bob: Any, bob_client: Any, team: Any, make_team_connection: Any
) -> None:
    turn = _ask_sql(bob_client, make_team_connection(team, "sqlite"))
    board = _create(bob_client, team).json()
    _pin(bob_client, board["id"], turn)

    member_remove(membership=Membership.objects.get(team=team, user=bob))

    assert bob_client.get(f"/boards/{board['id']}").status_code == 404
    assert bob_client.get("/boards").json() == []
    assert _pin(bob_client, board["id"], turn).status_code == 404


def test_a_personal_tile_on_a_team_database_left_behind_runs_nothing(
    bob: Any, bob_client: Any, team: Any, make_team_connection: Any
) -> None:
    turn = _ask_sql(bob_client, make_team_connection(team, "sqlite"))
    mine = bob_client.post("/boards", {"name": "Mine"}, format="json").json()
    assert _pin(bob_client, mine["id"], turn).status_code == 201

    member_remove(membership=Membership.objects.get(team=team, user=bob))

    (tile,) = bob_client.get(f"/boards/{mine['id']}").json()["tiles"]
    assert tile["rows"] == []
    assert tile["error"] == "You no longer have access to this tile's database."


def test_a_team_board_refuses_a_tile_from_another_connection(
    bob: Any,
    bob_client: Any,
    team: Any,
    make_team_connection: Any,
    make_connection: Any,
) -> None:
    board = _create(bob_client, team).json()
    personal = _ask_sql(bob_client, make_connection(bob, "sqlite"))

    refused = _pin(bob_client, board["id"], personal)

    assert refused.status_code == 400
    assert refused.json()["code"] == "tile_not_pinnable"
    assert "team's databases" in refused.json()["detail"]
    # A personal board takes it, and the team's answers too.
    mine = bob_client.post("/boards", {"name": "Mine"}, format="json").json()
    assert _pin(bob_client, mine["id"], personal).status_code == 201
    shared = _ask_sql(bob_client, make_team_connection(team, "sqlite"))
    assert _pin(bob_client, mine["id"], shared).status_code == 201
    assert _pin(bob_client, board["id"], shared).status_code == 201


def test_deleting_the_team_deletes_its_boards(
    alice_client: Any, bob_client: Any, team: Any
) -> None:
    _create(bob_client, team)
    bob_client.post("/boards", {"name": "Mine"}, format="json")

    team_delete(team=team)

    assert list(Board.objects.values_list("name", flat=True)) == ["Mine"]


def test_the_pages_offer_team_boards_where_they_fit(
    bob: Any,
    carol: Any,
    bob_client: Any,
    team: Any,
    make_team_connection: Any,
    make_connection: Any,
) -> None:
    _ask_sql(bob_client, make_team_connection(team, "sqlite"))
    _create(bob_client, team)
    bob_client.post("/boards", {"name": "Mine"}, format="json")
    pages = Client()
    pages.force_login(bob)

    listing = pages.get("/boards/").content.decode()
    chat = pages.get("/").content.decode()

    assert re.search(r"Team sales</a></td>\s*<td[^>]*>Data</td>", listing)
    assert f'<option value="{team.id}">Team Data</option>' in listing
    assert "Team sales (Data)</option>" in chat
    assert "Mine</option>" in chat
    # A personal database's answer is not offered the team's board.
    _ask_sql(bob_client, make_connection(bob, "sqlite"))
    chat = pages.get("/").content.decode()
    assert "Team sales (Data)</option>" not in chat
    # A viewer reads the team's board in the list but cannot create one there.
    viewer = Client()
    viewer.force_login(carol)
    listing = viewer.get("/boards/").content.decode()
    assert "Team sales" in listing
    assert 'name="team_id"' not in listing
    refused = viewer.post("/boards/", {"name": "Nope", "team_id": team.id})
    assert refused.status_code == 403


def test_the_board_page_renames_and_deletes_for_who_may_only(
    bob: Any, carol: Any, mallory: Any, bob_client: Any, team: Any
) -> None:
    board_id = _create(bob_client, team).json()["id"]
    pages = {user.email: Client() for user in (bob, carol, mallory)}
    for user in (bob, carol, mallory):
        pages[user.email].force_login(user)
    bobs, carols, mallorys = (pages[u.email] for u in (bob, carol, mallory))

    assert "Delete this board" in bobs.get(f"/boards/{board_id}/").content.decode()
    assert (
        "Delete this board" not in carols.get(f"/boards/{board_id}/").content.decode()
    )
    for action in ("rename", "delete"):
        url = f"/boards/{board_id}/{action}/"
        assert carols.post(url, {"name": "X"}).status_code == 403
        assert mallorys.post(url, {"name": "X"}).status_code == 404
    assert bobs.post(f"/boards/{board_id}/rename/", {"name": "Q3"}).status_code == 302
    assert Board.objects.get().name == "Q3"
    assert bobs.post(f"/boards/{board_id}/delete/").status_code == 302
    assert not Board.objects.exists()


@pytest.mark.parametrize("db_type", ENGINES)
def test_a_team_boards_masked_column_stays_masked_for_every_reader(
    bob_client: Any,
    carol_client: Any,
    team: Any,
    make_team_connection: Any,
    db_type: str,
) -> None:
    shared = make_team_connection(
        team, db_type, masked_columns=["customers.email"], masked_hidden=True
    )
    turn = _ask_sql(bob_client, shared, "SELECT name, email FROM customers ORDER BY id")
    board = _create(bob_client, team).json()
    _pin(bob_client, board["id"], turn)

    (tile,) = carol_client.get(f"/boards/{board['id']}").json()["tiles"]

    assert tile["error"] is None
    assert tile["rows"][0][0] == "Ada Lovelace"
    assert "ada@example.com" not in str(tile["rows"])
