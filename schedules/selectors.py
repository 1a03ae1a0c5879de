"""Schedules scoped to their owner: anyone else's is a 404."""

from __future__ import annotations

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404

from accounts.models import User
from schedules.models import Schedule, ScheduleRun


def schedule_list_for_user(*, user: User) -> QuerySet[Schedule]:
    """Return the user's schedules."""
    return Schedule.objects.filter(owner=user).select_related("connection")


def schedule_get_for_user(*, user: User, schedule_id: int) -> Schedule:
    """Return one of the user's schedules; anyone else's is a 404."""
    return get_object_or_404(schedule_list_for_user(user=user), pk=schedule_id)


def run_list_for_schedule(*, schedule: Schedule) -> QuerySet[ScheduleRun]:
    """Return a schedule's runs, newest slot first."""
    return ScheduleRun.objects.filter(schedule=schedule)
