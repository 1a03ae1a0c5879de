"""An ask's life from its stored turn to its finish: begin, take a slot, run.

`thread_ask` and `thread_ask_scheduled` (services.py) and the streamed ask
(ask_stream.py) are these steps in different orders and threads.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db import DatabaseError
from langchain_core.language_models import BaseChatModel

from accounts.models import User
from agent import llm
from agent.budgets import budget_claimed
from agent.exceptions import AskCancelled, AskFailed, QuestionInvalid
from agent.models import Turn, TurnStatus
from agent.orphans import turns_fail_orphaned_now_and_then, worker_id
from agent.querying import (
    EventSink,
    connected_session,
    engine_dropped_if_session_closes,
    session_engine_get,
)
from agent.threads import HistoryTurn, text_checked, thread_prepare
from connections.models import UserSession
from sqlagent_project import capacity
from sqlagent_project.errors import ApplicationError

logger = logging.getLogger(__name__)


@dataclass
class Ask:
    """An ask whose turn is stored as running, ready for the agent."""

    turn: Turn
    session: UserSession
    question: str
    history: list[HistoryTurn]
    chat_model: BaseChatModel | None


def ask_begin(*, user: User, question: str, chat_model: BaseChatModel | None) -> Ask:
    """Check the question, the budgets and the LLM; store the turn as running."""
    question = text_checked(
        question,
        what="question",
        limit=settings.QUESTION_MAX_LENGTH,
        invalid=QuestionInvalid,
    )
    session = connected_session(user=user)
    if chat_model is None:
        llm.llm_settings()  # refuse early (503) when no LLM is configured
    turns_fail_orphaned_now_and_then()
    with budget_claimed(user=user, connection=session.db_connection):
        history = thread_prepare(session=session, question=question)
        turn = Turn.objects.create(
            thread_id=session.pk,
            question=question,
            status=TurnStatus.RUNNING,
            worker=worker_id(),
        )
    return Ask(
        turn=turn,
        session=session,
        question=question,
        history=history,
        chat_model=chat_model,
    )


def ask_slot_take(
    ask: Ask, *, client_gone: Callable[[], bool] | None = None
) -> capacity.AskSlot:
    """Take an ask slot for a begun ask, holding no app-database connection while
    waiting for one; when none frees up, store the turn as failed and raise
    AskPoolFull (503 + Retry-After).

    A queued ask whose client went away (while waiting, or by the time the slot
    is free) never starts: its turn is stored as cancelled (AskCancelled).
    """
    started = time.perf_counter()
    try:
        slot = capacity.ask_slot_take(give_up=client_gone)
        if client_gone is not None and client_gone():
            slot.release()
            raise capacity.AskGivenUp()
    except capacity.AskPoolFull as exc:
        ask.turn.finish(started=started, error=exc)
        logger.info("ask failed turn=%s code=%s", ask.turn.pk, exc.code)
        raise
    except capacity.AskGivenUp as exc:
        cancelled = AskCancelled()
        ask.turn.finish(started=started, error=cancelled)
        logger.info("ask client went away while queued turn=%s", ask.turn.pk)
        raise cancelled from exc
    return slot


def ask_run(
    *,
    ask: Ask,
    slot: capacity.AskSlot,
    emit: EventSink | None = None,
    should_stop: Callable[[], bool],
    stream_tokens: bool = False,
) -> Turn:
    """Run the agent for a begun ask and finish its turn, answered or not.

    `slot` is given back as soon as the agent is done, however it ends. The
    caller took the ask's CPU slot (`thread_ask`, or the stream's worker).
    """
    turn = ask.turn
    started = time.perf_counter()
    try:
        with slot, engine_dropped_if_session_closes(ask.session.pk):
            session_engine = session_engine_get(ask.session)
            # No app-DB connection held while the model thinks.
            capacity.app_database_hand_back()
            outcome = llm.agent_answer(
                session_engine=session_engine,
                question=ask.question,
                history=ask.history,
                chat_model=ask.chat_model,
                **({"emit": emit} if emit is not None else {}),
                should_stop=should_stop,
                stream_tokens=stream_tokens,
            )
    except ApplicationError as exc:
        turn.finish(started=started, outcome=getattr(exc, "partial", None), error=exc)
        logger.info("ask failed turn=%s code=%s", turn.pk, exc.code)
        raise
    except Exception as exc:
        busy = capacity.app_database_busy_from(exc)
        if busy is not None:
            # Out of app-database connections mid-ask: 503 + Retry-After, the
            # turn stored failed if a connection frees up, else by the sweep.
            logger.warning("ask failed turn=%s code=%s", turn.pk, busy.code)
            try:
                turn.finish(started=started, error=busy)
            except DatabaseError:
                logger.warning("turn left for the sweep turn=%s", turn.pk)
            raise busy from exc
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
