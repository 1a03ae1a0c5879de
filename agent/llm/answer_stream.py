"""The answer's words as they stream, without thoughts or written tool calls.

A model's reply streams before anyone knows what it is: its `<think>` block is
dropped as it comes, and from the first mark of a written tool call (a tag, a
fence, a JSON object) the rest is held back until the reply is read whole.
Then the held text goes out only if the reply turned out to be the answer.
"""

from __future__ import annotations

from typing import Any

from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage

from agent.llm.reasoning import THINK_CLOSE, THINK_OPEN, message_answer
from agent.llm.text_tool_calls import CALL_MARKERS

_MARKERS = (THINK_OPEN, *CALL_MARKERS)


class AnswerTokens:
    """Filter one model reply's streamed text at a time (`feed`), then say what
    of its final answer is still to be sent (`finish`)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._pending = ""
        self._state = "text"  # "text", "think" or "held"
        self._emitted = ""
        self._after_thought = False

    def feed(self, text: str) -> str:
        """Take a streamed piece; return the part that may be shown now."""
        self._pending += text
        out = ""
        while self._pending:
            if self._state == "held":
                self._pending = ""
                break
            if self._state == "think":
                close = self._pending.lower().find(THINK_CLOSE)
                if close < 0:
                    self._pending = self._pending[-(len(THINK_CLOSE) - 1) :]
                    break
                self._pending = self._pending[close + len(THINK_CLOSE) :]
                self._state = "text"
                self._after_thought = True
                continue
            if not self._emitted and not out:
                if self._after_thought:
                    # The answer after a thought starts at its first word.
                    self._pending = self._pending.lstrip()
                if not self._pending.strip():
                    break  # leading blanks wait for a word to show what follows
                if self._pending.lstrip()[0] in "{[":
                    self._state = "held"  # a bare JSON call, maybe
                    continue
            lowered = self._pending.lower()
            found = [(lowered.find(m.lower()), m) for m in _MARKERS]
            found = [(i, m) for i, m in found if i >= 0]
            if found:
                index, marker = min(found)
                out += self._pending[:index]
                self._pending = self._pending[index + len(marker) :]
                self._state = "think" if marker == THINK_OPEN else "held"
                continue
            keep = _partial_marker_length(lowered)
            cut = len(self._pending) - keep
            out += self._pending[:cut]
            self._pending = self._pending[cut:]
            break
        self._emitted += out
        return out

    def finish(self, answer: str | None) -> str:
        """Return what of the reply's `answer` was not sent yet (None: the
        reply was a tool call, nothing more goes out), and start afresh."""
        emitted = self._emitted
        self.reset()
        if answer is None or not answer.startswith(emitted):
            return ""
        return answer[len(emitted) :]


def _partial_marker_length(text: str) -> int:
    """Return how many trailing characters could begin a marker."""
    longest = 0
    for marker in _MARKERS:
        lowered = marker.lower()
        for size in range(min(len(lowered) - 1, len(text)), longest, -1):
            if text.endswith(lowered[:size]):
                longest = size
                break
    return longest


class AnswerTokenEvents:
    """The runner's view: the text of a streamed chunk to send as `token`, and
    at each new graph state what is left of a reply that proved an answer."""

    def __init__(self) -> None:
        self._tokens = AnswerTokens()

    def from_chunk(self, chunk: BaseMessage) -> str:
        if not isinstance(chunk, AIMessageChunk):
            return ""
        return self._tokens.feed(_chunk_text(chunk))

    def from_state(self, state: dict[str, Any]) -> str:
        messages = state.get("messages") or []
        last = messages[-1] if messages else None
        if not isinstance(last, AIMessage):
            return ""
        return self._tokens.finish(None if last.tool_calls else message_answer(last))


def _chunk_text(chunk: AIMessageChunk) -> str:
    content = chunk.content
    if isinstance(content, str):
        return content
    # Content blocks (Anthropic): only text blocks are answer; thinking is not.
    return "".join(
        part if isinstance(part, str) else str(part.get("text") or "")
        for part in content
        if isinstance(part, str) or part.get("type", "text") == "text"
    )
