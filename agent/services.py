"""Ask a question on the session's database and remember the turn."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from langchain_core.language_models import BaseChatModel

from accounts.models import User
from agent import llm, sql_guard
from agent.charts import chart_for
from agent.engines import engine_cache
from agent.exceptions import (
    AgentInterrupted,
    AskFailed,
    NoDatabaseConnected,
    QuestionInvalid,
    SqlFailed,
    SqlInvalid,
    SqlRefused,
    SqlTimedOut,
    ThreadTitleInvalid,
)
from agent.llm.tools import ToolContext
from agent.models import Thread, Turn, TurnOutcome, TurnSource, TurnStatus
from connections.exceptions import TargetDatabaseUnavailable
from connections.models import SessionStatus, UserSession
from connections.services import session_get_or_create_active, session_resume
from connections.target_policy import TargetRefused
from sqlagent_project import capacity
from sqlagent_project.errors import ApplicationError

logger = logging.getLogger(__name__)

HOSTNAME = socket.gethostname()
_worker_checked = False
# The age sweep of `turns_fail_orphaned` runs at most this often per process on
# the ask path: it only catches turns older than the longest ask (minutes), and
# dead workers' turns are closed at boot and by gunicorn's child_exit hook.
ORPHAN_SWEEP_INTERVAL_S = 60.0
_swept_at: float | None = None


def worker_id() -> str:
    return f"{HOSTNAME}:{os.getpid()}"


def thread_ask(
    *, user: User, question: str, chat_model: BaseChatModel | None = None
) -> Turn:
    """Answer `question` on the user's session database and store the turn.

    The turn is stored as running before the LLM is called and finished in one
    write afterwards, so a failed ask is kept with its error and a killed worker
    leaves a turn that `turns_fail_orphaned` can close.
    """
    question = (question or "").strip()
    if not question:
        raise QuestionInvalid("The question is empty.")
    if len(question) > settings.QUESTION_MAX_LENGTH:
        raise QuestionInvalid(
            f"The question is longer than {settings.QUESTION_MAX_LENGTH} characters."
        )
    session = session_get_or_create_active(user=user)
    if session.db_connection is None:
        raise NoDatabaseConnected()
    if chat_model is None:
        llm.llm_settings()  # refuse early (503) when no LLM is configured
    _turns_fail_orphaned_now_and_then()
    history = thread_prepare(session=session, question=question)
    turn = Turn.objects.create(
        thread_id=session.pk,
        question=question,
        status=TurnStatus.RUNNING,
        worker=worker_id(),
    )
    started = time.perf_counter()
    try:
        with engine_dropped_if_session_closes(session.pk):
            try:
                session_engine = engine_cache.get(session)
            except TargetRefused as exc:
                raise TargetDatabaseUnavailable(str(exc)) from exc
            # No app-DB connection held while the model thinks; at most
            # ASK_MAX_CONCURRENT asks per process, else 503.
            with capacity.app_database_released(), capacity.ask_slot():
                outcome = llm.agent_answer(
                    session_engine=session_engine,
                    question=question,
                    history=history,
                    chat_model=chat_model,
                )
    except ApplicationError as exc:
        turn.finish(started=started, outcome=getattr(exc, "partial", None), error=exc)
        logger.info("ask failed turn=%s code=%s", turn.pk, exc.code)
        raise
    except Exception as exc:
        # Not the client's fault: a bug here or in a library. A 5xx with a stable
        # code, logged with its traceback, so alerts fire.
        failed = AskFailed()
        logger.exception("ask failed unexpectedly turn=%s", turn.pk)
        turn.finish(started=started, error=failed)
        raise failed from exc
    turn.finish(started=started, outcome=outcome)
    logger.info(
        "ask answered turn=%s thread=%s queries=%d llm_calls=%d duration_ms=%.1f",
        turn.pk,
        turn.thread_id,
        len(turn.queries),
        turn.llm_calls,
        turn.duration_ms,
    )
    return turn


def thread_run_sql(*, user: User, sql: str) -> Turn:
    """Run SQL the user wrote through exactly the agent's guarded path (statement
    check, read-only transaction, timeout, caps), with no LLM call, and store it
    as a turn of the thread marked as user SQL, failed or not.
    """
    sql = (sql or "").strip()
    if not sql:
        raise SqlInvalid("The SQL is empty.")
    if len(sql) > settings.SQL_MAX_LENGTH:
        raise SqlInvalid(
            f"The SQL is longer than {settings.SQL_MAX_LENGTH} characters."
        )
    session = session_get_or_create_active(user=user)
    if session.db_connection is None:
        raise NoDatabaseConnected()
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
                raise SqlFailed(exc.message) from exc
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


def thread_title_from(question: str, *, limit: int = 80) -> str:
    """Return a title for a conversation from its first question: one line, short."""
    title = " ".join(question.split())
    if len(title) <= limit:
        return title
    cut = title[: limit - 1].rsplit(" ", 1)[0] or title[: limit - 1]
    return cut + "…"


def thread_rename(*, thread: Thread, title: str) -> Thread:
    """Give a conversation a title of the user's choosing."""
    title = " ".join((title or "").split())
    if not title:
        raise ThreadTitleInvalid("A title is required.")
    if len(title) > 200:
        raise ThreadTitleInvalid("A title has at most 200 characters.")
    thread.title = title
    thread.save(update_fields=["title", "updated_at"])
    return thread


def thread_delete(*, thread: Thread) -> None:
    """Delete a conversation and its turns (the session, if any, goes on)."""
    with transaction.atomic():
        thread.delete()
    logger.info("thread deleted id=%s user=%s", thread.pk, thread.user_id)


def thread_continue(*, user: User, thread: Thread) -> UserSession:
    """Make `thread` the current conversation again, on its database."""
    return session_resume(user=user, session_id=thread.pk)


@contextlib.contextmanager
def engine_dropped_if_session_closes(session_id: uuid.UUID) -> Iterator[None]:
    """Drop the session's cached engine after the work if the session closed
    meanwhile: a disconnect racing an ask must not leave an engine behind."""
    try:
        yield
    finally:
        closed = not UserSession.objects.filter(
            pk=session_id, status=SessionStatus.ACTIVE
        ).exists()
        if closed and engine_cache.evict(session_id):
            logger.info("engine dropped for a session closed mid-ask %s", session_id)


def thread_get_or_create(*, session: UserSession, question: str) -> Thread:
    """Return the session's thread (same UUID), titled by its first question."""
    thread, created = Thread.objects.get_or_create(
        id=session.pk,
        defaults={
            "user_id": session.user_id,
            "db_connection_id": session.db_connection_id,
            "title": thread_title_from(question),
        },
    )
    if not created and thread.db_connection_id != session.db_connection_id:
        thread.db_connection_id = session.db_connection_id
        thread.save(update_fields=["db_connection", "updated_at"])
    return thread


def thread_prepare(*, session: UserSession, question: str) -> list[llm.HistoryTurn]:
    """Make sure the session's thread exists on the session's database; return its
    last THREAD_HISTORY_TURNS answered turns, oldest first.

    Once the thread has answers, the thread's database comes joined to them: one
    query on every ask after the first.
    """
    limit = settings.THREAD_HISTORY_TURNS
    answered = Turn.objects.filter(thread_id=session.pk, status=TurnStatus.OK).order_by(
        "-created_at", "-id"
    )
    columns = (
        "question",
        "answer",
        "queries",
        "thread__db_connection_id",
        "source",
        "created_at",
    )
    rows = list(answered.values_list(*columns)[:limit]) if limit > 0 else []
    if not rows:
        thread_get_or_create(session=session, question=question)
    elif rows[0][3] != session.db_connection_id:
        # The session was connected to another database since.
        Thread.objects.filter(pk=session.pk).update(
            db_connection_id=session.db_connection_id, updated_at=timezone.now()
        )
    return [
        llm.HistoryTurn(
            question=asked,
            answer=answer,
            sql=[q["sql"] for q in queries if not q.get("error")],
            user_sql=source == TurnSource.SQL,
            asked_at=asked_at,
        )
        for asked, answer, queries, _, source, asked_at in reversed(rows)
    ]


def _turns_fail_orphaned_now_and_then() -> None:
    global _swept_at
    now = time.monotonic()
    if _swept_at is not None and now - _swept_at < ORPHAN_SWEEP_INTERVAL_S:
        return
    _swept_at = now
    turns_fail_orphaned()


def turns_fail_orphaned() -> int:
    """Close turns left running by a worker that died, so none runs forever.

    On this host, a turn whose worker process is gone is failed at once; any
    running turn older than the longest an ask can take is failed too.
    """
    global _worker_checked
    fields = _interrupted_fields()
    closed = 0
    if not _worker_checked:
        _worker_checked = True
        running = Turn.objects.filter(
            status=TurnStatus.RUNNING, worker__startswith=f"{HOSTNAME}:"
        ).values_list("id", "worker")
        dead = [pk for pk, worker in running if not _process_alive(worker)]
        if dead:
            closed += Turn.objects.filter(
                pk__in=dead, status=TurnStatus.RUNNING
            ).update(**fields)
    longest = timedelta(
        seconds=(
            settings.LLM_TIMEOUT_S * (settings.LLM_MAX_RETRIES + 1)
            + settings.QUERY_TIMEOUT_S
        )
        * settings.AGENT_MAX_STEPS
    )
    closed += Turn.objects.filter(
        status=TurnStatus.RUNNING, created_at__lt=timezone.now() - longest
    ).update(**fields)
    if closed:
        logger.warning("closed %d interrupted turn(s)", closed)
    return closed


def turns_fail_of_worker(*, pid: int) -> int:
    """Close the turns left running by this host's worker `pid`, which has exited."""
    closed = Turn.objects.filter(
        status=TurnStatus.RUNNING, worker=f"{HOSTNAME}:{pid}"
    ).update(**_interrupted_fields())
    if closed:
        logger.warning("closed %d turn(s) of exited worker %s", closed, pid)
    return closed


def _interrupted_fields() -> dict[str, object]:
    interrupted = AgentInterrupted()
    return {
        "status": TurnStatus.ERROR,
        "error": interrupted.message,
        "error_code": interrupted.code,
        "finished_at": timezone.now(),
    }


def _process_alive(worker: str) -> bool:
    try:
        pid = int(worker.rsplit(":", 1)[1])
    except (IndexError, ValueError):
        return True
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A killed worker whose parent died too may linger as a zombie that nobody
    # reaps; signal 0 still reaches it, but it will never finish its turn.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[:1] != ["Z"]
