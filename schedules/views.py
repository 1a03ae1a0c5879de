"""The Schedules page: list, create (also from an answered turn), pause, run
now, edit, delete, and each schedule's runs."""

from __future__ import annotations

import functools
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts.types import AuthenticatedHttpRequest
from agent.selectors import turn_get_for_user
from schedules import selectors, services
from schedules.forms import ScheduleForm
from sqlagent_project.errors import ApplicationError

View = Any


def _form_errors_from_service(view: View) -> View:
    """Show a refused schedule (bad timing, refused webhook) on its form."""

    @functools.wraps(view)
    def wrapped(request: AuthenticatedHttpRequest, *args: Any, **kwargs: Any) -> Any:
        try:
            return view(request, *args, **kwargs)
        except ApplicationError as exc:
            messages.error(request, exc.message)
            return redirect("schedule-list")

    return wrapped


def _initial_from_turn(request: AuthenticatedHttpRequest) -> dict[str, Any]:
    turn_id = request.GET.get("turn", "")
    if not turn_id.isdigit():
        return {}
    turn = turn_get_for_user(user=request.user, turn_id=int(turn_id))
    return {"question": turn.question, "connection": turn.thread.db_connection_id}


@login_required
def schedule_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Your schedules, and a form for a new one (filled from ?turn=<id>)."""
    form = ScheduleForm(
        request.POST or None, user=request.user, initial=_initial_from_turn(request)
    )
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                services.schedule_create(owner=request.user, **form.service_data())
            except ApplicationError as exc:
                form.add_error(None, exc.message)
                status = 400
            else:
                messages.success(request, "Scheduled.")
                return redirect("schedule-list")
        else:
            status = 400
    context = {
        "form": form,
        "schedules": selectors.schedule_list_for_user(user=request.user),
        "nav": "schedules",
    }
    return render(request, "schedules/list.html", context, status=status)


@login_required
def schedule_edit(request: AuthenticatedHttpRequest, schedule_id: int) -> HttpResponse:
    schedule = selectors.schedule_get_for_user(
        user=request.user, schedule_id=schedule_id
    )
    initial = {
        "connection": schedule.connection_id,
        **{name: getattr(schedule, name) for name in ScheduleForm.fields_of_schedule},
    }
    form = ScheduleForm(request.POST or None, user=request.user, initial=initial)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.service_data()
            data.pop("connection_id")  # a schedule stays on its connection
            try:
                services.schedule_update(schedule=schedule, **data)
            except ApplicationError as exc:
                form.add_error(None, exc.message)
                status = 400
            else:
                messages.success(request, "Schedule saved.")
                return redirect("schedule-list")
        else:
            status = 400
    context = {"form": form, "schedule": schedule, "nav": "schedules"}
    return render(request, "schedules/edit.html", context, status=status)


@login_required
@require_POST
@_form_errors_from_service
def schedule_pause(request: AuthenticatedHttpRequest, schedule_id: int) -> HttpResponse:
    schedule = selectors.schedule_get_for_user(
        user=request.user, schedule_id=schedule_id
    )
    services.schedule_update(schedule=schedule, paused=not schedule.paused)
    messages.success(request, "Paused." if schedule.paused else "Resumed.")
    return redirect("schedule-list")


@login_required
@require_POST
def schedule_run(request: AuthenticatedHttpRequest, schedule_id: int) -> HttpResponse:
    schedule = selectors.schedule_get_for_user(
        user=request.user, schedule_id=schedule_id
    )
    services.schedule_run_now(schedule=schedule)
    messages.success(request, "Running now: the run appears below when it is done.")
    return redirect("schedule-runs", schedule_id=schedule.pk)


@login_required
@require_POST
def schedule_delete(
    request: AuthenticatedHttpRequest, schedule_id: int
) -> HttpResponse:
    schedule = selectors.schedule_get_for_user(
        user=request.user, schedule_id=schedule_id
    )
    services.schedule_delete(schedule=schedule)
    messages.success(request, "Schedule deleted.")
    return redirect("schedule-list")


@login_required
def schedule_runs(request: AuthenticatedHttpRequest, schedule_id: int) -> HttpResponse:
    schedule = selectors.schedule_get_for_user(
        user=request.user, schedule_id=schedule_id
    )
    runs = selectors.run_list_for_schedule(schedule=schedule)[:100]
    context = {"schedule": schedule, "runs": runs, "nav": "schedules"}
    return render(request, "schedules/runs.html", context)
