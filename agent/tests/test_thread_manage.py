"""Conversations: rename, delete and continue, in the API and the pages."""

from __future__ import annotations

import uuid

import pytest

from agent.models import Thread, Turn
from agent.threads import thread_title_from
from connections.models import SessionStatus, UserSession

pytestmark = pytest.mark.django_db


def _thread(user, **fields):
    thread = Thread.objects.create(id=uuid.uuid4(), user=user, title="First", **fields)
    Turn.objects.create(thread=thread, question="q", answer="a", status="ok")
    return thread


def test_a_thread_is_renamed_through_the_api(alice_client, alice):
    thread = _thread(alice)

    response = alice_client.patch(
        f"/threads/{thread.id}", {"title": "  Revenue   review "}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["title"] == "Revenue review"
    thread.refresh_from_db()
    assert thread.title == "Revenue review"


def test_an_empty_title_is_400(alice_client, alice):
    thread = _thread(alice)

    response = alice_client.patch(f"/threads/{thread.id}", {"title": ""}, format="json")

    assert response.status_code == 400
    assert "title" in response.json()


def test_a_thread_is_deleted_with_its_turns(alice_client, alice):
    thread = _thread(alice)

    response = alice_client.delete(f"/threads/{thread.id}")

    assert response.status_code == 204
    assert not Thread.objects.filter(pk=thread.pk).exists()
    assert not Turn.objects.exists()


def test_bob_can_neither_rename_nor_delete_alices_thread(bob_client, alice):
    thread = _thread(alice)

    renamed = bob_client.patch(f"/threads/{thread.id}", {"title": "x"}, format="json")
    deleted = bob_client.delete(f"/threads/{thread.id}")

    assert renamed.status_code == 404
    assert deleted.status_code == 404
    assert Thread.objects.get(pk=thread.pk).title == "First"


def test_managing_threads_anonymous_is_401(anon_client, alice):
    thread = _thread(alice)

    assert anon_client.delete(f"/threads/{thread.id}").status_code == 401


def test_an_earlier_conversation_continues_on_its_database(
    alice_page, alice, connected_session
):
    first = connected_session(alice, "sqlite")
    Thread.objects.create(id=first.id, user=alice, db_connection=first.db_connection)
    alice_page.post("/session/new/")
    current = UserSession.objects.get(user=alice, status=SessionStatus.ACTIVE)
    assert current.id != first.id

    response = alice_page.post(f"/history/{first.id}/continue/")

    assert response.status_code == 302
    active = UserSession.objects.get(user=alice, status=SessionStatus.ACTIVE)
    assert active.id == first.id
    assert active.db_connection_id == first.db_connection_id


def test_bob_cannot_continue_alices_conversation(bob_page, alice, connected_session):
    first = connected_session(alice, "sqlite")
    Thread.objects.create(id=first.id, user=alice, db_connection=first.db_connection)

    response = bob_page.post(f"/history/{first.id}/continue/")

    assert response.status_code == 404


def test_the_history_page_renames_and_deletes(alice_page, alice):
    thread = _thread(alice)

    alice_page.post(f"/history/{thread.id}/rename/", {"title": "Q3 numbers"})
    page = alice_page.get(f"/history/{thread.id}/").text
    alice_page.post(f"/history/{thread.id}/delete/")

    assert "Q3 numbers" in page
    assert not Thread.objects.filter(pk=thread.pk).exists()


def test_titles_are_one_short_line_from_the_first_question():
    long_question = "Which customers in Germany ordered more than twice " * 5

    title = thread_title_from(long_question)

    assert len(title) <= 80
    assert title.endswith("…")
    assert "\n" not in thread_title_from("two\nlines")
