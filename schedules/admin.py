"""Schedules and their runs in the admin, and the queue's recent task runs
(django-celery-results) with their state and error at a glance."""

from __future__ import annotations

from django.contrib import admin
from django.db import models
from django_celery_results.admin import TaskResultAdmin
from django_celery_results.models import TaskResult

from schedules.models import Schedule, ScheduleRun


@admin.register(Schedule)
class ScheduleAdmin(admin.ModelAdmin):
    list_display = ["id", "owner", "connection", "every", "paused", "next_run_at"]
    list_filter = ["every", "paused"]
    exclude = ["webhook_secret"]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}


@admin.register(ScheduleRun)
class ScheduleRunAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "schedule",
        "slot",
        "status",
        "email_status",
        "webhook_status",
    ]
    list_filter = ["status", "email_status", "webhook_status"]


admin.site.unregister(TaskResult)


@admin.register(TaskResult)
class TaskRunAdmin(TaskResultAdmin):
    """Recent task runs first, with the error of a failed one."""

    list_display = ["task_id", "task_name", "status", "date_done", "worker", "error"]
    ordering = ["-date_done"]

    @admin.display(description="error")
    def error(self, task: TaskResult) -> str:
        if task.status != "FAILURE":
            return ""
        return (task.result or "")[:200]
