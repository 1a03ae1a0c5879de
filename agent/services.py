"""Ask a question on the session's database and remember the turn."""

from __future__ import annotations

import contextvars
import logging
import queue
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection
from django.utils import timezone
from langchain_core.language_models import BaseChatModel

from accounts.models import User
from agent import llm
from agent.budgets import budget_claimed
from agent.cancellation import CancelWatch, ask_cancel_request
from agent.exceptions import (
    AskCancelled,
    AskFailed,
    QuestionInvalid,
)
from agent.models import Thread, Turn, TurnStatus
from agent.orphans import turns_fail_orphaned_now_and_then, worker_id
from agent.querying import (
    EventSink,
    connected_session,
    engine_dropped_if_session_closes,
    session_engine_get,
)
from agent.selectors import turn_get_for_user
from agent.threads import HistoryTurn, text_checked, thread_prepare, thread_title_from
from connections.models import DatabaseConnection, SessionStatus, UserSession
from sqlagent_project import capacity
from sqlagent_project.errors import ApplicationError

logger = logging.getLogger(__name__)


@dataclass
class _Ask:
    """An ask whose turn is stored as running, ready for the agent."""

    turn: Turn
    session: UserSession
    question: str
    history: list[HistoryTurn]
    chat_model: BaseChatModel | None


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
        ask = _ask_begin(user=user, question=question, chat_model=chat_model)
        watch = CancelWatch(ask.turn.pk, client_gone=client_gone)
        try:
            slot = _ask_slot_take(ask, client_gone=client_gone)
            return _ask_run(ask=ask, slot=slot, should_stop=watch)
        finally:
            watch.close()


@dataclass
class AskStream:
    """A started ask and its events: `(name, data)` pairs, in the order they
    happen. `done` carries the finished Turn, `error` the ApplicationError (the
    turn is stored either way) and `heartbeat` says the run is still waiting.
    Close `events` when done reading, read to the end or not."""

    turn: Turn
    events: AskEvents


def thread_ask_stream(
    *,
    user: User,
    question: str,
    chat_model: BaseChatModel | None = None,
    client_gone: Callable[[], bool] | None = None,
) -> AskStream:
    """Start answering `question` and return its events as they happen.

    Everything that can refuse the ask (validation, no database, no LLM, no
    free ask slot) runs here, before the first event, so it is still an
    ordinary error; a full ask pool stores the turn as failed, as without a
    stream. The slot taken here goes to the run's worker thread (see
    AskEvents). A client that goes away (`client_gone`) while the ask waits
    for its slot, or while it runs, stops it (stored as cancelled).
    """
    ask = _ask_begin(user=user, question=question, chat_model=chat_model)
    slot = _ask_slot_take(ask, client_gone=client_gone)
    # Carries the request's log fields (user, session) into the worker thread.
    log_context = contextvars.copy_context()
    events = AskEvents(
        ask=ask, slot=slot, log_context=log_context, client_gone=client_gone
    )
    return AskStream(turn=ask.turn, events=events)


class AskEvents:
    """The events of a begun ask that holds an ask slot, for one reader.

    The first event is `turn`. Reading on starts the agent in a worker thread
    feeding a queue: a step is told as it starts even while its query runs, the
    reader can send heartbeats (which is how a client that went away is noticed
    while the model thinks), and a reader that stops reading leaves the run to
    stop at its next step and to store its turn as cancelled.

    The slot is given back once however the ask ends: by the worker when its
    run ends (answered, failed, stopped or broken), or by `close()` when the
    reader left before the worker started, even before reading anything (then
    nothing ran, and the turn is stored as cancelled here).
    """

    def __init__(
        self,
        *,
        ask: _Ask,
        slot: capacity.AskSlot,
        log_context: contextvars.Context,
        client_gone: Callable[[], bool] | None = None,
    ) -> None:
        self._ask = ask
        self._slot = slot
        self._log_context = log_context
        self._watch = CancelWatch(ask.turn.pk, client_gone=client_gone)
        self._queue: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        self._worker_started = False
        self._closed = False
        self._reading = self._read()
        # Should a reader drop this unclosed and unread (a response thrown away
        # by a failing middleware), the slot still comes back when it is
        # collected; a running worker keeps it alive until its run has ended.
        weakref.finalize(self, slot.release)

    def __iter__(self) -> AskEvents:
        return self

    def __next__(self) -> tuple[str, Any]:
        return next(self._reading)

    def close(self) -> None:
        """Stop reading: a run under way stops at its next step; one that never
        started never will."""
        if self._closed:
            return
        self._closed = True
        self._reading.close()
        if self._worker_started:
            return
        # Gone before the agent started: nothing runs, the turn is closed here.
        try:
            self._watch.close()
            self._ask.turn.finish(started=time.perf_counter(), error=AskCancelled())
        finally:
            self._slot.release()

    def _read(self) -> Generator[tuple[str, Any]]:
        turn = self._ask.turn
        yield "turn", {"turn_id": turn.pk, "thread_id": str(turn.thread_id)}
        # Hold no app-database connection while the model thinks; the finish
        # opens one again in the worker thread.
        capacity.app_database_hand_back()
        worker = threading.Thread(
            target=self._log_context.run,
            args=(self._work,),
            name=f"ask-{turn.pk}",
            daemon=True,
        )
        worker.start()
        self._worker_started = True
        ended = False
        try:
            while True:
                try:
                    name, data = self._queue.get(
                        timeout=settings.ASK_STREAM_HEARTBEAT_S
                    )
                except queue.Empty:
                    yield "heartbeat", {}
                    continue
                ended = name in {"done", "error"}
                yield name, data
                if ended:
                    return
        finally:
            if not ended:
                # The reader went away: stop at the next step; the worker stores
                # the turn as cancelled and releases what it holds.
                logger.info("ask stream closed early turn=%s", turn.pk)
                self._watch.stop()

    def _emit(self, name: str, data: dict[str, Any]) -> None:
        self._queue.put((name, data))

    def _work(self) -> None:
        # This thread's entry: the run's own work takes turns in a CPU slot.
        try:
            with capacity.ask_cpu_turns():
                finished = _ask_run(
                    ask=self._ask,
                    slot=self._slot,
                    emit=self._emit,
                    should_stop=self._watch,
                    stream_tokens=True,
                )
        except ApplicationError as exc:
            self._queue.put(("error", exc))
        except Exception:
            # E.g. the app database gone when finishing the turn: the reader
            # must still hear the end (the orphan sweep closes such a turn).
            logger.exception("ask stream failed turn=%s", self._ask.turn.pk)
            self._queue.put(("error", AskFailed()))
        else:
            self._queue.put(("done", finished))
        finally:
            # `_ask_run` gave it back already; this only matters if it never ran.
            self._slot.release()
            self._watch.close()
            # This thread's own app-database connection (the turn's finish).
            connection.close()


def _ask_begin(*, user: User, question: str, chat_model: BaseChatModel | None) -> _Ask:
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
    return _Ask(
        turn=turn,
        session=session,
        question=question,
        history=history,
        chat_model=chat_model,
    )


def _ask_slot_take(
    ask: _Ask, *, client_gone: Callable[[], bool] | None = None
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


def _ask_run(
    *,
    ask: _Ask,
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
    ask = _Ask(
        turn=turn, session=session, question=question, history=[], chat_model=chat_model
    )
    with capacity.ask_cpu_turns():
        watch = CancelWatch(turn.pk)
        try:
            with capacity.cpu_released():
                slot = _ask_slot_take(ask)
            return _ask_run(ask=ask, slot=slot, should_stop=watch)
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
