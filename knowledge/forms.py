"""Forms of the knowledge page: one per action, with the API's limits."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.db.models import QuerySet

from connections.models import DatabaseConnection
from knowledge import services
from knowledge.exceptions import ExampleSqlRefused
from knowledge.models import Example, SchemaNote


class InstructionForm(forms.Form):
    """Add or change an instruction."""

    text = forms.CharField(
        label="Instruction",
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class ExampleForm(forms.Form):
    """Add or change a verified example; its SQL must pass the statement check."""

    question = forms.CharField(max_length=2000)
    sql = forms.CharField(
        label="SQL", max_length=20000, widget=forms.Textarea(attrs={"rows": 6})
    )
    instructions = forms.CharField(
        max_length=2000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Optional: what to keep in mind for questions like this one.",
    )

    def __init__(
        self,
        *args: Any,
        connection: DatabaseConnection,
        instance: Example | None = None,
        **kwargs: Any,
    ) -> None:
        self.connection = connection
        self.instance = instance
        if instance is not None and "initial" not in kwargs:
            kwargs["initial"] = {
                "question": instance.question,
                "sql": instance.sql,
                "instructions": instance.instructions,
            }
        super().__init__(*args, **kwargs)

    def clean_sql(self) -> str:
        sql: str = self.cleaned_data["sql"]
        # Unchanged SQL is not checked again, as in example_update: a stricter
        # check later must not lock the question and instructions.
        if self.instance is not None and sql == self.instance.sql:
            return sql
        try:
            services.example_sql_check(connection=self.connection, sql=sql)
        except ExampleSqlRefused as exc:
            raise forms.ValidationError(exc.message, code=exc.code) from exc
        return sql


class NoteForm(forms.Form):
    """Change a description, or the table or column it describes."""

    table_name = forms.CharField(label="Table", max_length=255)
    column_name = forms.CharField(
        label="Column",
        max_length=255,
        required=False,
        help_text="Leave empty to describe the whole table.",
    )
    description = forms.CharField(
        max_length=2000, widget=forms.Textarea(attrs={"rows": 3})
    )

    def __init__(
        self,
        *args: Any,
        instance: SchemaNote,
        siblings: QuerySet[SchemaNote],
        **kwargs: Any,
    ) -> None:
        self.instance = instance
        # The connection's other descriptions, to refuse a move onto one of them.
        self.siblings = siblings.exclude(pk=instance.pk)
        if "initial" not in kwargs:
            kwargs["initial"] = {
                "table_name": instance.table_name,
                "column_name": instance.column_name,
                "description": instance.description,
            }
        super().__init__(*args, **kwargs)

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean() or {}
        table = cleaned.get("table_name")
        if (
            table
            and self.siblings.filter(
                table_name=table, column_name=cleaned.get("column_name", "")
            ).exists()
        ):
            raise forms.ValidationError(
                "That table or column already has a description: edit that one.",
                code="note_target_taken",
            )
        return cleaned


class ImportForm(forms.Form):
    """Upload a CSV or JSONL file into the verified examples or a golden set."""

    file = forms.FileField(
        help_text="CSV with a header line, JSONL or a JSON array; each item has "
        "question, sql (or query) and optionally instructions.",
    )
    set = forms.CharField(
        label="Golden set",
        max_length=100,
        required=False,
        help_text="Leave empty to import verified examples; a name imports the "
        "questions into that golden set (created if new).",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        limit = settings.REQUEST_MAX_BYTES
        self.fields["file"].help_text += f" At most {limit // 1024} KiB."
        self.fields["file"].widget.attrs["accept"] = ".csv,.jsonl,.json,.txt"
        self.fields["set"].widget.attrs["list"] = "golden-set-names"
