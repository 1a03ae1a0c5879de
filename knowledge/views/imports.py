"""Import a file of question/SQL pairs from the knowledge page."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from accounts.types import AuthenticatedHttpRequest
from connections.selectors import connection_get_for_user
from knowledge import imports, selectors
from knowledge.forms import ImportForm
from knowledge.views.page import errors_as_messages

# An import with more bad lines than this lists the first ones and counts the rest.
IMPORT_ERRORS_SHOWN = 100


@login_required
@require_http_methods(["GET", "POST"])
@errors_as_messages
def examples_import(request: AuthenticatedHttpRequest, db_id: int) -> HttpResponse:
    """Import a file of question/SQL pairs, then show what was and was not imported.

    The report is kept in the session and shown after a redirect, so reloading
    the page shows it again instead of uploading the file a second time.
    """
    connection = connection_get_for_user(user=request.user, connection_id=db_id)
    form = ImportForm()
    if request.method == "POST":
        form = ImportForm(request.POST, request.FILES)
        if form.is_valid():
            set_name = form.cleaned_data["set"]
            report = imports.examples_import_file(
                connection=connection,
                file=form.cleaned_data["file"],
                set_name=set_name or None,
            )
            request.session[_report_key(db_id)] = {
                "created": report.created,
                "errors": report.errors[:IMPORT_ERRORS_SHOWN],
                "errors_total": len(report.errors),
                "set_name": set_name,
            }
            return redirect("knowledge-import-page", db_id=db_id)
    shown = request.session.pop(_report_key(db_id), None)
    set_name = shown["set_name"] if shown else ""
    if request.method == "GET" and shown:
        # A fresh form for the next file, aimed at the same place.
        form = ImportForm(initial={"set": set_name})
    context = {
        "connection": connection,
        "form": form,
        "report": shown,
        "set_name": set_name,
        "errors_shown": shown["errors"] if shown else [],
        "errors_hidden": (
            max(shown["errors_total"] - IMPORT_ERRORS_SHOWN, 0) if shown else 0
        ),
        "golden_sets": selectors.golden_set_list_for_user(
            user=request.user, connection_id=db_id
        ),
        "nav": "connections",
    }
    return render(request, "knowledge/import.html", context)


def _report_key(db_id: int) -> str:
    return f"knowledge-import-report-{db_id}"
