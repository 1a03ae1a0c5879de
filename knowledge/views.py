"""HTML pages: a connection's knowledge, its evaluation runs and each run's diff."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from accounts.types import AuthenticatedHttpRequest
from connections.selectors import connection_get_for_user
from knowledge import evaluation, selectors, services
from sqlagent_project.errors import ApplicationError


@login_required
@require_http_methods(["GET", "POST"])
def knowledge_page(request: AuthenticatedHttpRequest, db_id: int) -> HttpResponse:
    """Show and edit the connection's knowledge; start an evaluation run."""
    connection = connection_get_for_user(user=request.user, connection_id=db_id)
    if request.method == "POST":
        action = request.POST.get("action")
        try:
            if action == "instruction" and request.POST.get("text", "").strip():
                services.instruction_create(
                    connection=connection, text=request.POST["text"][:2000]
                )
            elif action == "example":
                services.example_create(
                    connection=connection,
                    question=request.POST.get("question", "")[:2000],
                    sql=request.POST.get("sql", "")[:20000],
                )
            elif action == "note" and request.POST.get("description", "").strip():
                services.note_upsert(
                    connection=connection,
                    table_name=request.POST.get("table_name", "")[:255],
                    column_name=request.POST.get("column_name", "")[:255],
                    description=request.POST["description"][:2000],
                )
            elif action == "evaluate":
                set_name = request.POST.get("set") or None
                run = evaluation.run_start(connection=connection, set_name=set_name)
                evaluation.run_in_background(run=run)
                return redirect("evaluation-run-page", db_id=db_id, run_id=run.pk)
        except ApplicationError as exc:
            messages.error(request, exc.message)
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
        ),
    }
    return render(request, "knowledge/knowledge.html", context)


@login_required
def runs_page(request: AuthenticatedHttpRequest, db_id: int) -> HttpResponse:
    connection = connection_get_for_user(user=request.user, connection_id=db_id)
    runs = selectors.run_list_for_user(user=request.user, connection_id=db_id)
    return render(
        request, "knowledge/runs.html", {"connection": connection, "runs": runs}
    )


@login_required
def run_page(
    request: AuthenticatedHttpRequest, db_id: int, run_id: int
) -> HttpResponse:
    connection = connection_get_for_user(user=request.user, connection_id=db_id)
    run = selectors.run_get_for_user(
        user=request.user, connection_id=db_id, run_id=run_id
    )
    context = {
        "connection": connection,
        "run": run,
        "previous": evaluation.previous_run(run),
        "results": run.results.all(),
    }
    return render(request, "knowledge/run.html", context)
