"""Evaluation runs: each golden question through the same agent as /ask, scored by
execution accuracy (the generated SQL's rows against the gold SQL's rows).

Both SQLs run read-only and bounded; the rows are compared by knowledge/scoring.py.
A question the model or the database could not be asked is never scored: it is
retried, then counted as unanswered, outside the accuracy (knowledge/unasked.py).
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections import Counter

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from langchain_core.language_models import BaseChatModel

from agent.engines import SessionEngine
from agent.llm import system_prompt
from agent.orphans import worker_id
from agent.privacy import PrivacyPolicy
from agent.querying import catalog_get
from agent.tokens import schema_token_budget
from connections.engines import engine_create
from connections.models import DatabaseConnection
from knowledge import interrupted, unasked
from knowledge.golden_question import GoldenItem, question_score
from knowledge.models import (
    EvaluationResult,
    EvaluationRun,
    Example,
    GoldenSet,
    Outcome,
    RunStatus,
)
from knowledge.retrieval import examples_excluded
from knowledge.scoring import orders_at_top_level, rows_match, wilson_interval
from sqlagent_project.queue import QueueUnavailable, broker_configured, enqueue

__all__ = ["orders_at_top_level", "rows_match", "wilson_interval"]

logger = logging.getLogger("knowledge.evaluation")


def golden_items(
    *, connection: DatabaseConnection, set_name: str | None
) -> list[GoldenItem]:
    """Return the questions of a named golden set, or the verified examples."""
    if set_name:
        golden_set = GoldenSet.objects.get(connection=connection, name=set_name)
        return [GoldenItem(q.question, q.sql) for q in golden_set.questions.all()]
    return [
        GoldenItem(e.question, e.sql)
        for e in Example.objects.filter(connection=connection, verified=True)
    ]


def session_engine_for(connection: DatabaseConnection) -> SessionEngine:
    """Return a session engine of its own for a run (disposed by the caller)."""
    return SessionEngine(
        session_id=uuid.uuid4(),
        connection_id=connection.pk,
        connection_version=connection.updated_at,
        db_type=connection.db_type,
        engine=engine_create(connection, pooled=False),
        privacy=PrivacyPolicy.for_connection(connection),
    )


def run_start(
    *, connection: DatabaseConnection, set_name: str | None, limit: int | None = None
) -> EvaluationRun:
    """Create the run record (status running) with what it will be compared by."""
    items = golden_items(connection=connection, set_name=set_name)
    if limit is not None:
        items = items[:limit]
    return EvaluationRun.objects.create(
        connection=connection,
        set_name=set_name or "",
        total=len(items),
        model=settings.OPENAI_MODEL,
        settings={
            "OPENAI_MODEL": settings.OPENAI_MODEL,
            "LLM_TEMPERATURE": settings.LLM_TEMPERATURE,
            "AGENT_MAX_STEPS": settings.AGENT_MAX_STEPS,
            "LLM_CONTEXT_TOKENS": settings.LLM_CONTEXT_TOKENS,
            "LLM_MAX_TOKENS": settings.LLM_MAX_TOKENS,
            "LLM_ASK_BUDGET_S": settings.LLM_ASK_BUDGET_S,
            "schema_token_budget": schema_token_budget(),
            "KNOWLEDGE_TOP_K_EXAMPLES": settings.KNOWLEDGE_TOP_K_EXAMPLES,
            "KNOWLEDGE_TOP_K_INSTRUCTIONS": settings.KNOWLEDGE_TOP_K_INSTRUCTIONS,
            "QUERY_MAX_ROWS": settings.QUERY_MAX_ROWS,
            "limit": limit,
        },
    )


def run_execute(
    *, run: EvaluationRun, chat_model: BaseChatModel | None = None
) -> EvaluationRun:
    """Ask every question of the run not yet scored, score it, store the summary.

    Resumable and idempotent, so a second delivery of the same run (a worker
    killed mid-run) finishes it: a question with a stored result is not asked
    again, a result is stored once per position, and the counts are read back
    from the stored results, never incremented. A question that could not be
    asked is retried, then stored as unanswered: the run ends incomplete, its
    accuracy over the answered questions only.
    """
    in_process = not broker_configured()
    # Without a broker, one web process at a time runs it (knowledge/interrupted).
    if in_process and not interrupted.run_enter(run_id=run.pk):
        return run
    try:
        return _run_execute(run=run, chat_model=chat_model, in_process=in_process)
    finally:
        if in_process:
            interrupted.run_leave(run_id=run.pk)


def _run_execute(
    *, run: EvaluationRun, chat_model: BaseChatModel | None, in_process: bool
) -> EvaluationRun:
    connection = run.connection
    items = golden_items(connection=connection, set_name=run.set_name or None)
    items = items[: run.total]
    session_engine: SessionEngine | None = None
    try:
        # Inside the try: a connection the gate refuses (privileged role, target
        # policy) ends the run as failed with the reason, before any SQL runs.
        session_engine = session_engine_for(connection)
        catalog = catalog_get(session_engine)
        prompt = system_prompt(
            db_type=connection.db_type, catalog=catalog, privacy=catalog.privacy
        )
        run.prompt_version = hashlib.sha256(prompt.encode()).hexdigest()[:16]
        run.worker = worker_id() if in_process else ""
        run.save(update_fields=["prompt_version", "worker"])
        scored = set(run.results.values_list("position", flat=True))
        with examples_excluded([item.question for item in items]):
            for position, item in enumerate(items, start=1):
                if position in scored:
                    continue
                if unasked.process_ending() and not in_process:
                    # Nothing more can be asked here; the rest stay unanswered.
                    run.error = "Stopped: the process running it was shutting down."
                    break
                result = question_score(
                    run=run,
                    position=position,
                    item=item,
                    session_engine=session_engine,
                    chat_model=chat_model,
                )
                if in_process and unasked.process_ending():
                    # Neither asked nor unanswered: the next web process asks it.
                    interrupted.run_release(run_id=run.pk)
                    return run
                _result_store(result)
                _counts_refresh(run)
                if in_process and not interrupted.run_heartbeat(run_id=run.pk):
                    return run  # silent too long: another process took it over
    except Exception as exc:
        logger.exception("evaluation run %s failed", run.pk)
        run.status = RunStatus.FAILED
        run.error = str(exc)[:500]
    finally:
        if session_engine is not None:
            session_engine.engine.dispose()
    _counts_refresh(run, final=True)
    if run.status != RunStatus.FAILED:
        run.status = RunStatus.INCOMPLETE if run.unanswered else RunStatus.DONE
    run.finished_at = timezone.now()
    run.save()
    return run


def _result_store(result: EvaluationResult) -> None:
    """Store a result unless another delivery of the run stored this position."""
    try:
        with transaction.atomic():
            result.save()
    except IntegrityError:
        logger.info(
            "evaluation run %s question %s already scored",
            result.run_id,
            result.position,
        )


def _counts_refresh(run: EvaluationRun, *, final: bool = False) -> None:
    """Set done, correct, unanswered and accuracy from the stored results."""
    outcomes = Counter(run.results.values_list("outcome", flat=True))
    run.done = sum(outcomes.values())
    run.correct = outcomes[Outcome.CORRECT]
    answered = run.done - outcomes[Outcome.UNANSWERED]
    # At the end, questions never reached (a run stopped early) count as
    # unanswered too.
    run.unanswered = run.total - answered if final else outcomes[Outcome.UNANSWERED]
    run.accuracy = run.correct / answered if answered else None
    run.ci_low, run.ci_high = wilson_interval(run.correct, answered)
    run.save(
        update_fields=[
            "done",
            "correct",
            "unanswered",
            "accuracy",
            "ci_low",
            "ci_high",
        ]
    )


def run_in_background(*, run: EvaluationRun) -> None:
    """Put the run on the queue (a worker, or this process without a broker)."""
    from knowledge.tasks import evaluation_run

    if not broker_configured():
        interrupted.run_claim(run_id=run.pk, new=True)  # this process runs it
    try:
        enqueue(evaluation_run, run_id=run.pk)
    except QueueUnavailable as exc:
        # Never left "running" with nobody to run it.
        run.status, run.error = RunStatus.FAILED, exc.message
        run.finished_at = timezone.now()
        run.save(update_fields=["status", "error", "finished_at"])
        raise
