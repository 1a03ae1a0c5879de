"""Admin for conversations: threads and turns, read-only."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join

from agent.models import Thread, Turn

_TURN_INLINE_FIELDS: tuple[str, ...] = (
    "created_at",
    "question",
    "status",
    "sql",
    "error",
)

_THREAD_FIELDS: tuple[str, ...] = (
    "id",
    "title",
    "user",
    "db_connection",
    "created_at",
    "updated_at",
)

_TURN_FIELDS: tuple[str, ...] = (
    "thread",
    "question",
    "status",
    "answer",
    "sql",
    "error",
    "error_code",
    "result_summary",
    "duration_ms",
    "model",
    "llm_calls",
    "prompt_tokens",
    "completion_tokens",
    # Which protocol answered, and a reasoning model's thoughts (never shown to
    # the user; bounded by LLM_REASONING_MAX_CHARS).
    "protocol",
    "reasoning_tokens",
    "reasoning",
    "tables_described",
    "created_at",
    "finished_at",
)


class ReadOnlyAdmin(admin.ModelAdmin):
    """History is a record: the admin may read it, never change it."""

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


def _sql_html(turn: Turn) -> str:
    queries = turn.queries or []
    if not queries:
        return "—"
    # format_html escapes every query: stored SQL comes from the LLM.
    return format_html_join(
        "",
        "<pre style='white-space:pre-wrap;margin:0 0 .5em'>{}</pre>"
        "<small>{}</small><br>",
        (
            (
                query.get("sql", ""),
                query.get("error") or f"{query.get('row_count', 0)} row(s)",
            )
            for query in queries
        ),
    )


class TurnInline(admin.TabularInline):
    model = Turn
    extra = 0
    can_delete = False
    show_change_link = True
    fields = _TURN_INLINE_FIELDS
    readonly_fields = _TURN_INLINE_FIELDS

    @admin.display(description="SQL")
    def sql(self, obj: Turn) -> str:
        return _sql_html(obj)

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Thread)
class ThreadAdmin(ReadOnlyAdmin):
    list_display = ["title", "user", "db_connection", "turn_count", "updated_at"]
    list_select_related = ["user", "db_connection"]
    search_fields = ["title", "user__email", "turns__question"]
    list_filter = ["updated_at"]
    fields = _THREAD_FIELDS
    readonly_fields = _THREAD_FIELDS
    inlines = [TurnInline]

    @admin.display(description="Turns")
    def turn_count(self, obj: Thread) -> int:
        return obj.turns.count()


@admin.register(Turn)
class TurnAdmin(ReadOnlyAdmin):
    list_display = ["question_short", "status", "user", "sql_short", "created_at"]
    list_filter = ["status", "created_at"]
    list_select_related = ["thread__user"]
    search_fields = ["question"]
    fields = _TURN_FIELDS
    readonly_fields = _TURN_FIELDS

    @admin.display(description="Question", ordering="question")
    def question_short(self, obj: Turn) -> str:
        return obj.question[:80]

    @admin.display(description="User", ordering="thread__user__email")
    def user(self, obj: Turn) -> str:
        return str(obj.thread.user)

    @admin.display(description="SQL")
    def sql_short(self, obj: Turn) -> str:
        last = (obj.queries or [{}])[-1]
        return (last.get("sql") or "—")[:120]

    @admin.display(description="SQL")
    def sql(self, obj: Turn) -> str:
        return _sql_html(obj)

    @admin.display(description="Tables described")
    def tables_described(self, obj: Turn) -> str:
        """The tables the first request described, and why (schema linking)."""
        described = obj.described_tables or []
        if not described:
            return "—"
        return format_html_join(
            "",
            "{} <small>({})</small><br>",
            ((d["table"], d["why"]) for d in described),
        )

    @admin.display(description="Result")
    def result_summary(self, obj: Turn) -> str:
        if not obj.result:
            return "—"
        columns = ", ".join(str(c) for c in obj.result.get("columns", []))
        note = " (truncated)" if obj.result.get("truncated") else ""
        return format_html(
            "{} row(s){}: {}", obj.result.get("row_count", 0), note, columns
        )
