from __future__ import annotations

from django.urls import path

from schedules import api, views

urlpatterns = [
    path("schedules", api.ScheduleListApi.as_view(), name="schedules"),
    path(
        "schedules/<int:schedule_id>",
        api.ScheduleDetailApi.as_view(),
        name="schedule-detail",
    ),
    path(
        "schedules/<int:schedule_id>/run",
        api.ScheduleRunNowApi.as_view(),
        name="schedule-run",
    ),
    path(
        "schedules/<int:schedule_id>/runs",
        api.ScheduleRunListApi.as_view(),
        name="schedule-runs-api",
    ),
    # Pages
    path("schedules/", views.schedule_list, name="schedule-list"),
    path(
        "schedules/<int:schedule_id>/edit/", views.schedule_edit, name="schedule-edit"
    ),
    path(
        "schedules/<int:schedule_id>/pause/",
        views.schedule_pause,
        name="schedule-pause",
    ),
    path(
        "schedules/<int:schedule_id>/run/",
        views.schedule_run,
        name="schedule-run-page",
    ),
    path(
        "schedules/<int:schedule_id>/delete/",
        views.schedule_delete,
        name="schedule-delete",
    ),
    path(
        "schedules/<int:schedule_id>/runs/",
        views.schedule_runs,
        name="schedule-runs",
    ),
]
