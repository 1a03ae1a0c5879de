"""One golden question of an evaluation run: asked through the same agent as
/ask, its SQL and the gold SQL run read-only and bounded, the outcome classified.

A question the model or the database could not be asked is retried, then
returned as unanswered, never as wrong (knowledge/unasked.py).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from langchain_core.language_models import BaseChatModel

from agent import sql_guard
from agent.engines import SessionEngine
from agent.llm import agent_answer
from knowledge import unasked
from knowledge.linking import result_linking_record
from knowledge.models import EvaluationResult, EvaluationRun, Outcome
from knowledge.run_queries import error_for_user, rows_for_user, run_sql
from knowledge.scoring import orders_at_top_level, rows_match
from sqlagent_project.errors import ApplicationError

logger = logging.getLogger("knowledge.evaluation")


@dataclass(frozen=True)
class GoldenItem:
    """A question of a golden set and the SQL that answers it."""

    question: str
    sql: str


def question_score(
    *,
    run: EvaluationRun,
    position: int,
    item: GoldenItem,
    session_engine: SessionEngine,
    chat_model: BaseChatModel | None,
) -> EvaluationResult:
    """Score one question; one that could not be asked is retried with back-off,
    then returned as unanswered (never wrong)."""
    delay = settings.EVALUATION_RETRY_DELAY_S
    for attempt in range(settings.EVALUATION_QUESTION_RETRIES + 1):
        try:
            return _score_one(
                run=run,
                position=position,
                item=item,
                session_engine=session_engine,
                chat_model=chat_model,
            )
        except unasked.NotAsked as exc:
            reason = exc.reason
            logger.warning(
                "evaluation run %s question %s not asked (attempt %d): %s",
                run.pk,
                position,
                attempt + 1,
                reason,
            )
            if unasked.process_ending():
                break
            if attempt < settings.EVALUATION_QUESTION_RETRIES:
                time.sleep(delay)
                delay *= 2
    return EvaluationResult(
        run=run,
        position=position,
        question=item.question,
        gold_sql=item.sql,
        outcome=Outcome.UNANSWERED,
        error=reason[:500],
    )


def _score_one(
    *,
    run: EvaluationRun,
    position: int,
    item: GoldenItem,
    session_engine: SessionEngine,
    chat_model: BaseChatModel | None,
) -> EvaluationResult:
    """Ask and score one question; raise NotAsked when the model or the database
    could not be reached (nothing about the answer is known then)."""
    result = EvaluationResult(
        run=run, position=position, question=item.question, gold_sql=item.sql
    )
    started = time.perf_counter()
    gold_rows: list[list[Any]] | None = None
    try:
        gold = run_sql(session_engine, item.sql)
        gold_rows = gold.rows
        result.gold_rows = rows_for_user(session_engine, item.sql, gold)
    except (sql_guard.QueryFailed, sql_guard.StatementRefused) as exc:
        unasked.raise_if_unreachable(exc)
        result.error = "gold SQL: " + error_for_user(session_engine, item.sql, exc)
    except ApplicationError as exc:
        unasked.raise_if_unreachable(exc)
        raise
    try:
        outcome = agent_answer(
            session_engine=session_engine, question=item.question, chat_model=chat_model
        )
    except ApplicationError as exc:
        unasked.raise_if_unreachable(exc)
        partial = getattr(exc, "partial", None)
        result.outcome = Outcome.LLM_ERROR
        result.error = exc.message
        if partial is not None:
            _usage(result, partial)
            result.generated_sql = _last_sql(partial.queries) or ""
    except Exception as exc:
        unasked.raise_if_unreachable(exc)
        # One question's unexpected failure must not end the whole run.
        logger.exception("evaluation question %s failed", position)
        result.outcome = Outcome.LLM_ERROR
        result.error = f"{type(exc).__name__}: {exc}"[:500]
    else:
        _usage(result, outcome)
        result_linking_record(
            result,
            sql=item.sql,
            session_engine=session_engine,
            described=outcome.described_tables,
        )
        result.answer = outcome.answer
        if outcome.model and outcome.model != run.model:
            # The server's own name for the model it ran (gateways alias).
            run.model = outcome.model
            run.save(update_fields=["model"])
        _classify(result, outcome.queries, gold_rows, session_engine, item)
    result.duration_ms = round((time.perf_counter() - started) * 1000, 1)
    if gold_rows is None and result.outcome == Outcome.CORRECT:
        result.outcome = Outcome.GOLD_ERROR
    return result


def _usage(result: EvaluationResult, outcome: Any) -> None:
    result.prompt_tokens = outcome.prompt_tokens
    result.completion_tokens = outcome.completion_tokens


def _last_sql(queries: list[dict[str, Any]], *, ok: bool = True) -> str | None:
    for query in reversed(queries):
        if query.get("sql") and (not ok or not query.get("error")):
            return query["sql"]
    return None


def _classify(
    result: EvaluationResult,
    queries: list[dict[str, Any]],
    gold_rows: list[list[Any]] | None,
    session_engine: SessionEngine,
    item: GoldenItem,
) -> None:
    sql = _last_sql(queries)
    if sql is None:
        failed = _last_sql(queries, ok=False)
        result.generated_sql = failed or ""
        if failed is None:
            result.outcome = Outcome.UNGROUNDED
            return
        error = str(next(q.get("error") for q in reversed(queries) if q.get("error")))
        result.error = error
        result.outcome = (
            Outcome.REFUSED if "refused" in error.lower() else Outcome.SQL_ERROR
        )
        return
    result.generated_sql = sql
    connection = result.run.connection
    try:
        answered = run_sql(session_engine, sql)
    except (sql_guard.QueryFailed, sql_guard.StatementRefused) as exc:
        unasked.raise_if_unreachable(exc)
        result.outcome = Outcome.SQL_ERROR
        result.error = error_for_user(session_engine, sql, exc)
        return
    returned = answered.rows
    result.returned_rows = rows_for_user(session_engine, sql, answered)
    if gold_rows is None:
        result.outcome = Outcome.GOLD_ERROR
        return
    ordered = orders_at_top_level(item.sql, db_type=connection.db_type)
    result.outcome = (
        Outcome.CORRECT
        if rows_match(gold_rows, returned, ordered=ordered)
        else Outcome.WRONG_ROWS
    )
