"""The Teams pages: create a team, add by email with a role, change roles,
remove, leave, pending invitations; each control only for whom it is."""

from __future__ import annotations

import pytest
from django.test import Client

from teams.models import Invitation, Membership, Team

pytestmark = pytest.mark.django_db


def _page(user):
    client = Client()
    client.force_login(user)
    return client


def test_creating_a_team_from_the_page_makes_you_its_admin(alice):
    client = _page(alice)

    response = client.post("/teams/", {"name": "Finance"}, follow=True)

    team = Team.objects.get(name="Finance")
    assert response.redirect_chain[-1][0] == f"/teams/{team.id}/"
    assert 'Your role: <span class="badge" id="your-role">admin' in (
        response.content.decode()
    )
    assert "Finance" in client.get("/teams/").content.decode()


def test_an_admin_adds_invites_changes_and_removes_members(alice, team, carol):
    client = _page(alice)
    url = f"/teams/{team.id}"

    client.post(f"{url}/members/add/", {"email": "dave@example.com", "role": "viewer"})
    client.post(f"{url}/members/{carol.id}/role/", {"role": "analyst"})
    page = client.get(f"{url}/").content.decode()

    assert Invitation.objects.get(team=team).email == "dave@example.com"
    assert "Pending invitations" in page
    assert "dave@example.com" in page
    assert Membership.objects.get(team=team, user=carol).role == "analyst"
    client.post(f"{url}/members/{carol.id}/remove/")
    assert not Membership.objects.filter(team=team, user=carol).exists()


def test_the_last_admin_is_told_why_they_cannot_leave(alice, team):
    client = _page(alice)

    response = client.post(f"/teams/{team.id}/members/{alice.id}/remove/", follow=True)

    assert "keeps at least one admin" in response.content.decode()
    assert Membership.objects.filter(team=team, user=alice, role="admin").exists()


def test_a_viewer_sees_no_admin_controls_and_may_leave(carol, team, bob):
    client = _page(carol)

    page = client.get(f"/teams/{team.id}/").content.decode()

    assert "Add a member" not in page
    assert "Change role" not in page
    assert "Delete team" not in page
    assert "Leave team" in page
    assert client.post(f"/teams/{team.id}/members/{bob.id}/remove/").status_code == 403
    assert client.get(f"/teams/{team.id}/activity/").status_code == 403
    client.post(f"/teams/{team.id}/members/{carol.id}/remove/")
    assert client.get(f"/teams/{team.id}/").status_code == 404


def test_a_non_member_gets_404_on_every_team_page(mallory, team, alice):
    client = _page(mallory)
    url = f"/teams/{team.id}"

    for path in ("/", "/activity/", "/delete/"):
        assert client.get(f"{url}{path}").status_code == 404, path
    for path in (
        "/members/add/",
        f"/members/{alice.id}/role/",
        f"/members/{alice.id}/remove/",
        "/delete/",
    ):
        assert client.post(f"{url}{path}", {"role": "viewer"}).status_code == 404, path
    assert Membership.objects.filter(team=team).count() == 3


def test_deleting_a_team_asks_first(alice, team):
    client = _page(alice)

    confirm = client.get(f"/teams/{team.id}/delete/")
    assert "connections are deleted with it" in confirm.content.decode()
    assert Team.objects.filter(pk=team.id).exists()

    client.post(f"/teams/{team.id}/delete/")
    assert not Team.objects.filter(pk=team.id).exists()


def test_the_connection_form_offers_only_the_teams_you_administer(
    alice, bob, team, shop
):
    Team.objects.create(name="Not mine")

    admin_form = _page(alice).get("/connections/add/").content.decode()
    member_form = _page(bob).get("/connections/add/").content.decode()

    assert "Share with team" in admin_form
    assert ">Data<" in admin_form
    assert "Not mine" not in admin_form
    assert "Share with team" not in member_form


def test_the_django_admin_adds_a_connection_for_a_team(alice, team, shop):
    from connections.models import DatabaseConnection
    from testsupport.fixtures import SQLITE_FILE

    client = Client()
    client.force_login(type(alice).objects.create_superuser(email="root@example.com"))

    response = client.post(
        "/admin/connections/databaseconnection/add/",
        {
            "owner": alice.id,
            "team": team.id,
            "label": "Company",
            "db_type": "sqlite",
            "host": "",
            "port": 0,
            "database_name": SQLITE_FILE,
            "username": "",
            "options": "{}",
            "privacy": "rows",
            "masked_columns": "[]",
            "new_password": "",
        },
    )

    assert response.status_code == 302
    assert DatabaseConnection.objects.get(label="Company").team == team


def test_an_admin_sets_the_teams_daily_budget_on_its_page(alice, carol, team):
    client = _page(alice)

    client.post(
        f"/teams/{team.id}/budget/", {"asks_per_day": "20", "tokens_per_day": ""}
    )

    team.refresh_from_db()
    assert (team.asks_per_day, team.tokens_per_day) == (20, None)
    assert 'value="20"' in client.get(f"/teams/{team.id}/").content.decode()
    refused = _page(carol).post(f"/teams/{team.id}/budget/", {"asks_per_day": "0"})
    assert refused.status_code == 403


def test_the_activity_page_lists_who_asked_what(alice, bob, team, make_team_connection):
    shared = make_team_connection(team, "sqlite")
    client = _page(bob)
    client.post(f"/connections/{shared.id}/connect/")
    client.post("/chat/run-sql/", {"sql": "SELECT name FROM customers"})

    page = _page(alice).get(f"/teams/{team.id}/activity/").content.decode()

    assert "bob@example.com" in page
    assert "SELECT name FROM customers" in page
