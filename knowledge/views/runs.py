"""The evaluation runs of a connection, and each run's per-question diff."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render

from accounts.types import AuthenticatedHttpRequest
from connections.selectors import connection_get_for_user
from knowledge import evaluation, selectors


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
