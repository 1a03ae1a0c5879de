"""HTML pages for the agent: the chat, past conversations, a turn's rows as CSV."""

from __future__ import annotations

import csv
import dataclasses
import uuid
from collections.abc import Iterable
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.text import slugify
from django.views.decorators.http import (
    require_GET,
    require_http_methods,
    require_POST,
)

from accounts.types import AuthenticatedHttpRequest
from agent.budgets import budget_note
from agent.cancellation import ClientWatch
from agent.models import Thread, Turn
from agent.privacy import PrivacyPolicy
from agent.schema_browser import questions_suggest
from agent.selectors import (
    shared_turn_get_for_user,
    thread_get_for_user,
    thread_groups_for_user,
    thread_list_for_user,
    turn_get_for_user,
    turn_get_readable,
    turn_latest_for_user,
)
from agent.services import thread_ask
from agent.threads import thread_continue, thread_delete, thread_rename
from agent.turn_view import TurnView
from agent.user_sql import thread_run_sql
from connections.forms import SessionConnectForm
from connections.selectors import (
    ConnectionAccess,
    connection_allows,
    connection_list_for_user,
    connection_role_refresh,
)
from connections.services import session_get_or_create_active
from sqlagent_project.errors import ApplicationError

# Spreadsheets run a cell starting with one of these as a formula.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class AskForm(forms.Form):
    """One question for the agent."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Built here so the length limit follows the setting at request time.
        self.fields["question"] = forms.CharField(
            label="Your question",
            max_length=settings.QUESTION_MAX_LENGTH,
            widget=forms.Textarea(
                attrs={"rows": 2, "placeholder": "e.g. Which customers are in Germany?"}
            ),
        )
        # No maxlength: the browser would cut a long paste silently. The page
        # counts instead, and the server still refuses an overlong question.
        widget = self.fields["question"].widget
        widget.attrs.pop("maxlength", None)
        widget.attrs["data-max-length"] = str(settings.QUESTION_MAX_LENGTH)


def _views_for_owner(turns: Iterable[Turn], thread: Thread) -> list[TurnView]:
    """Return the turns as their owner sees them on a page: a masked value the
    model named by its token reads as the value it stands for (unless the
    connection hides masked values from people too)."""
    connection = thread.db_connection
    policy = None if connection is None else PrivacyPolicy.for_connection(connection)
    views = []
    for turn in turns:
        view = TurnView.of(turn)
        if policy is not None and view.answer:
            rows = (view.result or {}).get("rows")
            view = dataclasses.replace(
                view, answer=policy.text_unmasked(view.answer, rows)
            )
        views.append(view)
    return views


# History pages: a long thread is paged, never one huge page.
HISTORY_THREADS_PER_PAGE = 50
HISTORY_TURNS_PER_PAGE = 20


@login_required
@require_http_methods(["GET", "POST"])
def chat(request: AuthenticatedHttpRequest) -> HttpResponse:
    form = AskForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            thread_ask(
                user=request.user,
                question=form.cleaned_data["question"],
                client_gone=ClientWatch(request.META),
            )
        except ApplicationError as exc:
            # The page equivalent of the API's exception handler: the failed turn
            # (if one was stored) shows below, and the question stays in the box.
            messages.error(request, exc.message)
        else:
            return redirect("chat")
    session = session_get_or_create_active(user=request.user)
    thread = thread_list_for_user(user=request.user).filter(id=session.id).first()
    suggestions: list[str] = []
    empty = thread is None or not getattr(thread, "turn_count", 0)
    if session.db_connection is not None and empty:
        try:
            suggestions = questions_suggest(
                user=request.user, connection=session.db_connection
            )
        except ApplicationError:
            suggestions = []  # the page still works; the schema panel says why
    # Two ids tell both whether there are connections and whether another one
    # can be switched to: one query instead of two.
    connection_ids = list(
        connection_list_for_user(user=request.user).values_list("pk", flat=True)[:2]
    )
    context = {
        "budget_note": budget_note(user=request.user, connection=session.db_connection),
        # Edit SQL is not offered to whom the connection's team refuses it.
        "read_only": session.db_connection is not None
        and not connection_allows(session.db_connection, ConnectionAccess.RUN_SQL),
        "can_propose": session.db_connection is None
        or connection_allows(session.db_connection, ConnectionAccess.PROPOSE),
        # Answers on a team connection can be shared with the team.
        "can_share": session.db_connection is not None
        and session.db_connection.team_id is not None,
        "suggested_questions": suggestions,
        "form": form,
        "session": session,
        "thread": thread,
        # The public view of each turn, as the API and MCP render it too.
        "turns": _views_for_owner(thread.turns.all(), thread) if thread else [],
        "connect_form": SessionConnectForm(
            user=request.user,
            initial={"connection": session.db_connection_id},
            exclude_connected=session.db_connection_id,
        ),
        "has_connections": bool(connection_ids),
        "can_switch": any(pk != session.db_connection_id for pk in connection_ids),
        # The conversation sidebar: threads by date, searchable by title.
        "thread_search": request.GET.get("q", "")[:200],
        "thread_groups": thread_groups_for_user(
            user=request.user, search=request.GET.get("q", "")[:200]
        ),
        "nav": "chat",
    }
    return render(request, "agent/chat.html", context)


@login_required
@require_GET
def history_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    threads = thread_list_for_user(user=request.user).select_related("db_connection")
    page = Paginator(threads, HISTORY_THREADS_PER_PAGE).get_page(
        request.GET.get("page")
    )
    session = session_get_or_create_active(user=request.user)
    context = {"threads": page, "page": page, "session": session, "nav": "history"}
    return render(request, "agent/history_list.html", context)


@login_required
@require_GET
def history_detail(
    request: AuthenticatedHttpRequest, thread_id: uuid.UUID
) -> HttpResponse:
    thread = thread_get_for_user(user=request.user, thread_id=thread_id)
    page = Paginator(thread.turns.all(), HISTORY_TURNS_PER_PAGE).get_page(
        request.GET.get("page")
    )
    session = session_get_or_create_active(user=request.user)
    connection = thread.db_connection
    context = {
        # A team viewer is offered no Save as example.
        "can_propose": connection is None
        or (
            connection_role_refresh(user=request.user, connection=connection)
            and connection_allows(connection, ConnectionAccess.PROPOSE)
        ),
        "thread": thread,
        "turns": _views_for_owner(page, thread),
        "page": page,
        "is_current": thread.id == session.id,
        "nav": "history",
    }
    return render(request, "agent/history_detail.html", context)


class RunSqlForm(forms.Form):
    """SQL the user edited, to run as a new turn."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["sql"] = forms.CharField(
            max_length=settings.SQL_MAX_LENGTH, strip=True
        )


@login_required
@require_POST
def chat_run_sql(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Run edited SQL as a new turn of the current thread; back to the chat."""
    form = RunSqlForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, f"SQL: {error}")
        return redirect("chat")
    before = turn_latest_for_user(user=request.user)
    try:
        turn = thread_run_sql(user=request.user, sql=form.cleaned_data["sql"])
    except ApplicationError as exc:
        messages.error(request, exc.message)
        failed = turn_latest_for_user(user=request.user)
        if failed is None or (before is not None and failed.id == before.id):
            return redirect("chat")  # refused before a turn was stored
        # The refused or failed turn is stored and shows its reason: the page
        # goes back to that turn, not to the top of the page.
        return redirect(f"{reverse('chat')}#turn-{failed.id}")
    return redirect(f"{reverse('chat')}#turn-{turn.id}")


@login_required
@require_GET
def turn_status(request: AuthenticatedHttpRequest, turn_id: int) -> JsonResponse:
    """Return a turn's status, for a page waiting on a turn still running."""
    turn = turn_get_for_user(user=request.user, turn_id=turn_id)
    return JsonResponse({"turn_id": turn.id, "status": turn.status})


@login_required
@require_GET
def turn_rows(request: AuthenticatedHttpRequest, turn_id: int) -> JsonResponse:
    """Return the rows stored with a turn, for paging and sorting in the page."""
    turn = turn_get_readable(user=request.user, turn_id=turn_id)
    if not turn.result:
        raise Http404("This turn has no result rows.")
    return JsonResponse(
        {
            "columns": turn.result.get("columns", []),
            "column_types": turn.result.get("column_types"),
            "rows": turn.result.get("rows", []),
            "row_count": turn.result.get("row_count"),
            "truncated": turn.result.get("truncated", False),
        }
    )


@login_required
@require_POST
def history_continue(
    request: AuthenticatedHttpRequest, thread_id: uuid.UUID
) -> HttpResponse:
    """Make this conversation the current one again and go on in the chat."""
    thread = thread_get_for_user(user=request.user, thread_id=thread_id)
    try:
        thread_continue(user=request.user, thread=thread)
    except ApplicationError as exc:
        messages.error(request, f"Could not continue this conversation: {exc.message}")
        return redirect("history-detail", thread_id=thread.id)
    messages.success(request, f"Continuing “{thread.title or 'this conversation'}”.")
    return redirect("chat")


@login_required
@require_POST
def history_rename(
    request: AuthenticatedHttpRequest, thread_id: uuid.UUID
) -> HttpResponse:
    thread = thread_get_for_user(user=request.user, thread_id=thread_id)
    try:
        thread_rename(thread=thread, title=request.POST.get("title", ""))
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Conversation renamed.")
    # The chat's sidebar renames in place and comes back to the chat.
    if request.POST.get("next") == "chat":
        return redirect("chat")
    return redirect("history-detail", thread_id=thread.id)


@login_required
@require_POST
def history_delete(
    request: AuthenticatedHttpRequest, thread_id: uuid.UUID
) -> HttpResponse:
    thread = thread_get_for_user(user=request.user, thread_id=thread_id)
    thread_delete(thread=thread)
    messages.success(request, "Conversation deleted.")
    return redirect("history-list")


def csv_cell(value: object) -> object:
    """Return a cell a spreadsheet shows as text, never runs as a formula."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


@login_required
@require_GET
def turn_csv(request: AuthenticatedHttpRequest, turn_id: int) -> HttpResponse:
    """Send the rows stored with the turn (what the user saw), not a re-run."""
    turn = turn_get_readable(user=request.user, turn_id=turn_id)
    if not turn.result or not turn.result.get("columns"):
        raise Http404("This turn has no result rows.")
    name = slugify(turn.question)[:40] or "result"
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="sqlagent-{name}-turn-{turn.id}.csv"'
    )
    writer = csv.writer(response)
    writer.writerow([csv_cell(column) for column in turn.result["columns"]])
    for row in turn.result.get("rows", []):
        writer.writerow([csv_cell(value) for value in row])
    return response


@login_required
@require_GET
def shared_turn(request: AuthenticatedHttpRequest, token: str) -> HttpResponse:
    """Show an answer shared with one of the user's teams, read-only."""
    share = shared_turn_get_for_user(user=request.user, token=token)
    context = {
        "share": share,
        "turn": TurnView.of(share.turn),
        "nav": "teams",
    }
    return render(request, "agent/shared_turn.html", context)
