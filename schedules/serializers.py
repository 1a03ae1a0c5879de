from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework import serializers

from schedules.models import SCHEDULE_FIELDS, Every, Schedule, ScheduleRun
from schedules.timing import WEEKDAYS


class WeekdayField(serializers.IntegerField):
    """0 (Monday) to 6 (Sunday), or the day's English name."""

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, str) and data.strip().lower() in WEEKDAYS:
            return WEEKDAYS.index(data.strip().lower())
        return super().to_internal_value(data)


class ScheduleInputSerializer(serializers.Serializer):
    connection_id = serializers.IntegerField()
    question = serializers.CharField(max_length=settings.QUESTION_MAX_LENGTH)
    every = serializers.ChoiceField(choices=Every.choices)
    at = serializers.TimeField(format="%H:%M", input_formats=["%H:%M"], required=False)
    weekday = WeekdayField(min_value=0, max_value=6, required=False, allow_null=True)
    day = serializers.IntegerField(
        min_value=1, max_value=28, required=False, allow_null=True
    )
    cron = serializers.CharField(max_length=100, required=False, allow_blank=True)
    timezone = serializers.CharField(max_length=64, required=False)
    email = serializers.BooleanField(required=False)
    webhook_url = serializers.URLField(
        max_length=2000, required=False, allow_blank=True
    )
    paused = serializers.BooleanField(required=False)


class ScheduleUpdateSerializer(ScheduleInputSerializer):
    connection_id = None  # type: ignore[assignment]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.required = False


class ScheduleSerializer(serializers.ModelSerializer):
    connection_id = serializers.IntegerField(read_only=True)
    at = serializers.TimeField(format="%H:%M", allow_null=True)

    class Meta:
        model = Schedule
        fields = [
            "id",
            "connection_id",
            *SCHEDULE_FIELDS,
            "thread_id",
            "paused_reason",
            "consecutive_failures",
            "next_run_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class ScheduleCreatedSerializer(ScheduleSerializer):
    """At creation only: the secret that signs its webhook bodies."""

    class Meta(ScheduleSerializer.Meta):
        fields = [*ScheduleSerializer.Meta.fields, "webhook_secret"]
        read_only_fields = fields


class ScheduleRunSerializer(serializers.ModelSerializer):
    turn_id = serializers.IntegerField(read_only=True, allow_null=True)
    started = serializers.DateTimeField(source="started_at", read_only=True)
    finished = serializers.DateTimeField(source="finished_at", read_only=True)

    class Meta:
        model = ScheduleRun
        fields = [
            "id",
            "slot",
            "trigger",
            "started",
            "finished",
            "status",
            "answer",
            "row_count",
            "error",
            "email_status",
            "email_error",
            "webhook_status",
            "webhook_error",
            "turn_id",
        ]
        read_only_fields = fields
