"""SQL the user wrote, run through the agent's guarded path and kept as a turn."""

from __future__ import annotations

import logging
import time

from django.conf import settings

from accounts.models import User
from agent import llm, sql_guard
from agent.charts import chart_for
from agent.engines import engine_cache
from agent.exceptions import (
    AskFailed,
    SqlFailed,
    SqlInvalid,
    SqlRefused,
    SqlTimedOut,
)
from agent.llm.tools import ToolContext
from agent.models import Turn, TurnOutcome, TurnSource, TurnStatus
from agent.orphans import worker_id
from agent.services import (
    connected_session,
    engine_dropped_if_session_closes,
    text_checked,
)
from agent.threads import thread_prepare
from connections.exceptions import TargetDatabaseUnavailable
from connections.selectors import ConnectionAccess
from connections.target_policy import TargetRefused
from sqlagent_project.errors import ApplicationError

logger = logging.getLogger(__name__)


def thread_run_sql(*, user: User, sql: str) -> Turn:
    """Run SQL the user wrote through exactly the agent's guarded path (statement
    check, read-only transaction, timeout, caps), with no LLM call, and store it
    as a turn of the thread marked as user SQL, failed or not.
    """
    sql = text_checked(
        sql, what="SQL", limit=settings.SQL_MAX_LENGTH, invalid=SqlInvalid
    )
    session = connected_session(user=user, need=ConnectionAccess.RUN_SQL)
    thread_prepare(session=session, question=f"SQL: {sql}")
    turn = Turn.objects.create(
        thread_id=session.pk,
        question=sql,
        source=TurnSource.SQL,
        status=TurnStatus.RUNNING,
        worker=worker_id(),
    )
    started = time.perf_counter()
    context: ToolContext | None = None
    try:
        with engine_dropped_if_session_closes(session.pk):
            try:
                session_engine = engine_cache.get(session)
            except TargetRefused as exc:
                raise TargetDatabaseUnavailable(str(exc)) from exc
            context = ToolContext(
                engine=session_engine.engine,
                db_type=session_engine.db_type,
                catalog=llm.catalog_get(session_engine),
            )
            try:
                result = context.query(sql)
            except sql_guard.StatementRefused as exc:
                raise SqlRefused(exc.reason) from exc
            except sql_guard.QueryFailed as exc:
                if exc.timed_out:
                    raise SqlTimedOut(exc.message) from exc
                # The database's text may quote a value the user may not see.
                shown = context.policy.error_for_user(exc, context.exposure(sql))
                raise SqlFailed(shown) from exc
    except ApplicationError as exc:
        ran = context.queries if context is not None else []
        partial = TurnOutcome(queries=[q.as_dict() for q in ran])
        turn.finish(started=started, outcome=partial, error=exc)
        logger.info("sql run failed turn=%s code=%s", turn.pk, exc.code)
        raise
    except Exception as exc:
        failed = AskFailed()
        logger.exception("sql run failed unexpectedly turn=%s", turn.pk)
        turn.finish(started=started, error=failed)
        raise failed from exc
    # What the user may get: masked values as tokens when the connection hides them.
    stored = llm.result_as_dict(context.last_result or result)
    outcome = TurnOutcome(
        answer=f"{result.row_count} row(s)"
        + (" (more exist: the result was capped)." if result.truncated else "."),
        queries=[q.as_dict() for q in context.queries],
        result=stored,
        chart=chart_for(stored),
    )
    turn.finish(started=started, outcome=outcome)
    logger.info(
        "sql run turn=%s thread=%s rows=%d", turn.pk, turn.thread_id, result.row_count
    )
    return turn
