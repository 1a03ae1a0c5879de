"""Knowledge work on the queue: evaluation runs, the prefill of descriptions and
the value index.

All are idempotent, so a second delivery (a worker killed mid-task; tasks are
acknowledged late) is harmless: a run resumes where its stored results stop and
is never counted twice; a prefill adds only descriptions not yet written.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task

from connections.models import DatabaseConnection
from knowledge import evaluation, services, values
from knowledge.models import EvaluationRun, RunStatus

logger = logging.getLogger(__name__)


@shared_task(name="knowledge.evaluation_run", acks_late=True)
def evaluation_run(*, run_id: int) -> dict[str, Any]:
    """Run (or resume) an evaluation run still marked running."""
    run = EvaluationRun.objects.select_related("connection").filter(pk=run_id).first()
    if run is None or run.status != RunStatus.RUNNING:
        # Deleted, or finished by an earlier delivery: nothing to do.
        return {"run_id": run_id, "skipped": True}
    run = evaluation.run_execute(run=run)
    return {
        "run_id": run.pk,
        "status": run.status,
        "done": run.done,
        "correct": run.correct,
        "unanswered": run.unanswered,
    }


@shared_task(name="knowledge.notes_prefill", acks_late=True)
def notes_prefill(*, connection_id: int) -> dict[str, Any]:
    """Copy the database's own comments into descriptions not yet written."""
    connection = DatabaseConnection.objects.filter(pk=connection_id).first()
    if connection is None:
        return {"connection_id": connection_id, "skipped": True}
    added = services.notes_prefill(connection=connection)
    return {"connection_id": connection_id, "added": added}


@shared_task(name="knowledge.value_index_build", acks_late=True)
def value_index_build(*, connection_id: int) -> dict[str, Any]:
    """(Re)build the connection's value index; a second delivery builds it again."""
    connection = DatabaseConnection.objects.filter(pk=connection_id).first()
    if connection is None:
        return {"connection_id": connection_id, "skipped": True}
    values.value_index_build(connection=connection)
    return {"connection_id": connection_id}
