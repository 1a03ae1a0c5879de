"""Threads and their turns come a page at a time, in the API and on history pages."""

from __future__ import annotations

import uuid

import pytest

from agent.models import Thread, Turn, TurnStatus
from connections.services import session_get_or_create_active

pytestmark = pytest.mark.django_db


def _thread_with_turns(user, count: int) -> Thread:
    session = session_get_or_create_active(user=user)
    thread, _ = Thread.objects.get_or_create(
        id=session.pk, defaults={"user": user, "title": "Long talk"}
    )
    Turn.objects.bulk_create(
        Turn(
            thread=thread,
            question=f"Question {i}",
            answer=f"Answer {i} " + "x" * 500,
            status=TurnStatus.OK,
        )
        for i in range(count)
    )
    return thread


def _threads(user, count: int) -> None:
    Thread.objects.bulk_create(
        Thread(id=uuid.uuid4(), user=user, title=f"Thread {i}") for i in range(count)
    )


def test_a_thread_of_1000_turns_comes_in_pages_with_a_link_to_the_next(
    alice, alice_client
):
    thread = _thread_with_turns(alice, 1000)

    first = alice_client.get(f"/threads/{thread.pk}")

    assert first.status_code == 200
    body = first.json()
    assert body["thread_id"] == str(thread.pk)
    assert [t["question"] for t in body["turns"]] == [
        f"Question {i}" for i in range(20)
    ]
    assert len(first.content) < 100_000
    assert first["X-Total-Count"] == "1000"
    assert 'rel="next"' in first["Link"]

    last = alice_client.get(f"/threads/{thread.pk}?limit=100&offset=950")
    assert [t["question"] for t in last.json()["turns"]] == [
        f"Question {i}" for i in range(950, 1000)
    ]
    assert 'rel="next"' not in last["Link"]
    assert 'rel="prev"' in last["Link"]


def test_thread_list_keeps_its_fields_and_pages_by_limit_and_offset(
    alice, alice_client
):
    _threads(alice, 7)

    page = alice_client.get("/threads?limit=3&offset=3")

    assert page.status_code == 200
    items = page.json()
    assert len(items) == 3
    assert set(items[0]) == {
        "thread_id",
        "title",
        "db_id",
        "turn_count",
        "created_at",
        "updated_at",
    }
    assert page["X-Total-Count"] == "7"
    assert "offset=6" in page["Link"]


def test_a_page_size_over_the_maximum_is_capped(alice, alice_client):
    thread = _thread_with_turns(alice, 150)

    page = alice_client.get(f"/threads/{thread.pk}?limit=100000")

    assert len(page.json()["turns"]) == 100


@pytest.mark.parametrize(
    "query", ["limit=abc", "limit=-1", "offset=x", "limit=0", "limit=1e3"]
)
def test_bad_paging_input_is_a_400_naming_the_parameter(alice_client, query):
    response = alice_client.get(f"/threads?{query}")

    assert response.status_code == 400
    assert set(response.json()) & {"limit", "offset"}


def test_anonymous_paging_is_401(anon_client):
    assert anon_client.get("/threads?limit=5").status_code == 401


def test_bob_paging_alices_thread_gets_404(alice, bob_client):
    thread = _thread_with_turns(alice, 3)

    assert bob_client.get(f"/threads/{thread.pk}?limit=1").status_code == 404


def test_the_history_page_of_a_long_thread_shows_one_page_of_turns(alice, alice_page):
    thread = _thread_with_turns(alice, 45)

    first = alice_page.get(f"/history/{thread.pk}/")
    third = alice_page.get(f"/history/{thread.pk}/?page=3")

    assert first.status_code == 200
    assert "Question 19" in first.text
    assert "Question 20<" not in first.text
    assert "Page 1 of 3" in first.text
    assert "Question 44" in third.text
    assert "Question 19<" not in third.text


def test_the_history_list_pages_its_threads(alice, alice_page):
    _threads(alice, 60)

    first = alice_page.get("/history/")
    second = alice_page.get("/history/?page=2")

    assert "Page 1 of 2" in first.text
    assert first.text.count('<td data-label="Database">') == 50
    assert "Page 2 of 2" in second.text
