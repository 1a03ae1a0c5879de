from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from knowledge import limits
from knowledge.exceptions import KnowledgeLimitReached
from knowledge.models import (
    EvaluationResult,
    EvaluationRun,
    Example,
    Feedback,
    GoldenQuestion,
    GoldenSet,
    Instruction,
    SchemaNote,
    ValueIndex,
)


class _CappedAdmin(admin.ModelAdmin):
    """Hold additions made here to the connection's cap, as every other way in."""

    kind: limits.Kind

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        base = super().get_form(request, obj, change=change, **kwargs)
        kind = self.kind

        class CappedForm(base):  # type: ignore[valid-type,misc]
            def clean(self) -> dict[str, Any]:
                cleaned: dict[str, Any] = super().clean() or {}
                connection = cleaned.get("connection")
                adds = self.instance.pk is None or (
                    connection is not None
                    and connection.pk != self.instance.connection_id
                )
                if connection is not None and adds:
                    try:
                        limits.knowledge_room_check(
                            connection_id=connection.pk, kind=kind
                        )
                    except KnowledgeLimitReached as exc:
                        raise forms.ValidationError(exc.message, code=exc.code) from exc
                return cleaned

        return CappedForm


@admin.register(SchemaNote)
class SchemaNoteAdmin(_CappedAdmin):
    kind = limits.DESCRIPTIONS
    list_display = ["connection", "table_name", "column_name", "source"]
    list_filter = ["source"]


@admin.register(Instruction)
class InstructionAdmin(_CappedAdmin):
    kind = limits.INSTRUCTIONS
    list_display = ["connection", "text"]


@admin.register(Example)
class ExampleAdmin(_CappedAdmin):
    kind = limits.EXAMPLES
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


@admin.register(ValueIndex)
class ValueIndexAdmin(admin.ModelAdmin):
    """The value index of each connection: read here, rebuilt from the
    knowledge page (its values are the database's, never edited by hand)."""

    list_display = ["connection", "status", "columns", "values", "bytes", "built_at"]
    list_filter = ["status"]
    readonly_fields = [
        "connection",
        "status",
        "columns",
        "values",
        "bytes",
        "skipped",
        "error",
        "started_at",
        "built_at",
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
