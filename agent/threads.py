"""A user's conversations: the thread behind a session, its title, and the
history an ask replays."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from agent.charts import ChartDoesNotFit, ChartRequest, chart_picked
from agent.exceptions import ChartInvalid, ThreadTitleInvalid
from agent.models import Thread, Turn, TurnSource, TurnStatus
from connections.models import UserSession
from connections.services import session_resume
from sqlagent_project.errors import ApplicationError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class HistoryTurn:
    """An answered turn of the thread, as an ask replays it to the model."""

    question: str
    answer: str
    sql: Sequence[str]
    # The user ran this SQL themselves (the question is the SQL).
    user_sql: bool = False
    # When the turn was asked: an answer from before the privacy rules last
    # changed is not replayed (it may hold values the model may no longer see).
    asked_at: datetime | None = None


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


def thread_prepare(*, session: UserSession, question: str) -> list[HistoryTurn]:
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
        HistoryTurn(
            question=asked,
            answer=answer,
            sql=[q["sql"] for q in queries if not q.get("error")],
            user_sql=source == TurnSource.SQL,
            asked_at=asked_at,
        )
        for asked, answer, queries, _, source, asked_at in reversed(rows)
    ]


def text_checked(
    text: str | None, *, what: str, limit: int, invalid: type[ApplicationError]
) -> str:
    """Return `text` stripped, or raise `invalid` when it is empty or too long."""
    text = (text or "").strip()
    if not text:
        raise invalid(f"The {what} is empty.")
    if len(text) > limit:
        raise invalid(f"The {what} is longer than {limit} characters.")
    return text


def turn_chart_set(*, turn: Turn, request: ChartRequest) -> Turn:
    """Remember the chart a person picked for a turn (None: show the table)."""
    try:
        turn.chart = chart_picked(turn.result, request=request)
    except ChartDoesNotFit as exc:
        raise ChartInvalid(str(exc)) from exc
    turn.save(update_fields=["chart"])
    return turn
