"""A reasoning model's thoughts, kept apart from its answer.

Reasoning models put their thoughts in the reply's content between `<think>`
tags (DeepSeek-R1 distills, QwQ, Qwen3 under llama.cpp or Ollama; a template
that opens the tag itself leaves only the closing one) or in a separate
`reasoning_content` field (vLLM, DeepSeek). Thoughts never reach the answer,
the stream or MCP; the turn keeps them, bounded, for the admin.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.conf import settings
from langchain_core.messages import AIMessage, BaseMessage

from agent.tokens import count_tokens

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"

_BLOCK = re.compile(r"<think>(.*?)(?:</think>|$)", re.DOTALL | re.IGNORECASE)

# Where the provider's client leaves a separate reasoning field.
REASONING_KEY = "reasoning_content"


@dataclass(frozen=True)
class SplitReply:
    """A reply's answer and its thoughts."""

    answer: str
    thoughts: str


def split_thoughts(text: str) -> SplitReply:
    """Return `text` without its `<think>` blocks, and the blocks' text.

    An unclosed block runs to the end (a reply cut off while thinking is all
    thoughts); a closing tag with no opening one ends thoughts begun by the
    chat template.
    """
    if THINK_OPEN not in text.lower() and THINK_CLOSE not in text.lower():
        return SplitReply(text, "")
    thoughts: list[str] = []
    lowered = text.lower()
    close = lowered.find(THINK_CLOSE)
    opening = lowered.find(THINK_OPEN)
    if close >= 0 and (opening < 0 or close < opening):
        thoughts.append(text[:close])
        text = text[close + len(THINK_CLOSE) :]
    thoughts += [match.group(1) for match in _BLOCK.finditer(text)]
    answer = _BLOCK.sub("", text).replace(THINK_CLOSE, "")
    return SplitReply(answer.strip(), "\n\n".join(t.strip() for t in thoughts))


def reply_without_thoughts(message: AIMessage) -> AIMessage:
    """Return `message` with its `<think>` blocks moved to its reasoning field.

    The content is plain text afterwards; a message with nothing to move is
    returned as it is.
    """
    content = message.content
    if not isinstance(content, str):
        return message
    split = split_thoughts(content)
    if not split.thoughts and split.answer == content:
        return message
    earlier = str(message.additional_kwargs.get(REASONING_KEY) or "")
    thoughts = "\n\n".join(t for t in (earlier, split.thoughts) if t)
    return message.model_copy(
        update={
            "content": split.answer,
            "additional_kwargs": {**message.additional_kwargs, REASONING_KEY: thoughts},
        }
    )


def message_thoughts(message: BaseMessage) -> str:
    """Return the thoughts a reply carries: its reasoning field and any
    `<think>` blocks still in its content, or in its thinking blocks."""
    parts: list[str] = []
    field = message.additional_kwargs.get(REASONING_KEY)
    if field:
        parts.append(str(field))
    content = message.content
    if isinstance(content, str):
        blocks = split_thoughts(content).thoughts
        if blocks:
            parts.append(blocks)
    else:
        for block in content:
            if isinstance(block, dict) and block.get("type") in (
                "thinking",
                "reasoning",
            ):
                parts.append(str(block.get("thinking") or block.get("reasoning") or ""))
    return "\n\n".join(p for p in parts if p)


def message_answer(message: BaseMessage) -> str:
    """Return the reply's text as the user may see it: no thoughts."""
    content = message.content
    if isinstance(content, list):
        text = "".join(
            part.get("text", "")
            if isinstance(part, dict) and part.get("type", "text") == "text"
            else (part if isinstance(part, str) else "")
            for part in content
        )
    else:
        text = str(content or "")
    return split_thoughts(text).answer


@dataclass(frozen=True)
class RunThoughts:
    """What a run's replies thought: the text kept (bounded) and its tokens."""

    text: str
    tokens: int


def run_thoughts(messages: list[AIMessage]) -> RunThoughts:
    """Return the thoughts of every reply of a run, bounded for the turn.

    Tokens are the server's own count of reasoning tokens where it gives one,
    else counted from the text.
    """
    texts: list[str] = []
    tokens = 0
    for message in messages:
        thoughts = message_thoughts(message)
        usage = message.usage_metadata or {}
        details = usage.get("output_token_details") or {}
        counted = details.get("reasoning")
        if thoughts:
            texts.append(thoughts)
        if counted:
            tokens += int(counted)
        elif thoughts:
            tokens += count_tokens(thoughts)
    text = "\n\n---\n\n".join(texts)
    limit = settings.LLM_REASONING_MAX_CHARS
    if len(text) > limit:
        text = text[:limit] + "\n[… cut]"
    return RunThoughts(text, tokens)
