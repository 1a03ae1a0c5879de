"""The shortcuts of testsupport/speedups.py leave what a test sees unchanged, and
the names testsupport/workers.py gives keep parallel test workers apart."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.test import Client

from accounts.models import User
from teams.models import Membership, Team
from teams.services import team_create
from testsupport import workers


def test_every_test_client_serves_a_static_file_alike():
    first = Client().get("/static/favicon.svg")
    second = Client().get("/static/favicon.svg")  # the files the first one found

    assert first.status_code == second.status_code == 200
    assert b"".join(first.streaming_content) == b"".join(second.streaming_content)
    # Every header but the CSP, whose nonce is new on every response.
    for name in ("Content-Type", "Content-Length", "ETag", "Last-Modified"):
        assert first.headers[name] == second.headers[name], name
    assert first.headers.get("Cache-Control") == second.headers.get("Cache-Control")
    assert Client().get("/static/no-such-file.svg").status_code == 404


@pytest.mark.django_db(transaction=True)
def test_the_flush_empties_every_table_but_the_rows_post_migrate_writes(alice, bob):
    team_create(user=alice, name="Data")  # a team and alice's membership: keys
    content_types = ContentType.objects.count()
    permissions = Permission.objects.count()

    call_command("flush", interactive=False, verbosity=0)

    assert User.objects.count() == Team.objects.count() == 0
    assert Membership.objects.count() == 0
    assert ContentType.objects.count() == content_types > 0
    assert Permission.objects.count() == permissions > 0


def test_a_worker_names_what_it_keeps_to_itself_after_its_id(monkeypatch):
    monkeypatch.setattr(workers, "WORKER", "gw1")

    assert workers.worker_suffixed("sqlagent_target") == "sqlagent_target_gw1"
    assert workers.broker_db() == workers.BROKER_DBS[1]
    assert len(set(workers.BROKER_DBS)) == len(workers.BROKER_DBS)
    assert not {12, 15} & set(workers.BROKER_DBS)  # the worker-steps and cache dbs


def test_a_serial_run_keeps_the_names_it_is_given(monkeypatch):
    monkeypatch.setattr(workers, "WORKER", "")

    assert workers.worker_suffixed("sqlagent_target") == "sqlagent_target"
    assert workers.broker_db() == 13
