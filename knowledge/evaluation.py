"""Evaluation runs: each golden question through the same agent as /ask, scored by
execution accuracy (the generated SQL's rows against the gold SQL's rows).

Scoring rules: both SQLs run read-only and bounded; rows compared as a multiset
unless the gold SQL orders at top level; column order and names ignored (each row
is compared as the multiset of its cells); numbers equal within a relative
tolerance of about 1e-6 (3 == 3.0 == Decimal("3.00")).
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlglot
from django.conf import settings
from django.db import close_old_connections
from django.db import connection as db_connection
from django.utils import timezone
from langchain_core.language_models import BaseChatModel

from agent import sql_guard
from agent.engines import SessionEngine
from agent.llm import agent_answer, catalog_get, system_prompt
from agent.privacy import PrivacyPolicy
from agent.tokens import schema_token_budget
from connections.engines import engine_create
from connections.models import DatabaseConnection
from knowledge.linking import result_linking_record
from knowledge.models import (
    EvaluationResult,
    EvaluationRun,
    Example,
    GoldenSet,
    Outcome,
    RunStatus,
)
from knowledge.retrieval import examples_excluded
from knowledge.services import sql_run_on
from sqlagent_project.errors import ApplicationError

logger = logging.getLogger("knowledge.evaluation")

# Rows kept on a result to show the diff (the comparison uses all of them).
STORED_ROWS = 50
_executor: ThreadPoolExecutor | None = None


@dataclass(frozen=True)
class GoldenItem:
    question: str
    sql: str


def wilson_interval(correct: int, total: int, z: float = 1.96) -> tuple[float, float]:
    """Return the 95% Wilson score interval of correct/total."""
    if total == 0:
        return 0.0, 0.0
    p = correct / total
    denominator = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denominator
    half = (
        z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denominator
    )
    return max(0.0, centre - half), min(1.0, centre + half)


def _cell_key(value: Any) -> tuple[int, str]:
    """Return a comparable key; numbers within ~1e-6 relative give the same key."""
    if isinstance(value, bool):
        value = int(value)
    if isinstance(value, int | float | Decimal):
        number = float(value)
        if math.isnan(number):
            return (1, "nan")
        return (1, "0" if number == 0 else f"{number:.6g}")
    if value is None:
        return (0, "")
    if isinstance(value, datetime | date):
        return (2, value.isoformat())
    if isinstance(value, str):
        try:
            return _cell_key(Decimal(value.strip())) if value.strip() else (2, value)
        except ArithmeticError:
            return (2, value)
    return (2, str(value))


def _row_key(row: list[Any]) -> tuple[tuple[int, str], ...]:
    return tuple(sorted(_cell_key(cell) for cell in row))


def orders_at_top_level(sql: str, *, db_type: str) -> bool:
    """Return whether the statement's outermost query has an ORDER BY.

    Read in the engine's own dialect (its backend's); an engine without one is
    refused (StatementRefused), never read as another engine's SQL.
    """
    dialect = sql_guard.dialect_for(db_type).sqlglot
    try:
        tree = sqlglot.parse_one(sql, read=dialect)
    except sqlglot.errors.ParseError:
        return False
    return tree.args.get("order") is not None


def rows_match(
    gold: list[list[Any]], returned: list[list[Any]], *, ordered: bool
) -> bool:
    """Return whether two results hold the same rows (see the module's rules)."""
    gold_keys = [_row_key(r) for r in gold]
    returned_keys = [_row_key(r) for r in returned]
    if ordered:
        return gold_keys == returned_keys
    return Counter(gold_keys) == Counter(returned_keys)


def golden_items(
    *, connection: DatabaseConnection, set_name: str | None
) -> list[GoldenItem]:
    """Return the questions of a named golden set, or the verified examples."""
    if set_name:
        golden_set = GoldenSet.objects.get(connection=connection, name=set_name)
        return [GoldenItem(q.question, q.sql) for q in golden_set.questions.all()]
    return [
        GoldenItem(e.question, e.sql)
        for e in Example.objects.filter(connection=connection)
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
    """Ask every question of the run's set, score it, and store the summary."""
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
        run.save(update_fields=["prompt_version"])
        with examples_excluded([item.question for item in items]):
            for position, item in enumerate(items, start=1):
                result = _score_one(
                    run=run,
                    position=position,
                    item=item,
                    session_engine=session_engine,
                    chat_model=chat_model,
                )
                run.done = position
                run.correct += result.outcome == Outcome.CORRECT
                run.save(update_fields=["done", "correct"])
    except Exception as exc:
        logger.exception("evaluation run %s failed", run.pk)
        run.status = RunStatus.FAILED
        run.error = str(exc)[:500]
    else:
        run.status = RunStatus.DONE
    finally:
        if session_engine is not None:
            session_engine.engine.dispose()
    run.accuracy = run.correct / run.total if run.total else None
    run.ci_low, run.ci_high = wilson_interval(run.correct, run.total)
    run.finished_at = timezone.now()
    run.save()
    return run


def _score_one(
    *,
    run: EvaluationRun,
    position: int,
    item: GoldenItem,
    session_engine: SessionEngine,
    chat_model: BaseChatModel | None,
) -> EvaluationResult:
    result = EvaluationResult(
        run=run, position=position, question=item.question, gold_sql=item.sql
    )
    started = time.perf_counter()
    gold_rows: list[list[Any]] | None = None
    try:
        gold = _sql_run(session_engine, item.sql)
        gold_rows = gold.rows
        result.gold_rows = _rows_for_user(session_engine, item.sql, gold)
    except (sql_guard.QueryFailed, sql_guard.StatementRefused) as exc:
        result.error = "gold SQL: " + _error_for_user(session_engine, item.sql, exc)
    try:
        outcome = agent_answer(
            session_engine=session_engine, question=item.question, chat_model=chat_model
        )
    except ApplicationError as exc:
        partial = getattr(exc, "partial", None)
        result.outcome = Outcome.LLM_ERROR
        result.error = exc.message
        if partial is not None:
            _usage(result, partial)
            result.generated_sql = _last_sql(partial.queries) or ""
    except Exception as exc:
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
    result.save()
    return result


def _usage(result: EvaluationResult, outcome: Any) -> None:
    result.prompt_tokens = outcome.prompt_tokens
    result.completion_tokens = outcome.completion_tokens


def _last_sql(queries: list[dict[str, Any]], *, ok: bool = True) -> str | None:
    for query in reversed(queries):
        if query.get("sql") and (not ok or not query.get("error")):
            return query["sql"]
    return None


def _sql_run(session_engine: SessionEngine, sql: str) -> sql_guard.QueryResult:
    """Run gold or model SQL on the run's own engine and catalog (one of each
    per run, not per query)."""
    return sql_run_on(
        session_engine.engine,
        db_type=session_engine.db_type,
        catalog=catalog_get(session_engine),
        sql=sql,
    )


def _rows_for_user(
    session_engine: SessionEngine, sql: str, result: sql_guard.QueryResult
) -> list[list[Any]]:
    """Return the rows to store for the user: tokens for masked values when the
    connection hides them from its users, as /ask/sql shows them."""
    policy = session_engine.privacy_policy()
    if policy.masked_hidden:
        exposure = policy.exposure(
            sql=sql,
            db_type=session_engine.db_type,
            catalog=catalog_get(session_engine),
            column_count=len(result.columns),
        )
        result = policy.result_for_user(result, exposure)
    return result.rows[:STORED_ROWS]


def _error_for_user(session_engine: SessionEngine, sql: str, exc: Exception) -> str:
    """Return a failed query's reason as the user may read it (only the error's
    code and class when masked values are hidden and the query reads one)."""
    if not isinstance(exc, sql_guard.QueryFailed):
        return getattr(exc, "reason", str(exc))
    policy = session_engine.privacy_policy()
    if not policy.masked_hidden:
        return exc.message
    exposure = policy.exposure(
        sql=sql, db_type=session_engine.db_type, catalog=catalog_get(session_engine)
    )
    return policy.error_for_user(exc, exposure)


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
        answered = _sql_run(session_engine, sql)
    except (sql_guard.QueryFailed, sql_guard.StatementRefused) as exc:
        result.outcome = Outcome.SQL_ERROR
        result.error = _error_for_user(session_engine, sql, exc)
        return
    returned = answered.rows
    result.returned_rows = _rows_for_user(session_engine, sql, answered)
    if gold_rows is None:
        result.outcome = Outcome.GOLD_ERROR
        return
    ordered = orders_at_top_level(item.sql, db_type=connection.db_type)
    result.outcome = (
        Outcome.CORRECT
        if rows_match(gold_rows, returned, ordered=ordered)
        else Outcome.WRONG_ROWS
    )


def previous_run(run: EvaluationRun) -> EvaluationRun | None:
    """Return the last finished run on the same set before this one."""
    return (
        EvaluationRun.objects.filter(
            connection_id=run.connection_id,
            set_name=run.set_name,
            status=RunStatus.DONE,
            pk__lt=run.pk,
        )
        .order_by("-pk")
        .first()
    )


def run_in_background(*, run: EvaluationRun) -> None:
    """Execute the run on the process's evaluation thread pool."""
    global _executor
    if _executor is None:
        _executor = ThreadPoolExecutor(
            max_workers=settings.EVALUATION_WORKERS, thread_name_prefix="evaluation"
        )
    _executor.submit(_background, run.pk)


def _background(run_id: int) -> None:
    close_old_connections()
    try:
        run = EvaluationRun.objects.select_related("connection").get(pk=run_id)
        run_execute(run=run)
    finally:
        # This pool thread's own app-database connection: hand it back now.
        db_connection.close()
