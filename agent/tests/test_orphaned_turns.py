"""Turns left running are failed: by the age sweep on the ask path, at most once
a minute per process (dead workers' turns are closed at boot and by the master)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from agent import orphans
from agent.models import Thread, Turn, TurnStatus
from agent.services import thread_ask
from testsupport.fake_llm import scripted, tool_call

pytestmark = pytest.mark.django_db


def _ask(user) -> Turn:
    return thread_ask(
        user=user,
        question="How many customers?",
        chat_model=scripted(tool_call("SELECT COUNT(*) FROM customers"), "Six."),
    )


def _stale_running_turn(user) -> Turn:
    """Plant a turn of this (live) process, running for two days."""
    thread = Thread.objects.create(id=uuid.uuid4(), user=user, title="old")
    turn = Turn.objects.create(
        thread=thread,
        question="old question",
        status=TurnStatus.RUNNING,
        worker=orphans.worker_id(),
    )
    Turn.objects.filter(pk=turn.pk).update(
        created_at=timezone.now() - timedelta(days=2)
    )
    return turn


def test_an_ask_fails_a_turn_running_longer_than_any_ask_can_take(
    alice, connected_session, monkeypatch
):
    monkeypatch.setattr(orphans, "_swept_at", None)
    connected_session(alice, "sqlite")
    stale = _stale_running_turn(alice)

    _ask(alice)

    stale.refresh_from_db()
    assert stale.status == TurnStatus.ERROR
    assert stale.error_code == "interrupted"
    assert stale.finished_at is not None


def test_the_age_sweep_runs_at_most_once_a_minute_per_process(
    alice, connected_session, monkeypatch
):
    monkeypatch.setattr(orphans, "_swept_at", None)
    connected_session(alice, "sqlite")
    _ask(alice)
    stale = _stale_running_turn(alice)

    _ask(alice)

    stale.refresh_from_db()
    assert stale.status == TurnStatus.RUNNING
    monkeypatch.setattr(
        orphans, "_swept_at", orphans._swept_at - orphans.ORPHAN_SWEEP_INTERVAL_S
    )

    _ask(alice)

    stale.refresh_from_db()
    assert stale.status == TurnStatus.ERROR


def test_a_running_turn_of_a_live_worker_younger_than_the_longest_ask_is_kept(
    alice, connected_session, monkeypatch
):
    monkeypatch.setattr(orphans, "_swept_at", None)
    connected_session(alice, "sqlite")
    stale = _stale_running_turn(alice)
    Turn.objects.filter(pk=stale.pk).update(created_at=timezone.now())

    _ask(alice)

    stale.refresh_from_db()
    assert stale.status == TurnStatus.RUNNING


def test_the_queued_sweep_closes_turns_left_running(alice, settings):
    from agent.tasks import turns_fail_orphaned_task

    stale = _stale_running_turn(alice)
    # Beat sends it every minute; any worker runs it.
    assert "agent.turns_fail_orphaned" in {
        entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()
    }

    closed = turns_fail_orphaned_task.apply().get()

    stale.refresh_from_db()
    assert closed == 1
    assert stale.status == TurnStatus.ERROR
