from __future__ import annotations

from django.urls import path

from schedules import api

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
        name="schedule-runs",
    ),
]
