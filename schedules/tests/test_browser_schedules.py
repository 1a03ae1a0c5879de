"""The Schedules page in a real headless Chromium: "Schedule…" under an answer
fills the form; the schedule is listed, paused and edited."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from agent.models import Thread, Turn, TurnStatus
from schedules.models import Schedule
from testsupport.browser import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_user_schedules_an_answered_question_then_pauses_and_edits_it(
    live_server: Any, new_page: Callable[[], Page], alice: Any, make_connection: Any
) -> None:
    connection = make_connection(alice, "sqlite", label="Alice shop")
    thread = Thread.objects.create(
        id=uuid.uuid4(), user=alice, db_connection=connection, title="Revenue"
    )
    Turn.objects.create(
        thread=thread,
        question="What was the revenue last week?",
        answer="It was 1,234.",
        status=TurnStatus.OK,
    )
    base = live_server.url
    page = new_page()
    log_in(page, base, alice.email)

    page.goto(f"{base}/history/{thread.id}/")
    page.get_by_role("link", name="Schedule…").click()
    expect(page.get_by_label("Question")).to_have_value(
        "What was the revenue last week?"
    )
    expect(page.get_by_label("Connection")).to_have_value(str(connection.id))
    page.get_by_label("Every").select_option("week")
    page.get_by_label("At").fill("09:00")
    page.get_by_label("Weekday").select_option(label="Monday")
    page.get_by_label("Timezone").fill("Europe/Berlin")
    page.get_by_role("button", name="Schedule", exact=True).click()

    expect(page.locator(".message.success")).to_have_text("Scheduled.")
    schedule = Schedule.objects.get()
    row = page.locator(f"#schedule-{schedule.id}")
    expect(row).to_contain_text("What was the revenue last week?")
    expect(row).to_contain_text("Every week (Monday) at 09:00 Europe/Berlin")

    row.get_by_role("button", name="Pause").click()
    expect(page.locator(".message.success")).to_have_text("Paused.")
    expect(page.locator(f"#schedule-{schedule.id}")).to_contain_text("paused")

    page.locator(f"#schedule-{schedule.id}").get_by_role("link", name="Edit").click()
    page.get_by_label("Every").select_option("day")
    page.get_by_label("At").fill("07:30")
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".message.success")).to_have_text("Schedule saved.")
    expect(page.locator(f"#schedule-{schedule.id}")).to_contain_text(
        "Every day at 07:30"
    )

    page.locator(f"#schedule-{schedule.id}").get_by_role("link", name="Runs").click()
    expect(page.locator("#runs")).to_contain_text("No runs yet.")
    schedule.refresh_from_db()
    assert (schedule.every, schedule.at.strftime("%H:%M")) == ("day", "07:30")
