from __future__ import annotations

from django.conf import settings
from rest_framework import serializers

from agent.models import Thread, Turn


class AskInputSerializer(serializers.Serializer):
    question = serializers.CharField(
        trim_whitespace=True,
        allow_blank=False,
        help_text="The question in plain language (a `thread_id` is ignored).",
    )

    def validate_question(self, value: str) -> str:
        limit = settings.QUESTION_MAX_LENGTH
        if len(value) > limit:
            raise serializers.ValidationError(
                f"Ensure this field has no more than {limit} characters."
            )
        return value


class QuerySerializer(serializers.Serializer):
    sql = serializers.CharField()
    row_count = serializers.IntegerField()
    truncated = serializers.BooleanField()
    duration_ms = serializers.FloatField()
    error = serializers.CharField(allow_null=True)


class ResultSerializer(serializers.Serializer):
    columns = serializers.ListField(child=serializers.CharField())
    rows = serializers.ListField(
        child=serializers.ListField(child=serializers.JSONField())
    )
    row_count = serializers.IntegerField()
    truncated = serializers.BooleanField()


class LLMUsageSerializer(serializers.Serializer):
    model = serializers.CharField()
    calls = serializers.IntegerField(source="llm_calls")
    prompt_tokens = serializers.IntegerField()
    completion_tokens = serializers.IntegerField()


class AskOutputSerializer(serializers.Serializer):
    session_id = serializers.UUIDField(source="thread_id")
    thread_id = serializers.UUIDField()
    turn_id = serializers.IntegerField(source="id")
    question = serializers.CharField()
    answer = serializers.CharField()
    queries = QuerySerializer(many=True)
    result = ResultSerializer(allow_null=True)
    duration_ms = serializers.FloatField()
    llm = LLMUsageSerializer(source="*")


class TurnSerializer(serializers.ModelSerializer):
    turn_id = serializers.IntegerField(source="id")
    queries = QuerySerializer(many=True)
    result = ResultSerializer(allow_null=True)
    llm = LLMUsageSerializer(source="*")

    class Meta:
        model = Turn
        fields = [
            "turn_id",
            "question",
            "answer",
            "status",
            "error",
            "error_code",
            "queries",
            "result",
            "duration_ms",
            "llm",
            "created_at",
            "finished_at",
        ]
        read_only_fields = fields


class ThreadSerializer(serializers.ModelSerializer):
    thread_id = serializers.UUIDField(source="id")
    db_id = serializers.IntegerField(source="db_connection_id", allow_null=True)
    turn_count = serializers.IntegerField()

    class Meta:
        model = Thread
        fields = [
            "thread_id",
            "title",
            "db_id",
            "turn_count",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class ThreadDetailSerializer(serializers.ModelSerializer):
    thread_id = serializers.UUIDField(source="id")
    db_id = serializers.IntegerField(source="db_connection_id", allow_null=True)
    turns = serializers.SerializerMethodField()

    class Meta:
        model = Thread
        fields = ["thread_id", "title", "db_id", "created_at", "updated_at", "turns"]
        read_only_fields = fields

    def get_turns(self, thread: Thread) -> list[dict]:
        return TurnSerializer(thread.turns.order_by("created_at", "id"), many=True).data
