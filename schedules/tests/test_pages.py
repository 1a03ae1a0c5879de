"""The Schedules page: list, create (also from an answer), pause, edit, delete,
runs; another user's schedule is a 404."""

from __future__ import annotations

import pytest
from django.utils import timezone

from agent.models import Thread, Turn, TurnStatus
from schedules.models import Schedule, ScheduleRun

pytestmark = pytest.mark.django_db


@pytest.fixture
def schedule(make_schedule):
    return make_schedule(
        question="Revenue last week?",
        every="week",
        at=timezone.datetime(2000, 1, 1, 9, 0).time(),
        weekday=0,
        timezone="Europe/Berlin",
    )


def test_the_page_lists_schedules_and_creates_one(alice_page, shop_connection):
    connection = shop_connection
    created = alice_page.post(
        "/schedules/",
        {
            "connection": connection.id,
            "question": "Orders today?",
            "every": "day",
            "at": "08:30",
            "timezone": "UTC",
            "email": "on",
        },
    )
    assert created.status_code == 302
    page = alice_page.get("/schedules/").content.decode()
    assert "Orders today?" in page
    assert "08:30" in page
    assert Schedule.objects.get().next_run_at is not None


def test_a_bad_schedule_is_shown_on_the_form(alice_page, shop_connection):
    connection = shop_connection
    response = alice_page.post(
        "/schedules/",
        {
            "connection": connection.id,
            "question": "Orders?",
            "every": "week",
            "at": "08:30",
            "timezone": "UTC",
        },
    )
    assert response.status_code == 400
    assert "weekday is required" in response.content.decode()
    assert not Schedule.objects.exists()


def test_schedule_under_an_answer_fills_the_form(alice_page, alice, shop_connection):
    connection = shop_connection
    thread = Thread.objects.create(
        id="7d1a3a52-3a8a-4f43-9a3b-7d0e2f1b0c11", user=alice, db_connection=connection
    )
    turn = Turn.objects.create(
        thread=thread, question="Top five customers?", status=TurnStatus.OK
    )
    page = alice_page.get(f"/schedules/?turn={turn.id}").content.decode()
    assert "Top five customers?" in page
    assert f'<option value="{connection.id}" selected>' in page


def test_pause_edit_runs_and_delete(alice_page, schedule):
    # The edit form starts from every field the schedule has.
    form = alice_page.get(f"/schedules/{schedule.id}/edit/").content.decode()
    assert "Revenue last week?" in form
    assert 'value="Europe/Berlin"' in form
    assert 'value="09:00"' in form
    alice_page.post(f"/schedules/{schedule.id}/pause/")
    schedule.refresh_from_db()
    assert schedule.paused
    edited = alice_page.post(
        f"/schedules/{schedule.id}/edit/",
        {
            "connection": schedule.connection_id,
            "question": "Revenue this month?",
            "every": "month",
            "at": "07:00",
            "day": "1",
            "timezone": "UTC",
        },
    )
    assert edited.status_code == 302
    schedule.refresh_from_db()
    assert (schedule.every, schedule.day, schedule.question) == (
        "month",
        1,
        "Revenue this month?",
    )
    ScheduleRun.objects.create(
        schedule=schedule,
        slot=timezone.now(),
        trigger="schedule",
        status="failed",
        error="The database could not be reached.",
        webhook_status="failed",
    )
    runs = alice_page.get(f"/schedules/{schedule.id}/runs/").content.decode()
    assert "The database could not be reached." in runs
    alice_page.post(f"/schedules/{schedule.id}/delete/")
    assert not Schedule.objects.exists()


def test_bob_gets_404_for_alices_schedule_pages(bob_page, schedule):
    for path in ["edit/", "runs/"]:
        assert bob_page.get(f"/schedules/{schedule.id}/{path}").status_code == 404
    for path in ["pause/", "run/", "delete/"]:
        assert bob_page.post(f"/schedules/{schedule.id}/{path}").status_code == 404
    assert Schedule.objects.filter(pk=schedule.pk, paused=False).exists()
