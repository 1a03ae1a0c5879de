"""The agent: the only package that imports LangChain and a model provider's SDK.

- `providers`: one module per model provider (settings, chat model, its errors
  and stop reasons), chosen by LLM_PROVIDER.
- `budget`: the ask's model time and CPU slot, kept around any chat model.
- `chat_model`: the configured provider's chat model, bounded, one per process.
- `tools`: the tools as plain functions over a per-run `ToolContext`.
- `prompt`: the system prompt, history replay, tables a question names.
- `conversation`: the history that fits the context, replies, the outcome.
- `runner`: one run of the compiled agent and the errors it translates.
- `model_replies`: each model call as servers really answer it (the protocol,
  tool calls written as text, thoughts), a middleware of the compiled agent;
  with `text_tool_calls`, `text_protocol`, `reasoning` and `answer_stream`
  (the streamed words without thoughts or written calls).
- `check`: `llm_check`'s probes and verdict.
"""

from __future__ import annotations

from agent.llm.chat_model import (
    chat_model_cached,
    chat_model_create,
    llm_settings,
)
from agent.llm.prompt import HistoryTurn, history_messages, system_prompt
from agent.llm.providers import LLMSettings
from agent.llm.runner import AgentOutcome, agent_answer, agent_get
from agent.llm.tools import QueryRecord, ToolContext, result_for_llm

__all__ = [
    "AgentOutcome",
    "HistoryTurn",
    "LLMSettings",
    "QueryRecord",
    "ToolContext",
    "agent_answer",
    "agent_get",
    "chat_model_cached",
    "chat_model_create",
    "history_messages",
    "llm_settings",
    "result_for_llm",
    "system_prompt",
]
