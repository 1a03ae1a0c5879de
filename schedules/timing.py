"""When a schedule's slots fall: day, week and month become cron expressions,
read in the schedule's own time zone (croniter), answered in UTC."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from croniter import croniter

WEEKDAYS = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
]


class TimingInvalid(ValueError):
    """The schedule's timing cannot be read; `field` names the culprit."""

    def __init__(self, message: str, *, field: str):
        super().__init__(message)
        self.field = field


def zone(name: str) -> ZoneInfo:
    """Return the IANA time zone `name`, or raise TimingInvalid."""
    if name not in available_timezones():
        raise TimingInvalid(f"Unknown time zone '{name}'.", field="timezone")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise TimingInvalid(f"Unknown time zone '{name}'.", field="timezone") from exc


def cron_for(
    *,
    every: str,
    at: time | None,
    weekday: int | None,
    day: int | None,
    cron: str,
) -> str:
    """Return the cron expression of a schedule's timing (validated)."""
    if every == "cron":
        expression = " ".join((cron or "").split())
        if len(expression.split()) != 5 or not croniter.is_valid(expression):
            raise TimingInvalid(
                "cron must be five fields: minute hour day month weekday.",
                field="cron",
            )
        return expression
    if at is None:
        raise TimingInvalid("at (HH:MM) is required.", field="at")
    if every == "day":
        return f"{at.minute} {at.hour} * * *"
    if every == "week":
        if weekday is None or not 0 <= weekday <= 6:
            raise TimingInvalid(
                "weekday is required: 0 (Monday) to 6 (Sunday).", field="weekday"
            )
        # cron counts from Sunday = 0.
        return f"{at.minute} {at.hour} * * {(weekday + 1) % 7}"
    if every == "month":
        if day is None or not 1 <= day <= 28:
            raise TimingInvalid(
                "day is required: 1 to 28 (every month has it).", field="day"
            )
        return f"{at.minute} {at.hour} {day} * *"
    raise TimingInvalid("every must be day, week, month or cron.", field="every")


def next_slot(*, expression: str, timezone: str, after: datetime) -> datetime:
    """Return the first slot strictly after `after`, in UTC."""
    local = after.astimezone(zone(timezone))
    following = croniter(expression, local).get_next(datetime)
    return following.astimezone(UTC)
