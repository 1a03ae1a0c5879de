"""Scheduled questions: the API's contract, a run asked through the agent and
delivered by real email (aiosmtpd) and a real webhook receiver, once per slot."""

from __future__ import annotations

import hmac
import json
import time
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from connections.models import PrivacyTier
from schedules import runs, services
from schedules.delivery import SIGNATURE_HEADER, signature
from schedules.models import Schedule, ScheduleRun
from schedules.tests.conftest import QUESTION, SQL
from testsupport.llm_stub import StubLLMServer, StubReply


def _create(client: Any, connection_id: int, **extra: Any) -> Any:
    body: dict[str, Any] = {
        "connection_id": connection_id,
        "question": QUESTION,
        "every": "week",
        "at": "09:00",
        "weekday": "monday",
        "timezone": "Europe/Berlin",
        "email": True,
        **extra,
    }
    return client.post("/schedules", body, format="json")


@pytest.mark.django_db
def test_a_schedule_is_created_listed_and_shown_to_its_owner_only(
    alice_client, bob_client, anon_client, shop_connection
):
    created = _create(alice_client, shop_connection.id)
    assert created.status_code == 201
    body = created.json()
    assert (body["every"], body["at"], body["weekday"]) == ("week", "09:00", 0)
    assert body["webhook_secret"]  # shown once, at creation
    # Next Monday 09:00 in Berlin.
    next_run = timezone.datetime.fromisoformat(body["next_run_at"])
    local = next_run.astimezone(timezone.zoneinfo.ZoneInfo("Europe/Berlin"))
    assert (local.weekday(), local.hour, local.minute) == (0, 9, 0)

    sid = body["id"]
    assert [s["id"] for s in alice_client.get("/schedules").json()] == [sid]
    assert "webhook_secret" not in alice_client.get(f"/schedules/{sid}").json()
    assert bob_client.get("/schedules").json() == []
    for method, path in [
        ("get", f"/schedules/{sid}"),
        ("patch", f"/schedules/{sid}"),
        ("delete", f"/schedules/{sid}"),
        ("post", f"/schedules/{sid}/run"),
        ("get", f"/schedules/{sid}/runs"),
    ]:
        assert getattr(bob_client, method)(path, {}, format="json").status_code == 404
    assert anon_client.get("/schedules").status_code == 401

    paused = alice_client.patch(f"/schedules/{sid}", {"paused": True}, format="json")
    assert paused.status_code == 200
    assert paused.json()["paused"] is True
    assert alice_client.delete(f"/schedules/{sid}").status_code == 204
    assert not Schedule.objects.exists()


@pytest.mark.django_db
def test_bad_schedules_are_refused_with_the_reason(
    alice_client, bob, make_connection, shop_connection
):
    bad: list[tuple[dict[str, Any], str]] = [
        ({"every": "week", "weekday": None}, "weekday"),
        ({"every": "month", "day": 31}, "day"),
        ({"every": "cron", "cron": "every monday"}, "cron"),
        ({"timezone": "Mars/Olympus"}, "time zone"),
        ({"at": "25:00"}, "at"),
        ({"webhook_url": "http://169.254.169.254/latest"}, "refuses"),
        ({"webhook_url": "ftp://example.com/x"}, "webhook_url"),
    ]
    for extra, reason in bad:
        response = _create(alice_client, shop_connection.id, **extra)
        assert response.status_code == 400, extra
        assert reason in json.dumps(response.json()), (extra, response.json())
    bobs = make_connection(bob, "sqlite")
    assert _create(alice_client, bobs.id).status_code == 404
    cron = _create(alice_client, shop_connection.id, every="cron", cron="0 9 * * 1-5")
    assert cron.status_code == 201


@pytest.mark.django_db(transaction=True)
def test_run_now_asks_afresh_and_delivers_by_email_and_signed_webhook(
    alice, alice_client, shop_connection, llm, smtp_inbox, webhook_receiver
):
    sid = _create(
        alice_client, shop_connection.id, webhook_url=webhook_receiver.url
    ).json()["id"]
    schedule = Schedule.objects.get(pk=sid)

    accepted = alice_client.post(f"/schedules/{sid}/run")
    assert accepted.status_code == 202
    run = _finished(accepted.json()["id"])

    assert run.status == "ok"
    assert (run.email_status, run.webhook_status) == ("sent", "sent")
    assert run.row_count == 3
    # A turn of the schedule's own thread, in the owner's history.
    assert run.turn.thread_id == schedule.thread_id
    assert run.turn.thread.user_id == alice.pk
    history = alice_client.get(f"/threads/{schedule.thread_id}").json()
    assert history["turns"][-1]["question"] == "Who are the first customers?"

    [mail] = smtp_inbox
    assert mail["To"] == alice.email
    text = mail.get_payload()[0].get_payload(decode=True).decode()
    html = mail.get_payload()[1].get_payload(decode=True).decode()
    assert "Here are the first customers." in text
    assert SQL in text
    assert "<table" in html
    assert f"/history/{schedule.thread_id}/" in html

    [post] = webhook_receiver.posts
    payload = post["json"]
    assert payload["rows"]
    assert payload["columns"] == ["name", "country"]
    assert "Here are the first customers." in payload["text"]
    expected = signature(schedule.webhook_secret, post["raw"])
    assert hmac.compare_digest(post["headers"][SIGNATURE_HEADER.lower()], expected)

    runs = alice_client.get(f"/schedules/{sid}/runs?limit=1")
    assert runs.headers["X-Total-Count"] == "1"
    assert runs.json()[0]["email_status"] == "sent"


def _finished(run_id: int) -> ScheduleRun:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        run = ScheduleRun.objects.select_related("turn").get(pk=run_id)
        if run.finished_at is not None:
            return run
        time.sleep(0.1)
    raise AssertionError("the run did not finish")


@pytest.mark.django_db
def test_a_schema_tier_connection_sends_no_rows(
    shop_connection, llm, webhook_receiver, outbox, make_schedule, run_slot
):
    shop_connection.privacy = PrivacyTier.SCHEMA
    shop_connection.save()
    schedule = make_schedule(webhook_url=webhook_receiver.url)

    run = run_slot(schedule)

    assert run.status == "ok"
    assert run.webhook_status == "sent"
    payload = webhook_receiver.posts[0]["json"]
    assert payload["rows"] == []
    assert payload["columns"] == []
    assert payload["rows_withheld"] is True
    assert "Zoe" not in outbox[0].body  # no stored value leaves
    assert outbox[0].attachments == []  # nor a chart drawn from them


@pytest.mark.django_db
def test_a_slot_is_dispatched_and_delivered_once(
    llm, webhook_receiver, outbox, make_schedule
):
    schedule = make_schedule(webhook_url=webhook_receiver.url, email=False)
    slot = timezone.now() - timedelta(seconds=5)
    Schedule.objects.filter(pk=schedule.pk).update(next_run_at=slot)
    first = services.schedules_dispatch_due()
    # Another beat or host dispatching the same moment finds nothing due.
    Schedule.objects.filter(pk=schedule.pk).update(next_run_at=slot)
    second = services.schedules_dispatch_due()
    assert len(first) == 1
    assert second == []
    # The run task delivered twice (a redelivery) delivers once.
    runs.schedule_run_execute(run_id=first[0])
    assert runs.schedule_run_execute(run_id=first[0]) is None
    assert ScheduleRun.objects.get().slot == slot
    assert len(webhook_receiver.posts) == 1
    assert webhook_receiver.posts[0]["headers"]["x-sqlagent-delivery"].startswith(
        f"{schedule.pk}:"
    )


@pytest.mark.django_db
def test_repeated_failures_tell_the_owner_once_and_pause_the_schedule(
    llm, webhook_receiver, settings, outbox, make_schedule, run_slot
):
    settings.WEBHOOK_RETRIES = 1
    settings.WEBHOOK_RETRY_DELAY_S = 0
    settings.SCHEDULE_FAILURES_NOTIFY = 2
    settings.SCHEDULE_FAILURES_PAUSE = 3
    webhook_receiver.statuses = [500] * 20
    schedule = make_schedule(webhook_url=webhook_receiver.url, email=False)

    for n in range(4):
        run = run_slot(schedule, minutes=n)
        assert run.webhook_status == "failed"
        assert "HTTP 500" in run.webhook_error
    # Each delivery was tried twice (one retry).
    assert len(webhook_receiver.posts) == 8
    schedule.refresh_from_db()
    assert schedule.paused
    assert "3 failed runs" in schedule.paused_reason
    assert [m.subject for m in outbox] == [f"SQLAgent schedule: {QUESTION}"]


@pytest.mark.django_db
def test_a_connection_no_longer_the_owners_stops_the_schedule_and_tells_them(
    bob, shop_connection, llm, outbox, make_schedule, run_slot
):
    schedule = make_schedule()
    shop_connection.owner = bob
    shop_connection.save()

    run = run_slot(schedule)

    assert run.status == "failed"
    assert run.turn is None
    schedule.refresh_from_db()
    assert schedule.paused
    assert "no longer yours" in outbox[0].body
    assert not llm.requests  # nothing was asked on bob's database


@pytest.mark.django_db(transaction=True)
def test_without_a_broker_the_web_process_dispatches_due_slots(
    alice_client, llm, webhook_receiver, settings, outbox, make_schedule
):
    from schedules import tasks

    settings.SCHEDULES_DISPATCH_IN_PROCESS = True
    tasks._dispatches.forget()
    schedule = make_schedule(webhook_url=webhook_receiver.url, email=False)
    Schedule.objects.filter(pk=schedule.pk).update(
        next_run_at=timezone.now() - timedelta(seconds=1)
    )

    alice_client.get("/schedules")  # any request
    alice_client.get("/schedules")  # within 30 s: no second dispatch

    deadline = time.monotonic() + 30
    while not webhook_receiver.posts:
        assert time.monotonic() < deadline, "the due slot was not delivered"
        time.sleep(0.1)
    run = ScheduleRun.objects.get()
    assert run.trigger == "schedule"
    assert _finished(run.pk).webhook_status == "sent"
    schedule.refresh_from_db()
    assert schedule.next_run_at > timezone.now()


@pytest.mark.django_db
def test_the_email_carries_the_chart_as_a_png(
    settings, smtp_inbox, make_schedule, run_slot
):
    def bars(body: dict[str, Any]) -> StubReply:
        if body["messages"][-1].get("role") == "tool":
            return StubReply(content="Customers per country.")
        sql = "SELECT country, COUNT(*) AS customers FROM customers GROUP BY country"
        return StubReply(tool_calls=[("run_query", {"sql": sql})])

    with StubLLMServer(responder=bars) as server:
        settings.OPENAI_BASE_URL, settings.OPENAI_API_KEY = server.base_url, "stub"
        run = run_slot(make_schedule(question="Customers per country?"))

    assert run.email_status == "sent"
    [mail] = smtp_inbox
    [image] = [p for p in mail.walk() if p.get_content_type() == "image/png"]
    assert image.get_filename() == "chart.png"
    assert image.get_payload(decode=True).startswith(b"\x89PNG\r\n\x1a\n")


@pytest.mark.django_db
def test_a_run_that_cannot_ask_fails_with_the_reason_and_no_earlier_turn(
    llm, settings, outbox, make_schedule, run_slot
):
    schedule = make_schedule()
    first = run_slot(schedule)
    assert first.status == "ok"
    settings.OPENAI_BASE_URL = settings.OPENAI_API_KEY = ""  # no model now

    second = run_slot(schedule, minutes=1)

    assert second.status == "failed"
    assert "OPENAI" in second.error
    assert second.turn is None
    # The owner still hears of it: the failed run is delivered as such.
    assert "This run failed" in outbox[-1].body


@pytest.mark.django_db
def test_scheduled_runs_count_within_the_owners_rate_of_questions(
    llm, settings, outbox, make_schedule, run_slot
):
    from django.core.cache import cache

    cache.clear()
    settings.THROTTLE_ASK_RATE = "1/hour"
    schedule = make_schedule(email=False)

    runs = [run_slot(schedule, minutes=n) for n in range(2)]

    assert [r.status for r in runs] == ["ok", "failed"]
    assert "THROTTLE_ASK_RATE" in runs[1].error
    assert len([r for r in llm.requests if r]) == 2  # only the first run asked


@pytest.mark.django_db
def test_the_webhook_host_policy_is_checked_again_at_delivery(
    llm, webhook_receiver, settings, outbox, make_schedule, run_slot
):
    schedule = make_schedule(webhook_url=webhook_receiver.url, email=False)
    # The operator refuses loopback after the schedule was made.
    settings.WEBHOOK_HOSTS_DENY = [*settings.WEBHOOK_HOSTS_DENY, "127.0.0.0/8"]

    run = run_slot(schedule)

    assert run.status == "ok"
    assert run.webhook_status == "skipped"
    assert "refuses" in run.webhook_error
    assert webhook_receiver.posts == []


def test_every_field_a_user_sets_is_in_the_api_and_on_the_page():
    from schedules.forms import ScheduleForm
    from schedules.models import SCHEDULE_FIELDS
    from schedules.serializers import ScheduleInputSerializer, ScheduleSerializer

    assert set(ScheduleInputSerializer().fields) == {"connection_id", *SCHEDULE_FIELDS}
    assert set(SCHEDULE_FIELDS) <= set(ScheduleSerializer.Meta.fields)
    page = set(ScheduleForm.base_fields) - {"connection"}
    assert page == set(ScheduleForm.fields_of_schedule)
    assert page == set(SCHEDULE_FIELDS) - {"paused"}
