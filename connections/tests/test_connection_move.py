"""Moving a connection: a personal one shared with a team its owner administers
(PATCH /databases/{id} `team_id`, or "Share with team" on the edit page), one
team's moved to another, or a team's made personal again by its owner. Its
knowledge goes with it; whoever no longer reaches it loses it at once."""

from __future__ import annotations

from typing import Any

import pytest

from knowledge.models import Instruction
from teams.models import Membership, Team, TeamRole
from teams.services import team_create
from testsupport.fixtures import api_client_for, sqlite_connection_form

pytestmark = pytest.mark.django_db

QUESTION = "Which customers live in Germany?"


def _move(client: Any, connection: Any, team_id: object) -> Any:
    return client.patch(
        f"/databases/{connection.id}", {"team_id": team_id}, format="json"
    )


def _ask(client: Any) -> int:
    return client.post("/ask", {"question": QUESTION}, format="json").status_code


def _connect(client: Any, connection: Any) -> None:
    assert client.post(f"/databases/connect_db/{connection.id}").status_code == 200


def _connected_to(client: Any) -> int | None:
    database = client.get("/databases/session-status").json()["database"]
    return None if database is None else database["id"]


def test_an_admin_shares_their_personal_connection_with_knowledge_and_session(
    alice_client, bob_client, alice, team, make_connection
):
    connection = make_connection(alice, "sqlite", label="Shop")
    Instruction.objects.create(connection=connection, text="Revenue excludes tax.")
    _connect(alice_client, connection)
    assert bob_client.get(f"/databases/{connection.id}").status_code == 404

    response = _move(alice_client, connection, team.id)

    assert response.status_code == 200
    assert response.json()["team_id"] == team.id
    assert response.json()["can_manage"] is True
    # Its owner's session stays on it; the team's members now reach it.
    assert _connected_to(alice_client) == connection.id
    listed = {c["id"]: c for c in bob_client.get("/databases").json()}
    assert listed[connection.id]["team_id"] == team.id
    assert listed[connection.id]["can_manage"] is False
    _connect(bob_client, connection)
    knowledge = bob_client.get(f"/databases/{connection.id}/knowledge/instructions")
    assert [i["text"] for i in knowledge.json()] == ["Revenue excludes tax."]


def test_settings_and_the_team_change_together_in_one_patch(
    alice_client, alice, team, make_connection
):
    connection = make_connection(alice, "sqlite")

    response = alice_client.patch(
        f"/databases/{connection.id}",
        {"team_id": team.id, "label": "Company shop"},
        format="json",
    )

    assert response.status_code == 200
    connection.refresh_from_db()
    assert (connection.team_id, connection.label) == (team.id, "Company shop")
    assert connection.team_since is not None


def test_a_member_who_is_not_the_teams_admin_cannot_share_into_it(
    bob_client, bob, team, make_connection
):
    connection = make_connection(bob, "sqlite", label="Mine")

    response = _move(bob_client, connection, team.id)

    assert response.status_code == 403
    assert response.json()["code"] == "team_role_required"
    connection.refresh_from_db()
    assert connection.team_id is None


def test_sharing_into_a_team_you_are_not_in_is_a_404(
    mallory_client, mallory, team, make_connection
):
    connection = make_connection(mallory, "sqlite")

    assert _move(mallory_client, connection, team.id).status_code == 404
    assert _move(mallory_client, connection, 999999).status_code == 404
    connection.refresh_from_db()
    assert connection.team_id is None


def test_bob_gets_404_for_alices_connection_whatever_team_he_names(
    bob_client, alice, team, make_connection
):
    connection = make_connection(alice, "sqlite")
    Membership.objects.filter(team=team, user__email="bob@example.com").update(
        role=TeamRole.ADMIN
    )

    assert _move(bob_client, connection, team.id).status_code == 404
    connection.refresh_from_db()
    assert connection.team_id is None


def test_a_bad_team_id_is_a_400(alice_client, alice, make_connection):
    connection = make_connection(alice, "sqlite")

    response = _move(alice_client, connection, "the data team")

    assert response.status_code == 400
    assert "team_id" in response.json()


def test_only_its_owner_makes_a_team_connection_personal_again(
    alice_client, bob_client, carol_client, bob, team, make_team_connection
):
    shared = make_team_connection(team, "sqlite")
    Membership.objects.filter(team=team, user=bob).update(role=TeamRole.ADMIN)
    for client in (alice_client, bob_client, carol_client):
        _connect(client, shared)

    # Bob manages it as an admin, but it would become alice's alone.
    refused = _move(bob_client, shared, None)
    assert refused.status_code == 403
    assert refused.json()["code"] == "owner_required"
    # Carol, a viewer, manages nothing.
    assert _move(carol_client, shared, None).status_code == 403

    moved = _move(alice_client, shared, None)

    assert moved.status_code == 200
    assert moved.json()["team_id"] is None
    assert _connected_to(alice_client) == shared.id
    # The others lose it at once: their sessions are off it, their reads 404.
    assert _connected_to(bob_client) is None
    assert _connected_to(carol_client) is None
    notes = carol_client.get(f"/databases/{shared.id}/knowledge/notes")
    assert notes.status_code == 404
    refused_ask = carol_client.post("/ask", {"question": QUESTION}, format="json")
    assert refused_ask.json()["code"] == "no_database_connected"


def test_an_admin_of_both_teams_moves_a_connection_between_them(
    alice_client, carol_client, alice, carol, mallory, team, make_team_connection
):
    other = team_create(user=alice, name="Finance")
    Membership.objects.create(team=other, user=mallory, role=TeamRole.VIEWER)
    shared = make_team_connection(team, "sqlite")
    _connect(carol_client, shared)

    response = _move(alice_client, shared, other.id)

    assert response.status_code == 200
    assert response.json()["team_id"] == other.id
    assert _connected_to(carol_client) is None
    assert carol_client.get(f"/databases/{shared.id}").status_code == 404
    mallory_ids = [c["id"] for c in api_client_for(mallory).get("/databases").json()]
    assert shared.id in mallory_ids


def test_moving_into_a_team_where_you_are_no_admin_is_refused(
    bob_client, bob, alice, team, make_team_connection
):
    other = team_create(user=bob, name="Bob's")
    shared = make_team_connection(other, "sqlite")
    # Bob is an analyst of alice's team: he may not put connections in it.
    assert Team.objects.filter(memberships__user=bob, pk=team.id).exists()

    response = _move(bob_client, shared, team.id)

    assert response.status_code == 403
    shared.refresh_from_db()
    assert shared.team_id == other.id


def test_the_teams_activity_and_budget_start_when_the_connection_joins(
    alice_client, bob_client, alice, team, make_connection, llm_stub, settings
):
    connection = make_connection(alice, "sqlite")
    _connect(alice_client, connection)
    asked = alice_client.post(
        "/ask", {"question": "A personal question"}, format="json"
    )
    assert asked.status_code == 200
    settings.BUDGET_TEAM_ASKS_PER_DAY = 1

    assert _move(alice_client, connection, team.id).status_code == 200
    _connect(bob_client, connection)
    # Alice's earlier own ask is neither the team's to see nor to count.
    assert alice_client.get(f"/teams/{team.id}/activity").json() == []
    assert _ask(bob_client) == 200

    activity = alice_client.get(f"/teams/{team.id}/activity").json()
    assert [entry["question"] for entry in activity] == [QUESTION]
    assert _ask(alice_client) == 429  # the team's one ask of the day is Bob's


_SQLITE_FORM = sqlite_connection_form(label="Shop", privacy="rows")


def test_the_edit_page_shares_a_personal_connection_with_a_team(
    alice, alice_page, bob_page, team, make_connection
):
    connection = make_connection(alice, "sqlite")
    page = alice_page
    form = page.get(f"/connections/{connection.id}/edit/").content.decode()
    assert "Share with team" in form
    assert "No: only me" in form

    response = page.post(
        f"/connections/{connection.id}/edit/", {**_SQLITE_FORM, "team": team.id}
    )

    assert response.status_code == 302
    connection.refresh_from_db()
    assert connection.team_id == team.id
    assert "team: Data" in bob_page.get("/connections/").content.decode()


def test_the_edit_page_offers_only_me_to_the_owner_alone(
    alice_page, bob_page, bob, team, make_team_connection
):
    shared = make_team_connection(team, "sqlite")
    Membership.objects.filter(team=team, user=bob).update(role=TeamRole.ADMIN)

    owners_form = alice_page.get(f"/connections/{shared.id}/edit/").content.decode()
    admins_form = bob_page.get(f"/connections/{shared.id}/edit/").content.decode()

    assert "No: only me" in owners_form
    assert "Share with team" in admins_form
    assert "No: only me" not in admins_form
    saved = bob_page.post(f"/connections/{shared.id}/edit/", {**_SQLITE_FORM})
    assert saved.status_code == 200  # the team is required: shown again
    shared.refresh_from_db()
    assert shared.team_id == team.id
