"""One run of the agent: the compiled graph (one per process and model), the
loop over the model and tools, and the translation of library errors at this seam.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

from django.conf import settings
from langchain.agents import create_agent
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import (
    AIMessage,
    HumanMessage,
    SystemMessage,
)
from langgraph.errors import GraphRecursionError
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from agent import sql_guard
from agent.engines import SessionEngine
from agent.exceptions import AgentStepLimit, AskCancelled, LLMTimeout
from agent.grounding import grounding_nudge
from agent.llm.answer_stream import AnswerTokenEvents
from agent.llm.budget import (
    AskBudgetSpent,
    BoundedChatModel,
    model_calls_stoppable,
    model_time_budget,
    model_time_left,
)
from agent.llm.chat_model import chat_model_cached
from agent.llm.conversation import (
    ReplyRecorder,
    messages_within_context,
    outcome_from,
)
from agent.llm.model_replies import ModelReplies
from agent.llm.prompt import HistoryTurn, question_context_prepare, system_prompt
from agent.llm.providers import LLMSettings, Provider, provider_get
from agent.llm.tools import EventSink, ToolContext, langchain_tools
from agent.models import TurnOutcome
from agent.querying import catalog_get, ignore_event
from agent.tokens import count_tokens
from connections.exceptions import TargetDatabaseBusy, TargetDatabaseUnavailable
from sqlagent_project.errors import ApplicationError

logger = logging.getLogger("agent.llm")


# What a run produced: the turn's outcome fields, filled by the runner.
AgentOutcome = TurnOutcome

# How many rows of the latest result a `rows` event carries.
STREAM_ROWS = 50


def _never_stop() -> bool:
    return False


def agent_get(
    session_engine: SessionEngine, chat_model: BaseChatModel, cache_key: str | None
) -> tuple[Any, SystemMessage]:
    """Return the compiled agent for this model and the session's system prompt.

    The prompt (rules and schema) is the session's, built once with its
    catalog; it goes in as the run's first message. The compiled graph holds
    nothing of the session, so a process keeps one per chat model: a graph per
    session was some 250 objects each, and the garbage collector's full passes
    over hundreds of sessions' worth paused every thread of the process.
    """
    catalog = catalog_get(session_engine)
    with session_engine.lock:
        prompt = session_engine.extras.get("system_prompt")
    if prompt is None:
        text = system_prompt(
            db_type=session_engine.db_type, catalog=catalog, privacy=catalog.privacy
        )
        # A fixed id: the message object is shared by every run of the session,
        # and LangGraph would otherwise give it one (a write) in each of them.
        prompt = SystemMessage(text, id="system-prompt")
        with session_engine.lock:
            # What the system prompt costs of the context, for each ask's budget.
            session_engine.extras["system_tokens"] = count_tokens(text)
            session_engine.extras["system_prompt"] = prompt
    return _compiled_agent(chat_model, cache_key), prompt


_agents: dict[str, tuple[BaseChatModel, Any]] = {}
_agents_lock = threading.Lock()


def _compiled_agent(chat_model: BaseChatModel, cache_key: str | None) -> Any:
    """Return this process's agent graph for the chat model configured as
    `cache_key` (a model passed in without one, as tests do, gets its own)."""
    if cache_key is not None:
        with _agents_lock:
            cached = _agents.get(cache_key)
        if cached is not None and cached[0] is chat_model:
            return cached[1]
    model_name = getattr(chat_model, "model_name", "") or type(chat_model).__name__
    compiled = create_agent(
        chat_model,
        tools=langchain_tools(),
        context_schema=ToolContext,
        # Text tool calls, the text protocol, thoughts (agent.llm.model_replies).
        middleware=[ModelReplies(model_key=cache_key, model_name=model_name)],
    )
    if cache_key is not None:
        with _agents_lock:
            _agents[cache_key] = (chat_model, compiled)
    return compiled


def _budget_spent() -> LLMTimeout:
    logger.warning(
        "llm failed reason=ask_budget budget_s=%g advice='raise LLM_ASK_BUDGET_S "
        "or use a faster model'",
        settings.LLM_ASK_BUDGET_S,
    )
    return LLMTimeout(
        "The language model did not finish this question within "
        f"{settings.LLM_ASK_BUDGET_S:g} s."
    )


def agent_answer(
    *,
    session_engine: SessionEngine,
    question: str,
    history: Sequence[HistoryTurn] = (),
    chat_model: BaseChatModel | None = None,
    emit: EventSink = ignore_event,
    should_stop: Callable[[], bool] = _never_stop,
    stream_tokens: bool = False,
) -> AgentOutcome:
    """Run the agent loop for one question and return its answer and what it ran.

    `emit` hears each step, finished query (`query`) and its first rows (`rows`);
    with `stream_tokens`, the model's text as it streams (`token`). `should_stop`
    is asked before each tool runs and at each streamed chunk; when it says yes,
    the run ends with AskCancelled, so nobody pays for LLM calls nobody reads.

    A domain error raised here carries the run so far as `exc.partial` (an
    AgentOutcome), so a failed turn keeps the SQL it ran.
    """
    provider = provider_get()
    config: LLMSettings | None = None
    if chat_model is None:
        config = provider.settings_read()
        chat_model = chat_model_cached(config)
        model_name = config.model
    else:
        model_name = getattr(chat_model, "model_name", "") or type(chat_model).__name__
        # A model handed in (tests, evaluation) keeps to the budget and slot too.
        chat_model = BoundedChatModel.wrap(chat_model, bounds_its_calls=False)
    context = ToolContext.of(session_engine)
    catalog = context.catalog
    context.emit = _checked_sink(context, emit, should_stop)
    ai_messages: list[AIMessage] = []
    # Every reply the model gave, so a failed run still reports its token usage.
    replies = ReplyRecorder()
    # One budget for all the model calls of this ask (errors are worded inside
    # it); every query of the ask, whatever tool runs it, ends on its Stop, and
    # so does the model call under way.
    with (
        model_time_budget(settings.LLM_ASK_BUDGET_S),
        model_calls_stoppable(should_stop),
        sql_guard.queries_stopped_by(
            None if should_stop is _never_stop else should_stop
        ),
    ):
        try:
            if should_stop():
                raise AskCancelled()
            # Their reads of the user's database give the CPU slot up (the
            # catalog's and the query runner's own doing).
            compiled, prompt = agent_get(
                session_engine, chat_model, config.cache_key if config else None
            )
            prepared = question_context_prepare(
                connection_id=session_engine.connection_id,
                question=question,
                catalog=catalog,
            )
            context.described_tables = prepared.described
            asked = [*prepared.messages, HumanMessage(question)]
            inputs = {
                "messages": [
                    prompt,
                    *messages_within_context(
                        # A schema refresh may have emptied the extras since.
                        system_tokens=session_engine.extras.get("system_tokens")
                        or count_tokens(str(prompt.content)),
                        history=history,
                        privacy=context.policy,
                        asked=asked,
                    ),
                ]
            }
            run_config = {
                "recursion_limit": settings.AGENT_MAX_STEPS,
                "callbacks": [replies],
            }
            state = _stream(
                compiled, inputs, run_config, context, emit, should_stop, stream_tokens
            )
            replied = state["messages"][len(inputs["messages"]) :]
            nudge = grounding_nudge(
                question=question,
                queries=[q.as_dict() for q in context.queries],
                has_history=bool(history),
                used_tools=any(getattr(m, "tool_calls", None) for m in replied),
            )
            if nudge is not None:
                nudged = {"messages": [*state["messages"], HumanMessage(nudge)]}
                state = _stream(
                    compiled,
                    nudged,
                    run_config,
                    context,
                    emit,
                    should_stop,
                    stream_tokens,
                )
            new_messages = state["messages"][len(inputs["messages"]) :]
            ai_messages = [m for m in new_messages if isinstance(m, AIMessage)]
        except ApplicationError as exc:
            partial = outcome_from(context, replies.messages, model_name, provider)
            exc.partial = partial  # type: ignore[attr-defined]
            raise
        except Exception as exc:
            error = _run_error(exc, provider)
            if error is None:
                raise
            partial = outcome_from(context, replies.messages, model_name, provider)
            error.partial = partial  # type: ignore[attr-defined]
            raise error from exc
    return outcome_from(context, ai_messages, model_name, provider)


def _checked_sink(
    context: ToolContext,
    emit: EventSink,
    should_stop: Callable[[], bool],
) -> EventSink:
    """Return the sink the tools call: it stops the run at a tool's start and
    follows a finished query with the first rows of its result."""

    def sink(name: str, data: dict[str, Any]) -> None:
        if name == "step" and should_stop():
            raise AskCancelled()
        emit(name, data)
        result = context.last_result
        if name == "query" and data.get("error") is None and result is not None:
            emit(
                "rows",
                {
                    "columns": list(result.columns),
                    "rows": [list(row) for row in result.rows[:STREAM_ROWS]],
                    "row_count": result.row_count,
                    "truncated": result.truncated,
                },
            )

    return sink


def _stream(
    compiled: Any,
    inputs: dict[str, Any],
    run_config: dict[str, Any],
    context: ToolContext,
    emit: EventSink,
    should_stop: Callable[[], bool],
    stream_tokens: bool,
) -> dict[str, Any]:
    """Run the graph, asking `should_stop` between its steps (and, with
    `stream_tokens`, at each of the model's chunks); return its final state."""
    state: dict[str, Any] = inputs
    # The answer's words only: no thoughts, no tool call written as text.
    tokens = AnswerTokenEvents()
    stream = compiled.stream(
        inputs,
        config=run_config,
        context=context,
        # "messages" makes the model stream; without it, each call is one answer.
        stream_mode=["messages", "values"] if stream_tokens else ["values"],
    )
    try:
        for mode, item in stream:
            if should_stop():
                raise AskCancelled()
            left = model_time_left()
            if left is not None and left <= 0:
                # A model streaming slowly never trips the read timeout.
                raise _budget_spent()
            if mode == "values":
                state = item
                text = tokens.from_state(item) if stream_tokens else ""
            else:
                text = tokens.from_chunk(item[0])
            if text:
                emit("token", {"text": text})
    finally:
        # Closing the graph's generator ends the run where it stands.
        stream.close()
    return state


def _run_error(exc: Exception, provider: Provider) -> ApplicationError | None:
    """Translate a library error into a domain error; None for the unexpected."""
    if isinstance(exc, GraphRecursionError):
        return AgentStepLimit(
            "The agent could not reach an answer within "
            f"{settings.AGENT_MAX_STEPS} steps; try a more specific question."
        )
    if isinstance(exc, PoolTimeoutError):
        # Every connection of the session's pool is in use (the schema is read
        # outside the guarded query path): busy, not broken.
        return TargetDatabaseBusy()
    if isinstance(exc, SQLAlchemyError):
        return TargetDatabaseUnavailable(
            "The database could not be read: " + str(getattr(exc, "orig", exc))[:200]
        )
    if isinstance(exc, AskBudgetSpent):
        return _budget_spent()
    return provider.llm_error(exc)
