"""Answers shared with a team (POST /turns/{id}/share) and a team's activity
(GET /teams/{id}/activity): members only, read-only, admins see who asked what."""

from __future__ import annotations

import pytest
from django.test import Client

from teams.models import Membership
from teams.services import member_remove
from testsupport.fixtures import ENGINES

pytestmark = pytest.mark.django_db

SQL = "SELECT name, country FROM customers WHERE country = 'Germany' ORDER BY id"


def _ask_sql(client, connection, sql=SQL):
    assert client.post(f"/databases/connect_db/{connection.id}").status_code == 200
    response = client.post("/ask/sql", {"sql": sql}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def _page(user):
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.parametrize("db_type", ENGINES)
def test_a_shared_answer_opens_read_only_for_members_and_nobody_else(
    bob_client,
    carol_client,
    mallory_client,
    carol,
    mallory,
    team,
    make_team_connection,
    db_type,
):
    shared = make_team_connection(team, db_type)
    turn = _ask_sql(bob_client, shared)

    response = bob_client.post(f"/turns/{turn['turn_id']}/share")

    assert response.status_code == 201
    link = response.json()
    assert link["team_id"] == team.id
    opened = carol_client.get(link["api_url"])
    assert opened.status_code == 200
    body = opened.json()
    assert body["asked_by"] == "bob@example.com"
    assert body["turn"]["queries"][0]["sql"] == SQL
    assert body["turn"]["result"]["rows"][0][0] == "Ada Lovelace"
    page = _page(carol).get(link["url"]).content.decode()
    assert "Ada Lovelace" in page
    assert "Edit SQL" not in page
    assert "feedback-rate" not in page
    assert _page(carol).get(f"/turns/{turn['turn_id']}/rows/").status_code == 200
    assert mallory_client.get(link["api_url"]).status_code == 404
    assert _page(mallory).get(link["url"]).status_code == 404
    assert _page(mallory).get(f"/turns/{turn['turn_id']}/rows/").status_code == 404
    assert _page(mallory).get(f"/turns/{turn['turn_id']}/csv/").status_code == 404


def test_sharing_twice_gives_the_same_link(bob_client, team, make_team_connection):
    turn = _ask_sql(bob_client, make_team_connection(team, "sqlite"))

    first = bob_client.post(f"/turns/{turn['turn_id']}/share").json()
    second = bob_client.post(f"/turns/{turn['turn_id']}/share").json()

    assert first["token"] == second["token"]


def test_an_answer_on_a_personal_connection_cannot_be_shared(
    alice_client, alice, make_connection
):
    turn = _ask_sql(alice_client, make_connection(alice, "sqlite"))

    response = alice_client.post(f"/turns/{turn['turn_id']}/share")

    assert response.status_code == 400
    assert response.json()["code"] == "not_shareable"


def test_only_the_asker_shares_their_answer(
    bob_client, carol_client, team, make_team_connection
):
    turn = _ask_sql(bob_client, make_team_connection(team, "sqlite"))

    assert carol_client.post(f"/turns/{turn['turn_id']}/share").status_code == 404


def test_a_member_who_left_can_no_longer_open_the_link(
    bob_client, carol_client, carol, team, make_team_connection
):
    turn = _ask_sql(bob_client, make_team_connection(team, "sqlite"))
    link = bob_client.post(f"/turns/{turn['turn_id']}/share").json()

    member_remove(membership=Membership.objects.get(team=team, user=carol))

    assert carol_client.get(link["api_url"]).status_code == 404


# -- activity ------------------------------------------------------------------


def test_an_admin_sees_who_asked_what_on_the_teams_connections(
    alice_client,
    bob_client,
    carol_client,
    alice,
    team,
    make_team_connection,
    make_connection,
    llm_stub,
):
    shared = make_team_connection(team, "postgresql")
    _ask_sql(bob_client, shared)
    carol_client.post(f"/databases/connect_db/{shared.id}")
    asked = carol_client.post(
        "/ask", {"question": "Which customers live in Germany?"}, format="json"
    )
    assert asked.status_code == 200
    _ask_sql(alice_client, make_connection(alice, "sqlite"))  # not the team's

    response = alice_client.get(f"/teams/{team.id}/activity")

    assert response.status_code == 200
    assert response["X-Total-Count"] == "2"
    newest, oldest = response.json()
    assert newest["user"]["email"] == "carol@example.com"
    assert newest["question"] == "Which customers live in Germany?"
    assert newest["outcome"] == "ok"
    assert newest["sql"]
    assert newest["tokens"] > 0
    assert newest["db_id"] == shared.id
    assert oldest["user"]["email"] == "bob@example.com"
    assert oldest["sql"] == [SQL]
    assert oldest["source"] == "sql"
    assert oldest["tokens"] == 0
    paged = alice_client.get(f"/teams/{team.id}/activity?limit=1&offset=1")
    assert [t["turn_id"] for t in paged.json()] == [oldest["turn_id"]]


def test_activity_is_for_admins_and_hidden_from_non_members(
    bob_client, mallory_client, team
):
    refused = bob_client.get(f"/teams/{team.id}/activity")

    assert refused.status_code == 403
    assert refused.json()["code"] == "team_role_required"
    assert mallory_client.get(f"/teams/{team.id}/activity").status_code == 404
