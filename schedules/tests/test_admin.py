"""The admin lists recent task runs with their state and error, and schedules."""

from __future__ import annotations

import pytest
from django.test import Client
from django.utils import timezone
from django_celery_results.models import TaskResult

from accounts.models import User
from schedules import services
from testsupport.fixtures import PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client() -> Client:
    client = Client()
    admin = User.objects.create_superuser(email="root@example.com", password=PASSWORD)
    client.force_login(admin)
    return client


def test_task_runs_are_listed_newest_first_with_state_and_error(admin_client):
    from knowledge.tasks import evaluation_run

    evaluation_run.apply(kwargs={"run_id": 999999})  # no such run: skipped
    TaskResult.objects.create(
        task_id="failed-one",
        task_name="schedules.run",
        status="FAILURE",
        result='{"exc_type": "OperationalError", "exc_message": ["db gone"]}',
        date_done=timezone.now(),
    )

    page = admin_client.get("/admin/django_celery_results/taskresult/")

    assert page.status_code == 200
    html = page.content.decode()
    assert html.index("failed-one") < html.index("knowledge.evaluation_run")
    assert "SUCCESS" in html
    assert "FAILURE" in html
    assert "db gone" in html


def test_schedules_and_runs_are_in_the_admin_without_the_webhook_secret(
    admin_client, alice, make_connection
):
    connection = make_connection(alice, "sqlite")
    schedule = services.schedule_create(
        owner=alice,
        connection_id=connection.id,
        question="Orders?",
        every="cron",
        cron="0 9 * * 1-5",
    )
    listing = admin_client.get("/admin/schedules/schedule/")
    change = admin_client.get(f"/admin/schedules/schedule/{schedule.id}/change/")
    assert listing.status_code == change.status_code == 200
    assert schedule.webhook_secret not in change.content.decode()
    assert admin_client.get("/admin/schedules/schedulerun/").status_code == 200
