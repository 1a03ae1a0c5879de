"""SQL the user wrote, run through the agent's guarded path and kept as a turn."""

from __future__ import annotations

import logging
import time

from django.conf import settings

from accounts.models import User
from agent.charts import chart_for
from agent.exceptions import AskFailed, SqlInvalid
from agent.models import Turn, TurnOutcome, TurnSource, TurnStatus
from agent.orphans import worker_id
from agent.querying import (
    SessionQueries,
    connected_session,
    engine_dropped_if_session_closes,
    result_as_dict,
    session_engine_get,
)
from agent.threads import text_checked, thread_prepare
from connections.selectors import ConnectionAccess
from sqlagent_project import capacity
from sqlagent_project.errors import ApplicationError

logger = logging.getLogger(__name__)


def thread_run_sql(*, user: User, sql: str) -> Turn:
    """Run SQL the user wrote through exactly the agent's guarded path (statement
    check, read-only transaction, timeout, caps), with no LLM call, and store it
    as a turn of the thread marked as user SQL, failed or not.
    """
    # Its own Python (the guard, the privacy trace) takes turns in a CPU slot
    # as an ask's does; its waits give the slot up where they happen.
    with capacity.ask_cpu_turns():
        return _sql_run(user=user, sql=sql)


def _sql_run(*, user: User, sql: str) -> Turn:
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
    context: SessionQueries | None = None
    try:
        with engine_dropped_if_session_closes(session.pk):
            context = SessionQueries.of(session_engine_get(session))
            result = context.query_for_user(sql)
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
    stored = result_as_dict(context.last_result or result)
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
