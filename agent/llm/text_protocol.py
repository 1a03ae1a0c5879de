"""The text protocol, for models without tool calling (LLM_TOOL_PROTOCOL).

In text mode no tools are offered: the prompt asks for one SQL statement in a
```sql block, the statement becomes a `run_query` call (so it runs through the
same guard, bounds and privacy rules as a native call), the model is shown the
rows as `run_query` would show them, and its next reply is the answer. The
conversation the model sees is rewritten without tool messages: its own calls
as the SQL it wrote, their results as the user's message.

`auto` offers tools and switches a model to text mode, for the rest of this
process, when its server refuses tools (Ollama's HTTP 400 "does not support
tools" and the like) or after LLM_TEXT_PROTOCOL_AFTER first replies in a row
that called no tool.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings
from django.core.cache import cache
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)

from agent.exceptions import LLMNotConfigured
from agent.grounding import NUDGE

logger = logging.getLogger("agent.llm")

NATIVE = "native"
TEXT = "text"
AUTO = "auto"
PROTOCOLS = (AUTO, NATIVE, TEXT)

# Where the protocol that produced a reply is noted on it.
PROTOCOL_KEY = "sqlagent_protocol"

_SQL_BLOCK = re.compile(
    r"```[ \t]*(?:sql|mysql|postgresql|postgres|sqlite)[ \t]*\n(.*?)```",
    re.DOTALL | re.IGNORECASE,
)

# How servers say they refuse tools: Ollama ("registry.ollama.ai/library/x does
# not support tools"), vLLM without --enable-auto-tool-choice, gateways.
_TOOLS_REFUSED = re.compile(
    r"does not support tools|tools? (?:are|is) not supported|"
    r"(?:tool[ _]?(?:use|calling|calls|choice)|function[ _]calling)[^.]{0,40}"
    r"(?:not supported|unsupported|not enabled|requires)|"
    r"unsupported[^.]{0,20}\btools?\b|unrecognized[^.]{0,20}\btools\b",
    re.IGNORECASE,
)

TEXT_RULES = (
    "\n\nHow to query (no tools here): to run a query, reply with exactly one "
    "SQL SELECT statement in a ```sql fenced block and nothing else. You are "
    "then shown its rows (what these rules say of run_query applies to it), and "
    "your next reply is your answer, in plain words, without SQL. If the "
    "statement is refused or fails you are told why and may send a corrected "
    "one. Never invent rows."
)
TEXT_NUDGE = (
    "You answered without running any query. If my question needs data from the "
    "database, reply now with one SQL SELECT in a ```sql block. If it needs no "
    "data, repeat your answer."
)


def protocol_setting() -> str:
    """Return LLM_TOOL_PROTOCOL, refusing a value it does not know."""
    value = str(settings.LLM_TOOL_PROTOCOL).strip().lower()
    if value not in PROTOCOLS:
        raise LLMNotConfigured(
            f"LLM_TOOL_PROTOCOL={value!r} is not one of {', '.join(PROTOCOLS)}."
        )
    return value


@dataclass(frozen=True)
class TextSwitch:
    """A model this process asks in text mode, and why."""

    model: str
    reason: str
    at: datetime


class ProtocolMemory:
    """Which models this process switched to text mode, and each model's run
    of first replies without a tool call (auto mode)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._switched: dict[str, TextSwitch] = {}
        self._toolless: dict[str, int] = {}

    def protocol_for(self, key: str | None) -> str:
        """Return the protocol to ask `key` with now (a model without a key, one
        handed in rather than configured, is not remembered)."""
        setting = protocol_setting()
        if setting != AUTO:
            return setting
        with self._lock:
            return TEXT if key in self._switched else NATIVE

    def switch(self, key: str | None, model: str, reason: str) -> None:
        if key is not None:
            with self._lock:
                if key in self._switched:
                    return
                self._switched[key] = TextSwitch(model, reason, datetime.now(UTC))
        logger.warning(
            "llm protocol switched to text model=%s reason=%s advice='set "
            "LLM_TOOL_PROTOCOL=text for this model, or use one with tool calling'",
            model,
            reason,
        )
        _switch_shared(model, reason)

    def first_reply(self, key: str | None, model: str, *, called_tool: bool) -> None:
        """Count a first reply to a question; switch after too many toolless."""
        if key is None:
            return
        with self._lock:
            count = 0 if called_tool else self._toolless.get(key, 0) + 1
            self._toolless[key] = count
        if count >= settings.LLM_TEXT_PROTOCOL_AFTER > 0:
            self.switch(key, model, f"no_tool_call_in_{count}_replies")

    def switches(self) -> list[TextSwitch]:
        with self._lock:
            return list(self._switched.values())

    def forget(self) -> None:
        with self._lock:
            self._switched.clear()
            self._toolless.clear()
        try:
            cache.delete(SHARED_SWITCHES_KEY)
        except Exception:
            logger.warning("llm protocol switches not forgotten: cache unavailable")


protocol_memory = ProtocolMemory()


# Where switches are told to other processes (`llm_status`, the admin, other
# workers' reports); each process still decides for itself.
SHARED_SWITCHES_KEY = "llm-protocol:switches"


def _switch_shared(model: str, reason: str) -> None:
    try:
        told = cache.get(SHARED_SWITCHES_KEY) or {}
        told[model] = {"reason": reason, "at": datetime.now(UTC).isoformat()}
        cache.set(SHARED_SWITCHES_KEY, told, timeout=None)
    except Exception:  # the report is a convenience; the switch itself stands
        logger.warning("llm protocol switch not shared: cache unavailable")


def protocol_report() -> str:
    """Return what LLM_TOOL_PROTOCOL is and which models were switched to text
    (by this process, or by any that shared it), for `llm_status` and the admin."""
    lines = [f"Tool protocol: {settings.LLM_TOOL_PROTOCOL} (LLM_TOOL_PROTOCOL)"]
    seen: dict[str, tuple[str, str]] = {}
    try:
        for model, told in (cache.get(SHARED_SWITCHES_KEY) or {}).items():
            seen[model] = (str(told.get("reason")), str(told.get("at"))[:19])
    except Exception:
        logger.warning("llm protocol switches not read: cache unavailable")
    for switch in protocol_memory.switches():
        seen[switch.model] = (switch.reason, f"{switch.at:%Y-%m-%dT%H:%M:%S}")
    for model, (reason, at) in sorted(seen.items()):
        lines.append(f"  {model}: switched to text mode ({reason}, {at} UTC)")
    return "\n".join(lines)


def tools_refused(exc: BaseException) -> bool:
    """Say whether a model call failed because its server refuses tools."""
    status = getattr(exc, "status_code", None)
    if status is not None and not 400 <= int(status) < 500:
        return False
    return bool(_TOOLS_REFUSED.search(str(exc)))


def sql_from_text(text: str) -> str | None:
    """Return the one SQL statement a reply's ```sql block holds, or None."""
    blocks = [b.strip() for b in _SQL_BLOCK.findall(text or "") if b.strip()]
    if len(blocks) != 1:
        # None, or several: which one was meant is not certain.
        return None
    return blocks[0]


def awaits_answer(messages: list[BaseMessage]) -> bool:
    """Say whether the model's next reply is its answer: it was just shown the
    rows of a query that ran (a failed or refused one may be corrected)."""
    last = messages[-1] if messages else None
    if not isinstance(last, ToolMessage) or last.name != "run_query":
        return False
    text = str(last.content)
    return not text.startswith(("Refused:", "Error:"))


def text_messages(messages: list[BaseMessage]) -> list[BaseMessage]:
    """Return the conversation as a model without tools can read it."""
    converted: list[BaseMessage] = []
    for message in messages:
        if isinstance(message, SystemMessage):
            converted.append(SystemMessage(str(message.content) + TEXT_RULES))
        elif isinstance(message, AIMessage) and message.tool_calls:
            converted.append(AIMessage(_calls_as_text(message)))
        elif isinstance(message, ToolMessage):
            _append_user(converted, _result_as_text(message))
        elif isinstance(message, HumanMessage) and message.content == NUDGE:
            _append_user(converted, TEXT_NUDGE)
        elif isinstance(message, HumanMessage):
            _append_user(converted, str(message.content))
        else:
            converted.append(message)
    return converted


def _append_user(messages: list[BaseMessage], text: str) -> None:
    # Several tool results in a row become one user message: roles alternate.
    if messages and isinstance(messages[-1], HumanMessage):
        messages[-1] = HumanMessage(f"{messages[-1].content}\n\n{text}")
    else:
        messages.append(HumanMessage(text))


def _calls_as_text(message: AIMessage) -> str:
    parts = [str(message.content).strip()] if message.content else []
    for call in message.tool_calls:
        if call["name"] == "run_query":
            parts.append(f"```sql\n{call['args'].get('sql', '')}\n```")
        else:
            parts.append(f"(I looked at {call['name']} {call['args']}.)")
    return "\n".join(p for p in parts if p)


def _result_as_text(message: ToolMessage) -> str:
    text = str(message.content)
    if message.name != "run_query":
        return f"What {message.name} returned:\n{text}"
    if text.startswith(("Refused:", "Error:")):
        return (
            f"The statement did not run. {text}\nSend a corrected statement in "
            "one ```sql block, or answer if the data cannot answer the question."
        )
    return (
        f"The rows of your query:\n{text}\n\nNow answer my question from these "
        "rows, in plain words."
    )
