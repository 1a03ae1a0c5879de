"""Domain errors of scheduled questions."""

from __future__ import annotations

from sqlagent_project.errors import ApplicationError


class ScheduleInvalid(ApplicationError):
    """The schedule's timing, time zone or webhook cannot be used."""

    status_code = 400
    code = "invalid_schedule"
