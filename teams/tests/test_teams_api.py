"""The teams API: teams, members, roles, invitations and who may do what."""

from __future__ import annotations

import pytest

from accounts.models import User
from teams.models import Invitation, Membership, Team, TeamRole

pytestmark = pytest.mark.django_db


def _members(client, team_id):
    response = client.get(f"/teams/{team_id}/members")
    assert response.status_code == 200
    return {m["email"]: m for m in response.json()}


# -- teams ---------------------------------------------------------------------


def test_creating_a_team_makes_the_creator_its_first_admin(alice_client, alice):
    response = alice_client.post("/teams", {"name": "Finance"}, format="json")

    assert response.status_code == 201
    body = response.json()
    assert body["name"] == "Finance"
    assert body["role"] == "admin"
    assert Membership.objects.get(team_id=body["id"]).user == alice


def test_a_team_needs_a_name(alice_client):
    response = alice_client.post("/teams", {"name": "  "}, format="json")

    assert response.status_code == 400
    assert "name" in response.json()


def test_the_team_list_holds_the_callers_teams_with_their_role(
    bob_client, team, mallory_client
):
    Team.objects.create(name="Someone else's")

    assert bob_client.get("/teams").json() == [
        {
            "id": team.id,
            "name": "Data",
            "role": "analyst",
            "asks_per_day": None,
            "tokens_per_day": None,
            "created_at": bob_client.get(f"/teams/{team.id}").json()["created_at"],
        }
    ]
    assert mallory_client.get("/teams").json() == []


def test_an_admin_renames_the_team_and_others_may_not(alice_client, bob_client, team):
    refused = bob_client.patch(f"/teams/{team.id}", {"name": "X"}, format="json")
    renamed = alice_client.patch(f"/teams/{team.id}", {"name": "BI"}, format="json")

    assert refused.status_code == 403
    assert refused.json()["code"] == "team_role_required"
    assert renamed.status_code == 200
    assert renamed.json()["name"] == "BI"


def test_deleting_a_team_is_for_admins_and_takes_its_memberships(
    alice_client, carol_client, team
):
    assert carol_client.delete(f"/teams/{team.id}").status_code == 403

    assert alice_client.delete(f"/teams/{team.id}").status_code == 204

    assert not Team.objects.filter(pk=team.id).exists()
    assert not Membership.objects.filter(team_id=team.id).exists()


# -- non-members ---------------------------------------------------------------

TEAM_ROUTES = [
    ("get", "/teams/{team}"),
    ("patch", "/teams/{team}"),
    ("delete", "/teams/{team}"),
    ("get", "/teams/{team}/members"),
    ("post", "/teams/{team}/members"),
    ("patch", "/teams/{team}/members/{member}"),
    ("delete", "/teams/{team}/members/{member}"),
    ("delete", "/teams/{team}/invitations/{invitation}"),
    ("get", "/teams/{team}/activity"),
]


@pytest.mark.parametrize(("method", "route"), TEAM_ROUTES)
def test_a_non_member_gets_404_on_every_team_route(
    mallory_client, team, alice, method, route
):
    invitation = Invitation.objects.create(
        team=team, email="new@example.com", role=TeamRole.VIEWER
    )
    url = route.format(team=team.id, member=alice.id, invitation=invitation.id)
    body = {"name": "Mine now", "email": "mallory@example.com", "role": "admin"}

    response = getattr(mallory_client, method)(url, body, format="json")

    assert response.status_code == 404
    assert Membership.objects.filter(team=team).count() == 3
    assert Team.objects.get(pk=team.id).name == "Data"
    assert Invitation.objects.filter(pk=invitation.id).exists()


def test_a_missing_team_is_the_same_404(mallory_client):
    response = mallory_client.get("/teams/999999")

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


# -- members -------------------------------------------------------------------


def test_members_are_listed_with_their_roles_for_every_member(carol_client, team):
    members = _members(carol_client, team.id)

    assert {email: m["role"] for email, m in members.items()} == {
        "alice@example.com": "admin",
        "bob@example.com": "analyst",
        "carol@example.com": "viewer",
    }
    assert not any(m["pending"] for m in members.values())


def test_an_admin_adds_a_registered_user_by_email(alice_client, team, mallory):
    response = alice_client.post(
        f"/teams/{team.id}/members",
        {"email": "MALLORY@example.com", "role": "analyst"},
        format="json",
    )

    assert response.status_code == 201
    assert response.json()["user_id"] == mallory.id
    assert response.json()["pending"] is False
    assert Membership.objects.get(team=team, user=mallory).role == "analyst"


def test_adding_a_member_twice_is_a_400(alice_client, team):
    response = alice_client.post(
        f"/teams/{team.id}/members",
        {"email": "bob@example.com", "role": "admin"},
        format="json",
    )

    assert response.status_code == 400
    assert response.json()["code"] == "already_member"


def test_a_bad_role_is_a_400(alice_client, team):
    response = alice_client.post(
        f"/teams/{team.id}/members",
        {"email": "x@example.com", "role": "owner"},
        format="json",
    )

    assert response.status_code == 400
    assert "role" in response.json()


def test_only_an_admin_adds_members(bob_client, team):
    response = bob_client.post(
        f"/teams/{team.id}/members",
        {"email": "x@example.com", "role": "viewer"},
        format="json",
    )

    assert response.status_code == 403
    assert not Invitation.objects.exists()


def test_an_unknown_email_is_kept_as_an_invitation_honoured_on_registering(
    alice_client, anon_client, team
):
    response = alice_client.post(
        f"/teams/{team.id}/members",
        {"email": "dave@example.com", "role": "analyst"},
        format="json",
    )
    assert response.status_code == 201
    assert response.json()["pending"] is True
    assert _members(alice_client, team.id)["dave@example.com"]["pending"] is True

    registered = anon_client.post(
        "/auth/register",
        {"email": "Dave@Example.com", "password": "a-long-Passphrase-7"},
        format="json",
    )

    assert registered.status_code == 201
    dave = User.objects.get(email="dave@example.com")
    assert Membership.objects.get(team=team, user=dave).role == "analyst"
    assert not Invitation.objects.exists()


def test_an_admin_withdraws_an_invitation(alice_client, bob_client, team):
    invitation = Invitation.objects.create(
        team=team, email="dave@example.com", role=TeamRole.VIEWER
    )
    url = f"/teams/{team.id}/invitations/{invitation.id}"

    assert bob_client.delete(url).status_code == 403
    assert alice_client.delete(url).status_code == 204
    assert not Invitation.objects.exists()


def test_an_admin_changes_a_role_and_others_may_not(
    alice_client, bob_client, team, carol
):
    url = f"/teams/{team.id}/members/{carol.id}"

    refused = bob_client.patch(url, {"role": "admin"}, format="json")
    changed = alice_client.patch(url, {"role": "analyst"}, format="json")

    assert refused.status_code == 403
    assert changed.status_code == 200
    assert changed.json()["role"] == "analyst"
    assert Membership.objects.get(team=team, user=carol).role == "analyst"


def test_an_admin_removes_a_member(alice_client, team, carol):
    response = alice_client.delete(f"/teams/{team.id}/members/{carol.id}")

    assert response.status_code == 204
    assert not Membership.objects.filter(team=team, user=carol).exists()


def test_a_member_leaves_but_cannot_remove_another(carol_client, team, bob, carol):
    refused = carol_client.delete(f"/teams/{team.id}/members/{bob.id}")
    left = carol_client.delete(f"/teams/{team.id}/members/{carol.id}")

    assert refused.status_code == 403
    assert left.status_code == 204
    assert carol_client.get(f"/teams/{team.id}").status_code == 404


def test_a_member_who_is_not_in_the_team_is_a_404(alice_client, team, mallory):
    response = alice_client.delete(f"/teams/{team.id}/members/{mallory.id}")

    assert response.status_code == 404


# -- the last admin ------------------------------------------------------------


def test_the_last_admin_cannot_be_demoted(alice_client, team, alice):
    response = alice_client.patch(
        f"/teams/{team.id}/members/{alice.id}", {"role": "viewer"}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["code"] == "last_admin"
    assert Membership.objects.get(team=team, user=alice).role == "admin"


def test_the_last_admin_cannot_leave_or_be_removed(alice_client, team, alice):
    response = alice_client.delete(f"/teams/{team.id}/members/{alice.id}")

    assert response.status_code == 400
    assert response.json()["code"] == "last_admin"
    assert Membership.objects.filter(team=team, user=alice).exists()


def test_with_a_second_admin_the_first_may_step_down(
    alice_client, bob_client, team, alice, bob
):
    promoted = alice_client.patch(
        f"/teams/{team.id}/members/{bob.id}", {"role": "admin"}, format="json"
    )
    stepped_down = bob_client.patch(
        f"/teams/{team.id}/members/{alice.id}", {"role": "viewer"}, format="json"
    )

    assert promoted.status_code == 200
    assert stepped_down.status_code == 200
    last = alice_client.patch(
        f"/teams/{team.id}/members/{bob.id}", {"role": "viewer"}, format="json"
    )
    assert last.status_code == 403  # alice is a viewer now
    assert (
        bob_client.patch(
            f"/teams/{team.id}/members/{bob.id}", {"role": "viewer"}, format="json"
        ).json()["code"]
        == "last_admin"
    )


# -- tokens --------------------------------------------------------------------


def test_an_access_token_reads_teams_but_cannot_change_them(alice, team):
    from rest_framework.test import APIClient

    from accounts.services import token_create

    created = token_create(owner=alice, name="script", scope="ask")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {created.value}")

    assert client.get("/teams").status_code == 200
    assert client.post("/teams", {"name": "X"}, format="json").status_code == 403


# -- Django admin --------------------------------------------------------------


@pytest.mark.parametrize("model", ["team", "membership", "invitation"])
def test_the_admin_lists_and_adds_teams_memberships_and_invitations(
    client, team, model
):
    client.force_login(User.objects.create_superuser(email="root@example.com"))

    listing = client.get(f"/admin/teams/{model}/")
    adding = client.get(f"/admin/teams/{model}/add/")

    assert listing.status_code == 200
    assert adding.status_code == 200
    if model == "membership":
        assert b"bob@example.com" in listing.content
