"""What real model servers send, for the OpenAI-compatible stub: tool calls as
text, no tool calling at all, tools refused, thoughts in the content or beside it.

`shaped_responder(shape)` answers a question with the query the keyword rules
pick (as `keyword_responder` does), written the way `shape` says, then answers
from the rows it is shown (by a tool message, or as the text protocol shows
them, in a user message).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from typing import Any

from testsupport.llm_stub import (
    DEFAULT_RULES,
    DEFAULT_SQL,
    Responder,
    StubReply,
    last_user_question,
)

# Words that must never reach an answer, a token event or MCP.
THOUGHT = "PRIVATE-THOUGHT the user wants rows, let me think"
ROWS_SHOWN = "The rows of your query:"


def _call(sql: str) -> dict[str, Any]:
    return {"name": "run_query", "arguments": {"sql": sql}}


# shape -> the first reply, written from the intended SQL.
FIRST_REPLY: dict[str, Callable[[str], StubReply]] = {
    "hermes": lambda sql: StubReply(
        content=f"<tool_call>\n{json.dumps(_call(sql))}\n</tool_call>"
    ),
    "fenced_json": lambda sql: StubReply(
        content=f"```json\n{json.dumps(_call(sql), indent=2)}\n```"
    ),
    "bare_json": lambda sql: StubReply(content=json.dumps(_call(sql))),
    "mistral": lambda sql: StubReply(
        content=f"[TOOL_CALLS] {json.dumps([_call(sql)])}"
    ),
    "llama3": lambda sql: StubReply(
        content="<|python_tag|>"
        + json.dumps({"name": "run_query", "parameters": {"sql": sql}})
    ),
    "sql_block": lambda sql: StubReply(
        content=f"I will run this query:\n```sql\n{sql}\n```"
    ),
    "refuses_tools": lambda sql: StubReply(content=f"```sql\n{sql}\n```"),
    "think": lambda sql: StubReply(
        content=f"<think>{THOUGHT}</think>",
        tool_calls=[("run_query", {"sql": sql})],
    ),
    "reasoning_field": lambda sql: StubReply(
        reasoning_content=THOUGHT,
        tool_calls=[("run_query", {"sql": sql})],
        no_usage=True,
        no_finish_reason=True,
    ),
}
SHAPES = tuple(FIRST_REPLY)

OLLAMA_NO_TOOLS = "registry.ollama.ai/library/gemma:2b does not support tools"


def _shown_rows(body: dict[str, Any]) -> str | None:
    """Return the rows the model was just shown, or None."""
    messages = body.get("messages") or [{}]
    last = messages[-1]
    if last.get("role") == "tool":
        return str(last.get("content", ""))
    content = str(last.get("content") or "")
    if last.get("role") == "user" and content.startswith(ROWS_SHOWN):
        return content[len(ROWS_SHOWN) :].split("\n\nNow answer")[0].strip()
    return None


def shaped_responder(
    shape: str,
    rules: Sequence[tuple[str, str]] = DEFAULT_RULES,
    default_sql: str = DEFAULT_SQL,
) -> Responder:
    """Answer as a server of `shape` does (see FIRST_REPLY)."""
    first = FIRST_REPLY[shape]

    def respond(body: dict[str, Any]) -> StubReply:
        if shape == "refuses_tools" and body.get("tools"):
            return StubReply(status=400, error=OLLAMA_NO_TOOLS)
        rows = _shown_rows(body)
        if rows is not None:
            answer = f"Here is what I found:\n{rows[:2000]}"
            if shape == "think":
                return StubReply(content=f"<think>{THOUGHT}</think>\n\n{answer}")
            if shape == "reasoning_field":
                return StubReply(
                    content=answer,
                    reasoning_content=THOUGHT,
                    no_usage=True,
                    no_finish_reason=True,
                )
            return StubReply(content=answer)
        question = last_user_question(body)
        sql = default_sql
        for pattern, candidate in rules:
            if re.search(pattern, question, re.IGNORECASE):
                sql = candidate
                break
        return first(sql)

    return respond
