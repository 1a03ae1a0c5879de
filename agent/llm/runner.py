"""One run of the agent: the compiled graph (cached with the session's engine), the
loop over the model and tools, and the translation of library errors at this seam.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import openai
from django.conf import settings
from langchain.agents import create_agent
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langgraph.errors import GraphRecursionError
from sqlalchemy.exc import SQLAlchemyError

from agent import sql_guard
from agent.catalog import SchemaCatalog
from agent.charts import chart_for
from agent.engines import SessionEngine
from agent.exceptions import AgentStepLimit, LLMTimeout, LLMUnavailable
from agent.llm.chat_model import LLMSettings, chat_model_cached, llm_settings
from agent.llm.prompt import (
    HistoryTurn,
    history_messages,
    named_tables_context,
    system_prompt,
)
from agent.llm.tools import EventSink, ToolContext, _ignore_event, langchain_tools
from agent.models import TurnOutcome
from connections.exceptions import TargetDatabaseUnavailable
from sqlagent_project.errors import ApplicationError

logger = logging.getLogger("agent.llm")


# What a run produced: the turn's outcome fields, filled by the runner.
AgentOutcome = TurnOutcome


def catalog_get(session_engine: SessionEngine) -> SchemaCatalog:
    """Return the session engine's schema catalog, creating it once."""
    with session_engine.lock:
        catalog = session_engine.extras.get("catalog")
        if catalog is None:
            catalog = SchemaCatalog(
                session_engine.engine,
                session_engine.db_type,
                privacy=session_engine.privacy_policy(),
            )
            session_engine.extras["catalog"] = catalog
    return catalog


def agent_get(
    session_engine: SessionEngine, chat_model: BaseChatModel, cache_key: str | None
) -> Any:
    """Return the compiled agent for this engine and model, building it once."""
    catalog = catalog_get(session_engine)
    if cache_key is not None:
        with session_engine.lock:
            cached = session_engine.extras.get("agent")
        if cached is not None and cached[0] == cache_key:
            return cached[1]
    compiled = create_agent(
        chat_model,
        tools=langchain_tools(),
        system_prompt=system_prompt(
            db_type=session_engine.db_type, catalog=catalog, privacy=catalog.privacy
        ),
        context_schema=ToolContext,
    )
    if cache_key is not None:
        with session_engine.lock:
            session_engine.extras["agent"] = (cache_key, compiled)
    return compiled


def result_as_dict(result: sql_guard.QueryResult | None) -> dict[str, Any] | None:
    """Return the rows stored on the turn (and shown to the user), types included."""
    if result is None:
        return None
    stored: dict[str, Any] = {
        "columns": result.columns,
        "rows": result.rows,
        "row_count": result.row_count,
        "truncated": result.truncated,
    }
    stored["column_types"] = list(result.column_types)
    # Why the rows stopped ("rows" or "bytes") and how many cells were cut.
    stored["truncated_reason"] = result.truncated_reason
    stored["cut_cells"] = result.cut_cells
    return stored


def _text(message: BaseMessage) -> str:
    content = message.content
    if isinstance(content, list):
        return "".join(
            part.get("text", "") if isinstance(part, dict) else str(part)
            for part in content
        )
    return str(content or "")


def _llm_error(exc: openai.OpenAIError) -> ApplicationError:
    """Return the error the person sees; log what the operator needs, at WARNING."""
    retries = settings.LLM_MAX_RETRIES
    if isinstance(exc, openai.APITimeoutError):
        logger.warning(
            "llm failed reason=timeout timeout_s=%g retries=%d",
            settings.LLM_TIMEOUT_S,
            retries,
        )
        return LLMTimeout(
            f"The language model did not answer within {settings.LLM_TIMEOUT_S:g} s."
        )
    if isinstance(exc, openai.APIConnectionError):
        logger.warning(
            "llm failed reason=unreachable retries=%d advice='check OPENAI_BASE_URL "
            "and that the model server is running' error=%s",
            retries,
            type(exc.__cause__ or exc).__name__,
        )
        return LLMUnavailable()
    if isinstance(exc, openai.AuthenticationError):
        logger.warning(
            "llm failed reason=authentication status=%s advice='check OPENAI_API_KEY'",
            exc.status_code,
        )
        return LLMUnavailable()
    if isinstance(exc, openai.APIStatusError):
        logger.warning(
            "llm failed reason=http_status status=%s retries=%d",
            exc.status_code,
            retries,
        )
        return LLMUnavailable(
            f"The language model answered with an error (HTTP {exc.status_code})."
        )
    logger.warning("llm failed reason=%s", type(exc).__name__)
    return LLMUnavailable()


def agent_answer(
    *,
    session_engine: SessionEngine,
    question: str,
    history: Sequence[HistoryTurn] = (),
    chat_model: BaseChatModel | None = None,
    emit: EventSink = _ignore_event,
) -> AgentOutcome:
    """Run the agent loop for one question and return its answer and what it ran.

    A domain error raised here carries the run so far as `exc.partial` (an
    AgentOutcome), so a failed turn keeps the SQL it ran.
    """
    config: LLMSettings | None = None
    if chat_model is None:
        config = llm_settings()
        chat_model = chat_model_cached(config)
    model_name = (
        config.model
        if config
        else getattr(chat_model, "model_name", "") or type(chat_model).__name__
    )
    catalog = catalog_get(session_engine)
    context = ToolContext(
        engine=session_engine.engine,
        db_type=session_engine.db_type,
        catalog=catalog,
        emit=emit,
        privacy=catalog.privacy,
    )
    try:
        compiled = agent_get(
            session_engine, chat_model, config.cache_key if config else None
        )
        inputs = {
            "messages": [
                *history_messages(history, privacy=context.policy),
                *named_tables_context(catalog, question),
                HumanMessage(question),
            ]
        }
        state = compiled.invoke(
            inputs,
            config={"recursion_limit": settings.AGENT_MAX_STEPS},
            context=context,
        )
    except ApplicationError as exc:
        exc.partial = _outcome(context, [], model_name)  # type: ignore[attr-defined]
        raise
    except Exception as exc:
        error = _run_error(exc)
        if error is None:
            raise
        error.partial = _outcome(context, [], model_name)  # type: ignore[attr-defined]
        raise error from exc
    new_messages = state["messages"][len(inputs["messages"]) :]
    ai_messages = [m for m in new_messages if isinstance(m, AIMessage)]
    return _outcome(context, ai_messages, model_name)


def _run_error(exc: Exception) -> ApplicationError | None:
    """Translate a library error into a domain error; None for the unexpected."""
    if isinstance(exc, GraphRecursionError):
        return AgentStepLimit(
            "The agent could not reach an answer within "
            f"{settings.AGENT_MAX_STEPS} steps; try a more specific question."
        )
    if isinstance(exc, SQLAlchemyError):
        return TargetDatabaseUnavailable(
            "The database could not be read: " + str(getattr(exc, "orig", exc))[:200]
        )
    if isinstance(exc, openai.OpenAIError):
        return _llm_error(exc)
    return None


def _outcome(
    context: ToolContext, ai_messages: list[AIMessage], model_name: str
) -> AgentOutcome:
    prompt_tokens = completion_tokens = 0
    for message in ai_messages:
        usage = message.usage_metadata or {}
        prompt_tokens += usage.get("input_tokens", 0)
        completion_tokens += usage.get("output_tokens", 0)
    answer = _text(ai_messages[-1]) if ai_messages else ""
    # The server's own name for the model it ran, when it says (gateways alias).
    for message in reversed(ai_messages):
        served = (message.response_metadata or {}).get("model_name")
        if served:
            model_name = served
            break
    result = result_as_dict(context.last_result)
    return AgentOutcome(
        answer=answer,
        queries=[q.as_dict() for q in context.queries],
        result=result,
        chart=chart_for(result, request=context.chart_request),
        model=model_name,
        llm_calls=len(ai_messages),
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
    )
