"""Ask a question on the session's database and remember the turn."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable

from django.conf import settings
from django.utils import timezone
from langchain_core.language_models import BaseChatModel

from accounts.models import User
from agent import llm
from agent.ask_run import Ask, ask_begin, ask_run, ask_slot_take
from agent.budgets import budget_claimed
from agent.cancellation import CancelWatch, ask_cancel_request
from agent.exceptions import QuestionInvalid
from agent.models import Thread, Turn, TurnStatus
from agent.orphans import worker_id
from agent.selectors import turn_get_for_user
from agent.threads import text_checked, thread_title_from
from connections.models import DatabaseConnection, SessionStatus, UserSession
from sqlagent_project import capacity

logger = logging.getLogger(__name__)


def thread_ask(
    *,
    user: User,
    question: str,
    chat_model: BaseChatModel | None = None,
    client_gone: Callable[[], bool] | None = None,
) -> Turn:
    """Answer `question` on the user's session database and store the turn.

    The turn is stored as running before the LLM is called and finished in one
    write afterwards, so a failed ask is kept with its error and a killed worker
    leaves a turn that `turns_fail_orphaned` can close. Stop
    (`ask_cancel_request`) ends it at the agent's next step, and so does
    `client_gone` answering yes (the HTTP client closed its connection): the
    turn is stored as cancelled either way.
    """
    # The ask's own Python runs in one of the process's CPU slots, in turns
    # with other asks; every wait (for an ask slot, the model, a query) gives
    # the slot up, so pages never wait behind a crowd of asks.
    with capacity.ask_cpu_turns():
        ask = ask_begin(user=user, question=question, chat_model=chat_model)
        watch = CancelWatch(ask.turn.pk, client_gone=client_gone)
        try:
            slot = ask_slot_take(ask, client_gone=client_gone)
            return ask_run(ask=ask, slot=slot, should_stop=watch)
        finally:
            watch.close()


def thread_ask_scheduled(
    *,
    user: User,
    connection: DatabaseConnection,
    thread_id: uuid.UUID,
    question: str,
    chat_model: BaseChatModel | None = None,
) -> Turn:
    """Answer `question` afresh on `connection` as a turn of the thread
    `thread_id` (a schedule's own), through the same agent, guards, privacy
    tier and ask slots as /ask; no earlier turn is replayed. Failures raise the
    same ApplicationError as /ask, with the turn stored as failed."""
    question = text_checked(
        question,
        what="question",
        limit=settings.QUESTION_MAX_LENGTH,
        invalid=QuestionInvalid,
    )
    if chat_model is None:
        llm.llm_settings()
    # Within the owner's daily budgets, as their own asks are.
    with budget_claimed(user=user, connection=connection):
        Thread.objects.get_or_create(
            id=thread_id,
            defaults={
                "user_id": user.pk,
                "db_connection_id": connection.pk,
                "title": thread_title_from(question),
            },
        )
        turn = Turn.objects.create(
            thread_id=thread_id,
            question=question,
            status=TurnStatus.RUNNING,
            worker=worker_id(),
        )
    # A closed session of the thread's id, so the history can continue the
    # conversation like any other; being closed, its engine is dropped after.
    session, _ = UserSession.objects.get_or_create(
        id=thread_id,
        defaults={
            "user": user,
            "db_connection": connection,
            "status": SessionStatus.CLOSED,
            "closed_at": timezone.now(),
        },
    )
    # The schedule's connection, whatever the session was switched to since.
    session.db_connection = connection
    ask = Ask(
        turn=turn, session=session, question=question, history=[], chat_model=chat_model
    )
    with capacity.ask_cpu_turns():
        watch = CancelWatch(turn.pk)
        try:
            with capacity.cpu_released():
                slot = ask_slot_take(ask)
            return ask_run(ask=ask, slot=slot, should_stop=watch)
        finally:
            watch.close()


def ask_cancel(*, user: User, turn_id: int) -> Turn:
    """Ask the user's running turn to stop; return the turn as it stands.

    Another user's turn is a 404. A turn that already ended stays as it is.
    """
    turn = turn_get_for_user(user=user, turn_id=turn_id)
    if turn.status == TurnStatus.RUNNING:
        ask_cancel_request(turn_id=turn.pk)
        logger.info("ask cancel requested turn=%s", turn.pk)
    return turn
