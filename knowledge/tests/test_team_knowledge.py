"""Knowledge on a team connection: admins manage it, analysts propose examples
that stay unverified (never retrieved) until an admin verifies them, viewers
read it; feedback records who gave it."""

from __future__ import annotations

import pytest

from knowledge.models import Example, Feedback
from knowledge.retrieval import examples_ranked

pytestmark = pytest.mark.django_db

QUESTION = "How many customers are there?"
SQL = "SELECT COUNT(*) FROM customers"


def _examples_url(connection):
    return f"/databases/{connection.id}/knowledge/examples"


@pytest.mark.parametrize("db_type", ["postgresql", "mysql", "sqlite"])
def test_an_analysts_example_is_a_proposal_until_an_admin_verifies_it(
    alice_client, bob_client, bob, team, make_team_connection, db_type
):
    shared = make_team_connection(team, db_type)

    proposed = bob_client.post(
        _examples_url(shared),
        {"question": QUESTION, "sql": SQL, "verified": True},
        format="json",
    )

    assert proposed.status_code == 201, proposed.content
    assert proposed.json()["verified"] is False
    assert proposed.json()["proposed_by_id"] == bob.id
    assert examples_ranked(connection_id=shared.id, question=QUESTION, k=3) == []
    url = f"{_examples_url(shared)}/{proposed.json()['id']}"
    assert bob_client.patch(url, {"verified": True}, format="json").status_code == 403

    verified = alice_client.patch(url, {"verified": True}, format="json")

    assert verified.status_code == 200
    assert verified.json()["verified"] is True
    ranked = examples_ranked(connection_id=shared.id, question=QUESTION, k=3)
    assert [e.sql for e in ranked] == [SQL]


def test_an_admins_example_is_verified_at_once(
    alice_client, team, make_team_connection
):
    shared = make_team_connection(team, "sqlite")

    created = alice_client.post(
        _examples_url(shared), {"question": QUESTION, "sql": SQL}, format="json"
    )

    assert created.status_code == 201
    assert created.json()["verified"] is True
    assert created.json()["proposed_by_id"] is None


def test_a_viewer_cannot_propose_an_example(carol_client, team, make_team_connection):
    shared = make_team_connection(team, "sqlite")

    refused = carol_client.post(
        _examples_url(shared), {"question": QUESTION, "sql": SQL}, format="json"
    )

    assert refused.status_code == 403
    assert not Example.objects.exists()
    assert carol_client.get(_examples_url(shared)).status_code == 200


def test_a_personal_connections_examples_stay_verified(
    alice_client, alice, make_connection
):
    own = make_connection(alice, "sqlite")

    created = alice_client.post(
        _examples_url(own),
        {"question": QUESTION, "sql": SQL, "verified": False},
        format="json",
    )

    assert created.status_code == 201
    assert created.json()["verified"] is True


def test_an_analyst_saves_an_answer_as_a_proposal_and_a_viewer_cannot(
    bob_client, carol_client, bob, team, make_team_connection
):
    from teams.models import Membership, TeamRole

    shared = make_team_connection(team, "sqlite")
    bob_client.post(f"/databases/connect_db/{shared.id}")
    turn = bob_client.post("/ask/sql", {"sql": SQL}, format="json").json()
    url = f"/threads/{turn['thread_id']}/turns/{turn['turn_id']}/save-example"

    saved = bob_client.post(url)
    Membership.objects.filter(team=team, user=bob).update(role=TeamRole.VIEWER)
    refused = bob_client.post(url)

    assert saved.status_code == 201
    assert saved.json()["verified"] is False
    assert refused.status_code == 403
    assert Example.objects.count() == 1


def test_feedback_on_a_team_connection_records_who_gave_it(
    carol_client, carol, team, make_team_connection, llm_stub
):
    shared = make_team_connection(team, "sqlite")
    carol_client.post(f"/databases/connect_db/{shared.id}")
    turn = carol_client.post(
        "/ask", {"question": "Which customers live in Germany?"}, format="json"
    ).json()

    response = carol_client.post(
        f"/threads/{turn['thread_id']}/turns/{turn['turn_id']}/feedback",
        {"rating": "down", "comment": "Wrong country."},
        format="json",
    )

    assert response.status_code == 200
    feedback = Feedback.objects.get()
    assert feedback.user == carol
    assert feedback.turn.thread.db_connection == shared


def test_an_admin_verifies_a_proposal_on_the_knowledge_page(
    alice, bob, team, make_team_connection
):
    from django.test import Client

    from knowledge.services import example_create

    shared = make_team_connection(team, "sqlite")
    proposal = example_create(
        connection=shared, question=QUESTION, sql=SQL, proposed_by=bob
    )
    admin = Client()
    admin.force_login(alice)
    page = admin.get(f"/knowledge/{shared.id}/").content.decode()
    assert "proposed, unverified" in page
    assert "bob@example.com" in page

    admin.post(f"/knowledge/{shared.id}/examples/{proposal.id}/verify/")

    proposal.refresh_from_db()
    assert proposal.verified is True
    ranked = examples_ranked(connection_id=shared.id, question=QUESTION, k=3)
    assert [e.pk for e in ranked] == [proposal.pk]
