"""The conversation an ask sends and what its replies come to: the history
that fits the model's context, the replies kept as they arrive, the outcome."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import LLMResult

from agent.charts import chart_for
from agent.exceptions import PromptTooLong
from agent.grounding import is_grounded
from agent.llm.prompt import HistoryTurn, history_messages
from agent.llm.providers import Provider
from agent.llm.reasoning import message_answer, run_thoughts
from agent.llm.text_protocol import NATIVE, PROTOCOL_KEY, TEXT
from agent.llm.tools import ToolContext
from agent.models import TurnOutcome
from agent.privacy import PrivacyPolicy
from agent.querying import result_as_dict
from agent.tokens import TOOL_DEFINITIONS_TOKENS, count_tokens, prompt_token_limit

logger = logging.getLogger("agent.llm")


def message_text(message: BaseMessage) -> str:
    content = message.content
    if isinstance(content, list):
        return "".join(
            part.get("text", "") if isinstance(part, dict) else str(part)
            for part in content
        )
    return str(content or "")


def messages_within_context(
    *,
    system_tokens: int,
    history: Sequence[HistoryTurn],
    privacy: PrivacyPolicy,
    asked: list[BaseMessage],
) -> list[BaseMessage]:
    """Return the conversation to send: as many of the latest turns as fit the
    model's context (LLM_CONTEXT_TOKENS less the reply's room) beside the system
    prompt and the question, which must fit or the model is not called at all."""
    limit = prompt_token_limit()
    used = (
        system_tokens
        + TOOL_DEFINITIONS_TOKENS
        + sum(count_tokens(message_text(m)) for m in asked)
    )
    if used > limit:
        logger.warning(
            "prompt too long before any call tokens=%d limit=%d advice='raise "
            "LLM_CONTEXT_TOKENS if the model has more, or lower SCHEMA_PROMPT_SHARE'",
            used,
            limit,
        )
        raise PromptTooLong(
            f"The question and the schema need about {used} tokens, more than the "
            f"{limit} the model can take; ask a shorter question."
        )
    kept: list[BaseMessage] = []
    for turn in reversed(history):
        messages = history_messages([turn], privacy=privacy)
        cost = sum(count_tokens(message_text(m)) for m in messages)
        if used + cost > limit:
            logger.info(
                "history cut to fit the context kept_turns=%d of=%d",
                len(kept) // 2,
                len(history),
            )
            break
        kept[:0] = messages
        used += cost
    return [*kept, *asked]


class ReplyRecorder(BaseCallbackHandler):
    """Keep each model reply as it arrives: the graph state is lost on error."""

    def __init__(self) -> None:
        self.messages: list[AIMessage] = []

    def on_llm_end(self, response: LLMResult, **kwargs: Any) -> None:
        for generations in response.generations:
            for generation in generations:
                message = getattr(generation, "message", None)
                if isinstance(message, AIMessage):
                    self.messages.append(message)


def outcome_from(
    context: ToolContext,
    ai_messages: list[AIMessage],
    model_name: str,
    provider: Provider,
) -> TurnOutcome:
    """Return the turn's outcome: the last reply's answer, every reply's tokens."""
    prompt_tokens = completion_tokens = 0
    for message in ai_messages:
        usage = message.usage_metadata or {}
        prompt_tokens += usage.get("input_tokens", 0)
        completion_tokens += usage.get("output_tokens", 0)
    answer = message_answer(ai_messages[-1]) if ai_messages else ""
    thoughts = run_thoughts(ai_messages)
    # The server's own name for the model it ran, when it says (gateways alias).
    for message in reversed(ai_messages):
        served = (message.response_metadata or {}).get("model_name")
        if served:
            model_name = served
            break
    result = result_as_dict(context.last_result)
    queries = [q.as_dict() for q in context.queries]
    return TurnOutcome(
        answer=answer,
        queries=queries,
        result=result,
        chart=chart_for(result, request=context.chart_request),
        model=model_name,
        llm_calls=len(ai_messages),
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        grounded=is_grounded(queries),
        cut_off=bool(ai_messages) and provider.cut_off(ai_messages[-1]),
        diagnosis=list(context.diagnoses),
        reasoning=thoughts.text,
        reasoning_tokens=thoughts.tokens,
        protocol=_protocol_of(ai_messages),
        described_tables=list(context.described_tables),
    )


def _protocol_of(ai_messages: list[AIMessage]) -> str:
    """Return "text" when any reply came by the text protocol, else "native"."""
    if not ai_messages:
        return ""
    used = {(m.response_metadata or {}).get(PROTOCOL_KEY) for m in ai_messages}
    return TEXT if TEXT in used else NATIVE
