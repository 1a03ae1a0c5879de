from __future__ import annotations

from rest_framework import serializers

from knowledge.models import (
    EvaluationResult,
    EvaluationRun,
    Example,
    Feedback,
    Instruction,
    SchemaNote,
)


class NoteSerializer(serializers.ModelSerializer):
    class Meta:
        model = SchemaNote
        fields = [
            "id",
            "table_name",
            "column_name",
            "description",
            "source",
            "updated_at",
        ]
        read_only_fields = ["id", "source", "updated_at"]


class InstructionSerializer(serializers.ModelSerializer):
    text = serializers.CharField(max_length=2000)

    class Meta:
        model = Instruction
        fields = ["id", "text", "created_at"]
        read_only_fields = ["id", "created_at"]


class ExampleSerializer(serializers.ModelSerializer):
    verified = serializers.BooleanField(
        required=False,
        help_text="False for a team analyst's proposal, never used until a team "
        "admin sets it true.",
    )
    proposed_by_id = serializers.IntegerField(read_only=True, allow_null=True)
    question = serializers.CharField(max_length=2000)
    sql = serializers.CharField(max_length=20000)
    instructions = serializers.CharField(
        max_length=2000, required=False, allow_blank=True
    )

    class Meta:
        model = Example
        fields = [
            "id",
            "question",
            "sql",
            "instructions",
            "source",
            "checked_at",
            "last_check_ok",
            "last_check_error",
            "verified",
            "proposed_by_id",
            "created_at",
        ]
        read_only_fields = [
            "id",
            "source",
            "proposed_by_id",
            "checked_at",
            "last_check_ok",
            "last_check_error",
            "created_at",
        ]


class ImportInputSerializer(serializers.Serializer):
    file = serializers.FileField()
    set = serializers.CharField(max_length=100, required=False, allow_blank=True)


class ImportOutputSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    # The import's own per-line errors (a field named like Serializer.errors).
    errors = serializers.ListField(  # type: ignore[assignment]
        child=serializers.DictField()
    )


class RunInputSerializer(serializers.Serializer):
    set = serializers.CharField(max_length=100, required=False, allow_blank=True)
    limit = serializers.IntegerField(min_value=1, required=False)


class EvaluationResultSerializer(serializers.ModelSerializer):
    class Meta:
        model = EvaluationResult
        fields = [
            "position",
            "question",
            "gold_sql",
            "generated_sql",
            "outcome",
            "gold_rows",
            "returned_rows",
            "answer",
            "error",
            "prompt_tokens",
            "completion_tokens",
            "duration_ms",
        ]


class RunSerializer(serializers.ModelSerializer):
    run_id = serializers.IntegerField(source="pk", read_only=True)
    # The accuracy's denominator: questions asked and scored.
    answered = serializers.IntegerField(read_only=True)

    class Meta:
        model = EvaluationRun
        fields = [
            "run_id",
            "set_name",
            "status",
            "model",
            "prompt_version",
            "settings",
            "total",
            "done",
            "correct",
            "answered",
            "unanswered",
            "accuracy",
            "ci_low",
            "ci_high",
            "error",
            "started_at",
            "finished_at",
        ]


class RunDetailSerializer(RunSerializer):
    results = EvaluationResultSerializer(many=True, read_only=True)
    previous_accuracy = serializers.SerializerMethodField()

    class Meta(RunSerializer.Meta):
        fields = [*RunSerializer.Meta.fields, "previous_accuracy", "results"]

    def get_previous_accuracy(self, run: EvaluationRun) -> float | None:
        from knowledge.selectors import previous_run

        previous = previous_run(run)
        return previous.accuracy if previous else None


class FeedbackSerializer(serializers.ModelSerializer):
    comment = serializers.CharField(max_length=2000, required=False, allow_blank=True)

    class Meta:
        model = Feedback
        fields = ["rating", "comment", "updated_at"]
        read_only_fields = ["updated_at"]
