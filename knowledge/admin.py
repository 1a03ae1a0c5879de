from __future__ import annotations

from django.contrib import admin

from knowledge.models import (
    EvaluationResult,
    EvaluationRun,
    Example,
    Feedback,
    GoldenQuestion,
    GoldenSet,
    Instruction,
    SchemaNote,
)


@admin.register(SchemaNote)
class SchemaNoteAdmin(admin.ModelAdmin):
    list_display = ["connection", "table_name", "column_name", "source"]
    list_filter = ["source"]


@admin.register(Instruction)
class InstructionAdmin(admin.ModelAdmin):
    list_display = ["connection", "text"]


@admin.register(Example)
class ExampleAdmin(admin.ModelAdmin):
    list_display = ["connection", "question", "source", "last_check_ok"]
    list_filter = ["source", "last_check_ok"]


class GoldenQuestionInline(admin.TabularInline):
    model = GoldenQuestion
    extra = 0


@admin.register(GoldenSet)
class GoldenSetAdmin(admin.ModelAdmin):
    list_display = ["connection", "name"]
    inlines = [GoldenQuestionInline]


class EvaluationResultInline(admin.TabularInline):
    model = EvaluationResult
    extra = 0
    fields = ("position", "question", "outcome", "generated_sql", "error")
    readonly_fields = fields


@admin.register(EvaluationRun)
class EvaluationRunAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "connection",
        "set_name",
        "status",
        "model",
        "correct",
        "total",
        "accuracy",
    ]
    inlines = [EvaluationResultInline]


@admin.register(Feedback)
class FeedbackAdmin(admin.ModelAdmin):
    """Turns by feedback: filter on 👎 to review the answers people distrusted."""

    list_display = ["turn", "rating", "comment", "user", "updated_at"]
    list_filter = ["rating"]
    search_fields = ["turn__question", "comment"]
    raw_id_fields = ["turn", "user"]
