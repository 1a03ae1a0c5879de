from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from rest_framework import serializers

from agent.models import Thread, Turn
from agent.turn_view import TurnView


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


class AskSqlInputSerializer(serializers.Serializer):
    sql = serializers.CharField(
        trim_whitespace=True,
        allow_blank=False,
        help_text="One read-only SELECT, run as the agent's queries are (no LLM call).",
    )

    def validate_sql(self, value: str) -> str:
        limit = settings.SQL_MAX_LENGTH
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
    reasoning_tokens = serializers.IntegerField(
        help_text="Tokens of a reasoning model's thoughts (kept off the answer)."
    )
    protocol = serializers.CharField(
        help_text='How the model was asked for SQL: "native" tool calls or '
        '"text" (LLM_TOOL_PROTOCOL); empty for SQL a user ran.'
    )


class AskOutputSerializer(serializers.Serializer):
    session_id = serializers.UUIDField(source="thread_id")
    thread_id = serializers.UUIDField()
    turn_id = serializers.IntegerField(source="id")
    question = serializers.CharField()
    answer = serializers.CharField()
    queries = QuerySerializer(many=True)
    result = ResultSerializer(allow_null=True)
    chart = serializers.JSONField(
        allow_null=True, help_text="A Vega-Lite v5 spec of the result, or null."
    )
    duration_ms = serializers.FloatField()
    grounded = serializers.BooleanField(
        help_text="False when no successful query stands behind the answer."
    )
    cut_off = serializers.BooleanField(
        help_text="True when the model's reply stopped at LLM_MAX_TOKENS."
    )
    diagnosis = serializers.JSONField(
        help_text="Empty results checked against the data before the answer: "
        "[{sql, true_negative, checks: [{table, column, op, literal, found, "
        "close}]}]."
    )
    llm = LLMUsageSerializer(source="*")

    def to_representation(self, turn: Turn) -> dict[str, Any]:
        # Once per question, with up to QUERY_MAX_ROWS rows: binding the nested
        # fields above and walking every cell through them costs more than the
        # dict. They still define the schema; a test pins this output to theirs.
        # The shared values come from the one public view of a turn, which the
        # MCP tools and the pages show as well.
        view = TurnView.of(turn)
        public = view.public()
        return {
            "session_id": public["thread_id"],
            "thread_id": public["thread_id"],
            "turn_id": public["turn_id"],
            "question": public["question"],
            "answer": public["answer"],
            "queries": None
            if view.queries is None
            else [_query(query) for query in view.queries],
            "result": None
            if view.result is None
            else {name: public[name] for name in _RESULT_FIELDS},
            "chart": public["chart"],
            "duration_ms": _nullable(float, view.duration_ms),
            "grounded": public["grounded"],
            "cut_off": public["cut_off"],
            "diagnosis": list(view.diagnosis or []),
            "llm": {
                "model": _nullable(str, view.model),
                "calls": _nullable(int, view.llm_calls),
                "prompt_tokens": _nullable(int, view.prompt_tokens),
                "completion_tokens": _nullable(int, view.completion_tokens),
                "reasoning_tokens": _nullable(int, view.reasoning_tokens),
                "protocol": _nullable(str, view.protocol),
            },
        }


_RESULT_FIELDS = tuple(ResultSerializer().fields)


# Unbound fields, used only for their output format.
_BOOLEAN = serializers.BooleanField().to_representation


class AskCancelOutputSerializer(serializers.Serializer):
    turn_id = serializers.IntegerField(source="id")
    status = serializers.CharField(
        help_text="`running` while the run winds down, else how the turn ended."
    )
    cancel_requested = serializers.SerializerMethodField()

    def get_cancel_requested(self, turn: Turn) -> bool:
        return turn.status == "running"


def _nullable(represent: Callable[[Any], Any], value: Any) -> Any:
    return None if value is None else represent(value)


def _query(query: dict[str, Any]) -> dict[str, Any]:
    return {
        "sql": _nullable(str, query["sql"]),
        "row_count": _nullable(int, query["row_count"]),
        "truncated": _nullable(_BOOLEAN, query["truncated"]),
        "duration_ms": _nullable(float, query["duration_ms"]),
        "error": _nullable(str, query["error"]),
    }


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
            "source",
            "status",
            "error",
            "error_code",
            "queries",
            "result",
            "chart",
            "duration_ms",
            "grounded",
            "cut_off",
            "diagnosis",
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

    def get_turns(self, thread: Thread) -> list[dict[str, Any]]:
        # The view passes one page of turns; Meta orders them.
        turns = self.context.get("turns", thread.turns.all())
        return list(TurnSerializer(turns, many=True).data)


class SchemaTableSerializer(serializers.Serializer):
    name = serializers.CharField()
    kind = serializers.ChoiceField(choices=["table", "view"])


class SchemaListSerializer(serializers.Serializer):
    tables = SchemaTableSerializer(many=True)
    count = serializers.IntegerField()
    suggested_questions = serializers.ListField(child=serializers.CharField())


class SchemaColumnSerializer(serializers.Serializer):
    name = serializers.CharField()
    type = serializers.CharField()
    nullable = serializers.BooleanField()
    primary_key = serializers.BooleanField()
    references = serializers.CharField(allow_null=True)
    comment = serializers.CharField(allow_null=True)


class SchemaTableDetailSerializer(serializers.Serializer):
    name = serializers.CharField()
    kind = serializers.CharField()
    comment = serializers.CharField(allow_null=True)
    columns = SchemaColumnSerializer(many=True)


class ThreadRenameSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=200, allow_blank=False)
