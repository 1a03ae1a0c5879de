"""The pages show a team member only the controls their role allows."""

from __future__ import annotations

import pytest

from teams.models import Membership, TeamRole
from testsupport.fixtures import page_client_for

pytestmark = pytest.mark.django_db


def test_a_member_sees_the_team_connection_without_its_settings_or_controls(
    alice, bob, team, make_team_connection
):
    shared = make_team_connection(team, "postgresql", label="Company")

    member_page = page_client_for(bob).get("/connections/").content.decode()
    admin_page = page_client_for(alice).get("/connections/").content.decode()

    assert "Company" in member_page
    assert "team: Data" in member_page
    assert f"/connections/{shared.id}/connect/" in member_page
    assert f"/connections/{shared.id}/edit/" not in member_page
    assert f"/connections/{shared.id}/delete/" not in member_page
    assert f"/knowledge/{shared.id}/" not in member_page
    assert shared.host not in member_page
    assert f"/connections/{shared.id}/edit/" in admin_page
    assert shared.host in admin_page


@pytest.mark.parametrize("page", ["edit", "delete"])
def test_a_member_opening_a_team_connections_admin_page_gets_403(
    bob, mallory, team, make_team_connection, page
):
    shared = make_team_connection(team, "sqlite")

    assert (
        page_client_for(bob).get(f"/connections/{shared.id}/{page}/").status_code == 403
    )
    assert (
        page_client_for(mallory).get(f"/connections/{shared.id}/{page}/").status_code
        == 404
    )


def test_edit_sql_is_not_offered_to_a_viewer(bob, team, make_team_connection):
    shared = make_team_connection(team, "sqlite")
    client = page_client_for(bob)
    client.post(f"/connections/{shared.id}/connect/")
    client.post("/chat/run-sql/", {"sql": "SELECT name FROM customers"})
    assert "Edit SQL" in client.get("/").content.decode()

    Membership.objects.filter(team=team, user=bob).update(role=TeamRole.VIEWER)

    chat = client.get("/").content.decode()
    assert "SELECT name FROM customers" in chat
    assert "Edit SQL" not in chat


def test_save_as_example_is_not_offered_to_a_viewer(
    carol, team, make_team_connection, llm_stub
):
    shared = make_team_connection(team, "sqlite")
    client = page_client_for(carol)
    client.post(f"/connections/{shared.id}/connect/")
    client.post("/", {"question": "Which customers live in Germany?"})
    chat = client.get("/").content.decode()
    assert "Ada Lovelace" in chat
    assert "feedback-rate" in chat  # feedback, yes

    assert "Save as example" not in chat
    Membership.objects.filter(team=team, user=carol).update(role=TeamRole.ANALYST)
    assert "Save as example" in client.get("/").content.decode()
