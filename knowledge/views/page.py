"""The knowledge page, and how every action on it comes back to it."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from accounts.types import AuthenticatedHttpRequest
from connections.models import DatabaseConnection
from connections.selectors import connection_get_for_user
from knowledge import evaluation, selectors, services, values
from knowledge.forms import ExampleForm, ImportForm, InstructionForm
from sqlagent_project.errors import ApplicationError

View = Callable[..., HttpResponse]


def errors_as_messages(view: View) -> View:
    """Show a domain error as a message on the knowledge page, never as a 500.

    The pages' counterpart of the API's exception handler: a database that
    cannot be reached or a file that cannot be read is for the user to fix.
    Only a POST is answered so: a page that cannot be shown must not redirect
    to itself.
    """

    @functools.wraps(view)
    def wrapped(request: AuthenticatedHttpRequest, db_id: int, **kwargs: Any) -> Any:
        try:
            return view(request, db_id, **kwargs)
        except ApplicationError as exc:
            # A refusal by role (a team member who is not its admin) is a 403.
            if request.method != "POST" or isinstance(exc, PermissionDenied):
                raise
            messages.error(request, exc.message)
            return redirect("knowledge-page", db_id=db_id)

    return wrapped


def back_to_page(db_id: int, section: str) -> HttpResponse:
    """Redirect to the knowledge page, scrolled to what was just changed."""
    return redirect(reverse("knowledge-page", args=[db_id]) + f"#{section}")


class NoteAddForm(forms.Form):
    """Describe a table or column (replacing its earlier description)."""

    table_name = forms.CharField(max_length=255)
    column_name = forms.CharField(max_length=255, required=False)
    description = forms.CharField(max_length=2000)


ADD_FORMS: dict[str, Callable[..., forms.Form]] = {
    "instruction": lambda data, connection: InstructionForm(data),
    "example": lambda data, connection: ExampleForm(data, connection=connection),
    "note": lambda data, connection: NoteAddForm(data),
}


_DRAFT = "knowledge.draft"
_DRAFT_FIELDS = ("text", "question", "sql", "table_name", "column_name", "description")


def _draft_of(request: AuthenticatedHttpRequest, action: str) -> dict[str, str]:
    """Return what the user typed into an add form, to show it again."""
    return {
        "action": action,
        **{name: request.POST.get(name, "")[:10_000] for name in _DRAFT_FIELDS},
    }


def _add(
    request: AuthenticatedHttpRequest, connection: DatabaseConnection, action: str
) -> bool:
    """Add what the form describes, or say why not (nothing is cut to fit)."""
    form = ADD_FORMS[action](request.POST, connection)
    if not form.is_valid():
        for field, errors in form.errors.items():
            label = form.fields[field].label or field if field in form.fields else ""
            for error in errors:
                messages.error(request, f"{label}: {error}" if label else str(error))
        return False
    data = form.cleaned_data
    if action == "instruction":
        services.instruction_create(connection=connection, text=data["text"])
    elif action == "example":
        services.example_create(
            connection=connection,
            question=data["question"],
            sql=data["sql"],
            instructions=data["instructions"],
        )
    else:
        services.note_upsert(
            connection=connection,
            table_name=data["table_name"],
            column_name=data["column_name"],
            description=data["description"],
        )
    return True


@login_required
@require_http_methods(["GET", "POST"])
@errors_as_messages
def knowledge_page(request: AuthenticatedHttpRequest, db_id: int) -> HttpResponse:
    """Show and add to the connection's knowledge; start an evaluation run."""
    connection = connection_get_for_user(user=request.user, connection_id=db_id)
    if request.method == "POST":
        action = request.POST.get("action")
        if action in ADD_FORMS:
            # What was typed comes back in its form if the add is refused
            # (here or by a domain error the decorator turns into a message).
            request.session[_DRAFT] = _draft_of(request, action)
            if _add(request, connection, action):
                request.session.pop(_DRAFT, None)
            return redirect("knowledge-page", db_id=db_id)
        if action == "values":
            values.value_index_build_in_background(connection_id=connection.pk)
            messages.info(
                request, "The value index is being rebuilt in the background."
            )
            return back_to_page(db_id, "values")
        if action == "evaluate":
            set_name = request.POST.get("set") or None
            run = evaluation.run_start(connection=connection, set_name=set_name)
            evaluation.run_in_background(run=run)
            return redirect("evaluation-run-page", db_id=db_id, run_id=run.pk)
        return redirect("knowledge-page", db_id=db_id)
    user = request.user
    context = {
        "connection": connection,
        "notes": selectors.note_list_for_user(user=user, connection_id=db_id),
        "instructions": selectors.instruction_list_for_user(
            user=user, connection_id=db_id
        ),
        "examples": selectors.example_list_for_user(user=user, connection_id=db_id),
        "golden_sets": selectors.golden_set_list_for_user(
            user=user, connection_id=db_id
        ).prefetch_related("questions"),
        "import_form": ImportForm(),
        "value_index": values.value_index_summary(connection=connection),
        "draft": request.session.pop(_DRAFT, None),
        "nav": "connections",
    }
    return render(request, "knowledge/knowledge.html", context)
