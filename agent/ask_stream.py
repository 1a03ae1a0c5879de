"""A streamed ask: its events, told as they happen, from a worker thread."""

from __future__ import annotations

import contextvars
import logging
import queue
import threading
import time
import weakref
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection
from langchain_core.language_models import BaseChatModel

from accounts.models import User
from agent.ask_run import Ask, ask_begin, ask_run, ask_slot_take
from agent.cancellation import CancelWatch
from agent.exceptions import AskCancelled, AskFailed
from agent.models import Turn
from sqlagent_project import capacity
from sqlagent_project.errors import ApplicationError

logger = logging.getLogger(__name__)


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
    ask = ask_begin(user=user, question=question, chat_model=chat_model)
    slot = ask_slot_take(ask, client_gone=client_gone)
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
        ask: Ask,
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
                finished = ask_run(
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
            # `ask_run` gave it back already; this only matters if it never ran.
            self._slot.release()
            self._watch.close()
            # This thread's own app-database connection (the turn's finish).
            connection.close()
