"""The evaluation runs of a connection, and each run's per-question diff."""

from __future__ import annotations

import json
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render

from accounts.types import AuthenticatedHttpRequest
from connections.selectors import connection_get_for_user
from knowledge import selectors
from knowledge.models import EvaluationResult

DIFF_ROWS_SHOWN = 20


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
        "previous": selectors.previous_run(run),
        "results": [_with_diff(result) for result in run.results.all()],
    }
    return render(request, "knowledge/run.html", context)


def _with_diff(result: EvaluationResult) -> EvaluationResult:
    """Mark each row shown as only in the gold rows or only in the returned
    ones, so a wrong answer shows where it differs."""
    gold = result.gold_rows or []
    returned = result.returned_rows or []
    gold_keys = {_row_key(row) for row in gold}
    returned_keys = {_row_key(row) for row in returned}
    result.gold_shown = [  # type: ignore[attr-defined]
        (row, _row_key(row) not in returned_keys) for row in gold[:DIFF_ROWS_SHOWN]
    ]
    result.returned_shown = [  # type: ignore[attr-defined]
        (row, _row_key(row) not in gold_keys) for row in returned[:DIFF_ROWS_SHOWN]
    ]
    return result


def _row_key(row: Any) -> str:
    return json.dumps(row, sort_keys=True, default=str)
