"""Each model call of the agent, as the model server actually answers it.

One middleware around every call of the agent's model (LangChain's
`wrap_model_call`): it asks in the protocol this model is on (tools, or text;
agent.llm.text_protocol), switches to text when the server refuses tools,
moves a reasoning model's thoughts out of the reply (agent.llm.reasoning), and
turns a tool call written as text (agent.llm.text_tool_calls) or, in text
mode, a ```sql block into the reply's `tool_calls`, so the agent's tool node
runs and validates it as it does a native call.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from langchain.agents.middleware import AgentMiddleware, ModelRequest, ModelResponse
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

from agent.exceptions import LLMRefused
from agent.llm import text_protocol
from agent.llm.providers import provider_get
from agent.llm.reasoning import message_answer, reply_without_thoughts
from agent.llm.text_protocol import (
    NATIVE,
    PROTOCOL_KEY,
    TEXT,
    awaits_answer,
    protocol_memory,
    sql_from_text,
    text_messages,
    tools_refused,
)
from agent.llm.text_tool_calls import TextToolCall, tool_calls_from_text

logger = logging.getLogger("agent.llm")

ANSWER_PLEASE = (
    "You only thought and gave no answer. Give your answer now, in plain words."
)

Handler = Callable[[ModelRequest], ModelResponse]


class ModelReplies(AgentMiddleware):
    """Ask in the model's protocol and read its reply as servers really send it."""

    def __init__(self, *, model_key: str | None, model_name: str) -> None:
        super().__init__()
        self.model_key = model_key
        self.model_name = model_name

    @property
    def name(self) -> str:
        return "ModelReplies"

    def wrap_model_call(self, request: ModelRequest, handler: Handler) -> Any:
        protocol = protocol_memory.protocol_for(self.model_key)
        if protocol == NATIVE and _run_went_text(request.messages):
            # A model that answered in SQL text goes on in text this run.
            protocol = TEXT
        if protocol == NATIVE:
            try:
                response = handler(request)
            except Exception as exc:
                if text_protocol.protocol_setting() != text_protocol.AUTO or (
                    not tools_refused(exc)
                ):
                    raise
                protocol_memory.switch(
                    self.model_key, self.model_name, "server_refuses_tools"
                )
                protocol = TEXT
            else:
                return self._read(request, response, NATIVE, handler)
        text_request = request.override(
            tools=[], messages=text_messages(request.messages)
        )
        return self._read(request, handler(text_request), TEXT, handler)

    def _read(
        self,
        request: ModelRequest,
        response: ModelResponse,
        protocol: str,
        handler: Handler,
    ) -> ModelResponse:
        messages = list(response.result)
        index = next(
            (i for i, m in enumerate(messages) if isinstance(m, AIMessage)), None
        )
        if index is None:
            return response
        reply = reply_without_thoughts(messages[index])
        if provider_get().refused(reply):
            logger.warning("llm refused model=%s", self.model_name)
            raise LLMRefused()
        if _only_thoughts(reply):
            reply = self._answer_after_thoughts(request, handler, protocol, reply)
        reply = self._calls_read(request, reply, protocol)
        messages[index] = reply
        return ModelResponse(
            result=messages, structured_response=response.structured_response
        )

    def _calls_read(
        self, request: ModelRequest, reply: AIMessage, protocol: str
    ) -> AIMessage:
        """Give the reply the tool calls its text holds; note its protocol."""
        # A call written as text is a call too: such a model stays on tools.
        called = bool(reply.tool_calls)
        first_reply = bool(request.messages) and isinstance(
            request.messages[-1], HumanMessage
        )
        used = protocol
        if not reply.tool_calls:
            names = {
                getattr(t, "name", None) or t.get("name") for t in request.tools
            } or {"run_query"}
            text = message_answer(reply)
            read = tool_calls_from_text(text, names - {None})
            if read is not None:
                logger.info(
                    "llm tool call read from text model=%s tools=%s",
                    self.model_name,
                    ",".join(c.name for c in read.calls),
                )
                reply = _with_calls(reply, read.calls, read.prose)
                called = True
            elif protocol == TEXT or (
                text_protocol.protocol_setting() == text_protocol.AUTO
            ):
                sql = None if awaits_answer(request.messages) else sql_from_text(text)
                if sql is not None:
                    reply = _with_calls(
                        reply, [TextToolCall("run_query", {"sql": sql})]
                    )
                    used = TEXT
        if protocol == NATIVE and first_reply:
            protocol_memory.first_reply(
                self.model_key, self.model_name, called_tool=called
            )
        metadata = {**(reply.response_metadata or {}), PROTOCOL_KEY: used}
        return reply.model_copy(update={"response_metadata": metadata})

    def _answer_after_thoughts(
        self,
        request: ModelRequest,
        handler: Handler,
        protocol: str,
        reply: AIMessage,
    ) -> AIMessage:
        """Ask once more when a reply was only thoughts: that is no answer."""
        logger.info("llm reply was only thoughts model=%s", self.model_name)
        messages: list[BaseMessage] = [
            *request.messages,
            reply,
            HumanMessage(ANSWER_PLEASE),
        ]
        if protocol == TEXT:
            again = request.override(tools=[], messages=text_messages(messages))
        else:
            again = request.override(messages=messages)
        retried = next(
            (m for m in handler(again).result if isinstance(m, AIMessage)), None
        )
        if retried is None:
            return reply
        second = reply_without_thoughts(retried)
        # Both replies' thoughts and tokens stay on the answer.
        thoughts = "\n\n".join(
            str(m.additional_kwargs.get("reasoning_content") or "")
            for m in (reply, second)
        ).strip()
        usage = _usage_sum(reply, second)
        return second.model_copy(
            update={
                "additional_kwargs": {
                    **second.additional_kwargs,
                    "reasoning_content": thoughts,
                },
                "usage_metadata": usage,
            }
        )


def _run_went_text(messages: list[BaseMessage]) -> bool:
    return any(
        isinstance(m, AIMessage)
        and (m.response_metadata or {}).get(PROTOCOL_KEY) == TEXT
        for m in messages
    )


def _only_thoughts(reply: AIMessage) -> bool:
    return (
        not reply.tool_calls
        and not message_answer(reply).strip()
        and bool(reply.additional_kwargs.get("reasoning_content"))
    )


def _with_calls(
    reply: AIMessage, calls: list[TextToolCall], prose: str | None = None
) -> AIMessage:
    update: dict[str, Any] = {"tool_calls": [c.as_langchain() for c in calls]}
    if prose is not None:
        update["content"] = prose
    return reply.model_copy(update=update)


def _usage_sum(*messages: AIMessage) -> Any:
    usages = [m.usage_metadata for m in messages if m.usage_metadata]
    if not usages:
        return None
    total: dict[str, int] = {}
    for usage in usages:
        for key in ("input_tokens", "output_tokens", "total_tokens"):
            total[key] = total.get(key, 0) + int(usage.get(key, 0))
    return total
