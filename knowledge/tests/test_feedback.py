"""Feedback on turns: 👍/👎 by the turn's owner, and "save as example"."""

from __future__ import annotations

import uuid

import pytest

from agent.models import Thread, Turn, TurnStatus
from knowledge.models import Example, Feedback

pytestmark = pytest.mark.django_db


@pytest.fixture
def answered_turn(alice, make_connection):
    connection = make_connection(alice, "sqlite")
    thread = Thread.objects.create(
        id=uuid.uuid4(), user=alice, db_connection=connection
    )
    return Turn.objects.create(
        thread=thread,
        question="How many customers?",
        answer="6",
        status=TurnStatus.OK,
        queries=[{"sql": "SELECT COUNT(*) FROM customers", "error": None}],
    )


def _url(turn, action="feedback"):
    return f"/threads/{turn.thread_id}/turns/{turn.id}/{action}"


def test_a_thumbs_down_with_a_comment_is_kept_and_replaced(alice_client, answered_turn):
    first = alice_client.post(
        _url(answered_turn), {"rating": "down", "comment": "wrong"}, format="json"
    )
    second = alice_client.post(_url(answered_turn), {"rating": "up"}, format="json")

    assert first.status_code == 200
    assert first.json()["rating"] == "down"
    assert second.json()["rating"] == "up"
    feedback = Feedback.objects.get()
    assert (feedback.rating, feedback.comment) == ("up", "")


def test_a_rating_other_than_up_or_down_is_a_400(alice_client, answered_turn):
    response = alice_client.post(_url(answered_turn), {"rating": "meh"}, format="json")
    assert response.status_code == 400
    assert "rating" in response.json()


def test_feedback_needs_authentication(anon_client, answered_turn):
    response = anon_client.post(_url(answered_turn), {"rating": "up"}, format="json")
    assert response.status_code == 401


def test_feedback_on_another_users_turn_is_a_404(bob_client, answered_turn):
    response = bob_client.post(_url(answered_turn), {"rating": "down"}, format="json")
    assert response.status_code == 404
    assert not Feedback.objects.exists()


def test_a_good_answer_is_saved_as_an_example(alice_client, answered_turn):
    response = alice_client.post(_url(answered_turn, "save-example"))

    assert response.status_code == 201
    example = Example.objects.get()
    assert (example.question, example.sql, example.source) == (
        "How many customers?",
        "SELECT COUNT(*) FROM customers",
        "turn",
    )


def test_an_answer_without_a_query_cannot_be_saved_as_an_example(
    alice_client, answered_turn
):
    answered_turn.queries = []
    answered_turn.save()
    response = alice_client.post(_url(answered_turn, "save-example"))
    assert response.status_code == 400
    assert response.json()["code"] == "turn_not_savable"


def test_another_users_turn_cannot_be_saved_as_an_example(bob_client, answered_turn):
    assert bob_client.post(_url(answered_turn, "save-example")).status_code == 404
