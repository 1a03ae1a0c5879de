"""A scripted chat model for fast agent tests (the LLM is the only thing replaced)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage


class ScriptedChatModel(GenericFakeChatModel):
    """Replies with the scripted messages in order and records what it was sent."""

    received: list[list[BaseMessage]] = []

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> ScriptedChatModel:
        return self

    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> Any:
        self.received.append(list(messages))
        return super()._generate(messages, *args, **kwargs)


_ids = itertools.count(1)


def tool_call(sql: str, name: str = "run_query") -> AIMessage:
    args = {"sql": sql} if name == "run_query" else {"table_names": sql.split(",")}
    return AIMessage(
        content="",
        tool_calls=[{"name": name, "args": args, "id": f"call_{next(_ids)}"}],
    )


def scripted(*messages: AIMessage | str) -> ScriptedChatModel:
    """Return a model answering with `messages` (strings become final answers)."""
    replies = [AIMessage(m) if isinstance(m, str) else m for m in messages]
    return ScriptedChatModel(
        messages=iter(replies), disable_streaming=True, received=[]
    )


def tool_results(model: ScriptedChatModel) -> list[str]:
    """Return the contents of the tool messages the model was shown, in order."""
    seen: list[str] = []
    for messages in model.received:
        for message in messages:
            if message.type == "tool" and message.content not in seen:
                seen.append(str(message.content))
    return seen
