"""Change, delete and check the knowledge page's items, one route per action."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_http_methods, require_POST

from accounts.types import AuthenticatedHttpRequest
from connections.backends import backend_for
from connections.models import DatabaseConnection
from connections.selectors import connection_get_for_user
from knowledge import selectors, services
from knowledge.forms import ExampleForm, InstructionForm, NoteForm
from knowledge.views.page import back_to_page, errors_as_messages


def _edit_page(
    request: AuthenticatedHttpRequest,
    *,
    connection: DatabaseConnection,
    form: Any,
    title: str,
    section: str,
) -> HttpResponse:
    context = {
        "connection": connection,
        "form": form,
        "title": title,
        "section": section,
        "nav": "connections",
    }
    return render(request, "knowledge/edit.html", context)


def _delete_after_confirm(
    request: AuthenticatedHttpRequest,
    *,
    connection: DatabaseConnection,
    delete: Callable[[], None],
    done: str,
    section: str,
    title: str,
    detail: str,
    consequence: str,
) -> HttpResponse:
    """Delete on POST and go back to the page's `section`; on GET, ask first."""
    if request.method == "POST":
        delete()
        messages.success(request, done)
        return back_to_page(connection.pk, section)
    context = {
        "connection": connection,
        "title": title,
        "detail": detail,
        "consequence": consequence,
        "section": section,
        "nav": "connections",
    }
    return render(request, "knowledge/confirm_delete.html", context)


# ---------------------------------------------------------------------------
# Instructions
# ---------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def instruction_edit(
    request: AuthenticatedHttpRequest, db_id: int, instruction_id: int
) -> HttpResponse:
    connection = connection_get_for_user(user=request.user, connection_id=db_id)
    instruction = selectors.instruction_get_for_user(
        user=request.user, connection_id=db_id, instruction_id=instruction_id
    )
    data = request.POST if request.method == "POST" else None
    form = InstructionForm(data, initial={"text": instruction.text})
    if form.is_valid():
        services.instruction_update(
            instruction=instruction, text=form.cleaned_data["text"]
        )
        messages.success(request, "Instruction saved.")
        return back_to_page(db_id, "instructions")
    return _edit_page(
        request,
        connection=connection,
        form=form,
        title="Edit instruction",
        section="instructions",
    )


@login_required
@require_http_methods(["GET", "POST"])
def instruction_delete(
    request: AuthenticatedHttpRequest, db_id: int, instruction_id: int
) -> HttpResponse:
    connection = connection_get_for_user(user=request.user, connection_id=db_id)
    instruction = selectors.instruction_get_for_user(
        user=request.user, connection_id=db_id, instruction_id=instruction_id
    )
    return _delete_after_confirm(
        request,
        connection=connection,
        delete=lambda: services.instruction_delete(instruction=instruction),
        done="Instruction deleted.",
        title="Delete this instruction?",
        detail=instruction.text,
        consequence="The model no longer sees it.",
        section="instructions",
    )


# ---------------------------------------------------------------------------
# Verified examples
# ---------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def example_edit(
    request: AuthenticatedHttpRequest, db_id: int, example_id: int
) -> HttpResponse:
    connection = connection_get_for_user(user=request.user, connection_id=db_id)
    example = selectors.example_get_for_user(
        user=request.user, connection_id=db_id, example_id=example_id
    )
    data = request.POST if request.method == "POST" else None
    form = ExampleForm(data, connection=connection, instance=example)
    if form.is_valid():
        services.example_update(example=example, **form.cleaned_data)
        messages.success(request, f"Example “{example}” saved.")
        return back_to_page(db_id, f"example-{example.pk}")
    return _edit_page(
        request,
        connection=connection,
        form=form,
        title="Edit verified example",
        section="examples",
    )


@login_required
@require_http_methods(["GET", "POST"])
def example_delete(
    request: AuthenticatedHttpRequest, db_id: int, example_id: int
) -> HttpResponse:
    connection = connection_get_for_user(user=request.user, connection_id=db_id)
    example = selectors.example_get_for_user(
        user=request.user, connection_id=db_id, example_id=example_id
    )
    return _delete_after_confirm(
        request,
        connection=connection,
        delete=lambda: services.example_delete(example=example),
        done=f"Example “{example}” deleted.",
        title="Delete this verified example?",
        detail=f"{example.question}\n{example.sql}",
        consequence="It is no longer shown to the model for similar questions, "
        "nor evaluated.",
        section="examples",
    )


@login_required
@require_POST
@errors_as_messages
def example_check(
    request: AuthenticatedHttpRequest, db_id: int, example_id: int
) -> HttpResponse:
    """Re-run the example on today's schema and say whether it still works."""
    connection_get_for_user(user=request.user, connection_id=db_id)
    example = selectors.example_get_for_user(
        user=request.user, connection_id=db_id, example_id=example_id
    )
    example = services.example_check(example=example)
    if example.last_check_ok:
        messages.success(request, f"“{example}” works on the database today.")
    else:
        messages.error(request, f"“{example}” fails: {example.last_check_error}")
    return back_to_page(db_id, f"example-{example.pk}")


@login_required
@require_POST
def example_verify(
    request: AuthenticatedHttpRequest, db_id: int, example_id: int
) -> HttpResponse:
    """Verify an example a team analyst proposed: from now on it is used."""
    connection_get_for_user(user=request.user, connection_id=db_id)
    example = selectors.example_get_for_user(
        user=request.user, connection_id=db_id, example_id=example_id
    )
    services.example_update(example=example, verified=True)
    messages.success(request, f"“{example}” verified: it is used from now on.")
    return back_to_page(db_id, f"example-{example.pk}")


# ---------------------------------------------------------------------------
# Descriptions
# ---------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def note_edit(
    request: AuthenticatedHttpRequest, db_id: int, note_id: int
) -> HttpResponse:
    connection = connection_get_for_user(user=request.user, connection_id=db_id)
    note = selectors.note_get_for_user(
        user=request.user, connection_id=db_id, note_id=note_id
    )
    data = request.POST if request.method == "POST" else None
    form = NoteForm(
        data,
        instance=note,
        siblings=selectors.note_list_for_user(user=request.user, connection_id=db_id),
    )
    if form.is_valid():
        services.note_update(note=note, **form.cleaned_data)
        messages.success(request, f"Description of “{note}” saved.")
        return back_to_page(db_id, "notes")
    return _edit_page(
        request,
        connection=connection,
        form=form,
        title=f"Edit the description of {note}",
        section="notes",
    )


@login_required
@require_http_methods(["GET", "POST"])
def note_delete(
    request: AuthenticatedHttpRequest, db_id: int, note_id: int
) -> HttpResponse:
    connection = connection_get_for_user(user=request.user, connection_id=db_id)
    note = selectors.note_get_for_user(
        user=request.user, connection_id=db_id, note_id=note_id
    )
    return _delete_after_confirm(
        request,
        connection=connection,
        delete=lambda: services.note_delete(note=note),
        done=f"Description of “{note}” deleted.",
        title=f"Delete the description of {note}?",
        detail=note.description,
        consequence="The model no longer sees it.",
        section="notes",
    )


@login_required
@require_POST
@errors_as_messages
def notes_prefill(request: AuthenticatedHttpRequest, db_id: int) -> HttpResponse:
    """Copy the database's own comments into descriptions not yet written."""
    connection = connection_get_for_user(user=request.user, connection_id=db_id)
    added = services.notes_prefill_requested(connection=connection)
    if added is None:
        messages.info(
            request,
            "Reading the database's comments in the background: the descriptions "
            "appear here when it is done.",
        )
    elif added:
        messages.success(
            request, f"Added {added} description(s) from the database's comments."
        )
    elif not (backend := backend_for(connection.db_type)).schema_comments:
        messages.info(request, f"{backend.label} keeps no comments: nothing to add.")
    else:
        messages.info(
            request,
            "Added no descriptions: the database has no comments on tables or "
            "columns that are not described already.",
        )
    return back_to_page(db_id, "notes")


# ---------------------------------------------------------------------------
# Golden sets
# ---------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def golden_set_delete(
    request: AuthenticatedHttpRequest, db_id: int, set_id: int
) -> HttpResponse:
    connection = connection_get_for_user(user=request.user, connection_id=db_id)
    golden_set = selectors.golden_set_get_for_user(
        user=request.user, connection_id=db_id, golden_set_id=set_id
    )
    return _delete_after_confirm(
        request,
        connection=connection,
        delete=lambda: services.golden_set_delete(golden_set=golden_set),
        done=f"Golden set “{golden_set}” deleted.",
        title=f"Delete the golden set “{golden_set}”?",
        detail=f"{golden_set.item_count} question(s)",  # type: ignore[attr-defined]
        consequence="Its questions are deleted with it; past evaluation runs on it "
        "keep their results.",
        section="golden-sets",
    )


@login_required
@require_http_methods(["GET", "POST"])
def golden_question_edit(
    request: AuthenticatedHttpRequest, db_id: int, question_id: int
) -> HttpResponse:
    connection = connection_get_for_user(user=request.user, connection_id=db_id)
    item = selectors.golden_question_get_for_user(
        user=request.user, connection_id=db_id, question_id=question_id
    )
    data = request.POST if request.method == "POST" else None
    initial = {
        "question": item.question,
        "sql": item.sql,
        "instructions": item.instructions,
    }
    form = ExampleForm(data, connection=connection, initial=initial)
    if form.is_valid():
        services.golden_question_update(item=item, **form.cleaned_data)
        messages.success(request, "Golden question saved.")
        return back_to_page(db_id, f"golden-set-{item.golden_set_id}")
    return _edit_page(
        request,
        connection=connection,
        form=form,
        title="Edit golden question",
        section=f"golden-set-{item.golden_set_id}",
    )
