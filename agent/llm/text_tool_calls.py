"""Tool calls a model wrote as text instead of in `tool_calls`.

Local model servers often hand the call back in the reply's content: llama.cpp
and Ollama when the chat template's parser misses it (Hermes/Qwen
`<tool_call>{…}</tool_call>`), Mistral's `[TOOL_CALLS][…]`, Llama 3's
`<|python_tag|>{…}`, or a fenced or bare JSON object with the tool's name and
arguments. Such a call is read here and then run exactly as a native one (the
agent's tool node validates its arguments the same way).

Only what can be read with certainty is taken: a known tool name and an object
of arguments, and every call the reply marks must read so; anything else is
left as the reply's text and nothing runs.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

# Where a written tool call begins: text from here on is held back from the
# stream until the reply is read whole (agent.llm.answer_stream).
CALL_MARKERS = ("<tool_call>", "[TOOL_CALLS]", "<|python_tag|>", "```")

_TAGGED = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|$)", re.DOTALL)
_FENCED = re.compile(r"```[ \t]*([A-Za-z0-9_-]*)[ \t]*\n?(.*?)```", re.DOTALL)
# Mistral's later templates: [TOOL_CALLS]name[ARGS]{...}
_MISTRAL_NAMED = re.compile(r"\[TOOL_CALLS\]\s*([\w.-]+)\s*\[ARGS\]\s*", re.DOTALL)
_ARGUMENT_KEYS = ("arguments", "parameters", "args", "input")


@dataclass(frozen=True)
class TextToolCall:
    """One tool call read from a reply's text."""

    name: str
    args: dict[str, Any]

    def as_langchain(self) -> dict[str, Any]:
        """Return the call as LangChain's `tool_calls` entry (a fresh id)."""
        return {
            "name": self.name,
            "args": self.args,
            "id": f"call_text_{uuid.uuid4().hex[:12]}",
            "type": "tool_call",
        }


@dataclass(frozen=True)
class ReadCalls:
    """The calls a reply's text holds and the prose around them."""

    calls: list[TextToolCall]
    prose: str


def tool_calls_from_text(text: str, tool_names: Collection[str]) -> ReadCalls | None:
    """Return the tool calls `text` writes out, or None when it holds none that
    can be read with certainty (then nothing may run)."""
    if not text or not tool_names:
        return None
    for reader in (_tagged, _mistral, _python_tag, _fenced, _bare):
        read = reader(text, tool_names)
        if read is not None:
            return read if read.calls else None
    return None


# Each reader returns None when its shape is absent, an empty ReadCalls when
# the shape is there but cannot be read with certainty (so no other reader
# guesses at it), or the calls.


def _tagged(text: str, names: Collection[str]) -> ReadCalls | None:
    if "<tool_call>" not in text:
        return None
    calls: list[TextToolCall] = []
    for match in _TAGGED.finditer(text):
        read = _calls_from_json(match.group(1), names)
        if read is None:
            return ReadCalls([], text)
        calls += read
    prose = _TAGGED.sub("", text).replace("</tool_call>", "").strip()
    return ReadCalls(calls, prose)


def _mistral(text: str, names: Collection[str]) -> ReadCalls | None:
    marker = text.find("[TOOL_CALLS]")
    if marker < 0:
        return None
    prose = text[:marker].strip()
    rest = text[marker:]
    named = list(_MISTRAL_NAMED.finditer(rest))
    if named:
        calls: list[TextToolCall] = []
        for index, match in enumerate(named):
            end = named[index + 1].start() if index + 1 < len(named) else len(rest)
            args = _json_value(rest[match.end() : end])
            name = match.group(1)
            if name not in names or not isinstance(args, dict):
                return ReadCalls([], text)
            calls.append(TextToolCall(name, args))
        return ReadCalls(calls, prose)
    read = _calls_from_json(rest[len("[TOOL_CALLS]") :], names)
    return ReadCalls(read or [], prose if read else text)


def _python_tag(text: str, names: Collection[str]) -> ReadCalls | None:
    marker = text.find("<|python_tag|>")
    if marker < 0:
        return None
    body = text[marker + len("<|python_tag|>") :]
    body = body.split("<|eom_id|>")[0].split("<|eot_id|>")[0].strip()
    # Llama 3.1 separates several calls with semicolons.
    calls: list[TextToolCall] = []
    for part in _split_top_level(body, ";"):
        read = _calls_from_json(part, names)
        if read is None:
            return ReadCalls([], text)
        calls += read
    return ReadCalls(calls, text[:marker].strip())


def _fenced(text: str, names: Collection[str]) -> ReadCalls | None:
    calls: list[TextToolCall] = []
    found = False
    for match in _FENCED.finditer(text):
        language, body = match.group(1).lower(), match.group(2)
        if language not in ("", "json", "tool_call", "tool_code"):
            continue
        value = _json_value(body)
        if not _looks_like_call(value):
            continue
        found = True
        read = _calls_from_value(value, names)
        if read is None:
            return ReadCalls([], text)
        calls += read
    if not found:
        return None
    prose = _FENCED.sub(
        lambda m: "" if _looks_like_call(_json_value(m.group(2))) else m.group(0),
        text,
    ).strip()
    return ReadCalls(calls, prose)


def _bare(text: str, names: Collection[str]) -> ReadCalls | None:
    value = _json_value(text)
    if not _looks_like_call(value):
        return None
    read = _calls_from_value(value, names)
    return ReadCalls(read or [], "" if read else text)


def _json_value(text: str) -> Any:
    try:
        return json.loads(text.strip())
    except (json.JSONDecodeError, ValueError):
        return None


def _looks_like_call(value: Any) -> bool:
    """Say whether a JSON value has the shape of a call (whatever its tool)."""
    items = value if isinstance(value, list) else [value]
    items = [
        item["function"]
        if isinstance(item, dict) and isinstance(item.get("function"), dict)
        else item
        for item in items
    ]
    return bool(items) and all(
        isinstance(item, dict)
        and isinstance(item.get("name"), str)
        and any(key in item for key in _ARGUMENT_KEYS)
        for item in items
    )


def _calls_from_json(text: str, names: Collection[str]) -> list[TextToolCall] | None:
    return _calls_from_value(_json_value(text), names)


def _calls_from_value(value: Any, names: Collection[str]) -> list[TextToolCall] | None:
    """Return the calls a JSON value holds, or None unless every one is a known
    tool with an object of arguments."""
    if isinstance(value, dict) and "function" in value and "name" not in value:
        value = value["function"]  # {"type": "function", "function": {...}}
    items = value if isinstance(value, list) else [value]
    calls: list[TextToolCall] = []
    for item in items:
        if not isinstance(item, dict):
            return None
        if "function" in item and isinstance(item["function"], dict):
            item = item["function"]
        name = item.get("name")
        keys = [key for key in _ARGUMENT_KEYS if key in item]
        if not isinstance(name, str) or name not in names or len(keys) != 1:
            return None
        args = item[keys[0]]
        if isinstance(args, str):
            args = _json_value(args)
        if not isinstance(args, dict):
            return None
        calls.append(TextToolCall(name, args))
    return calls or None


def _split_top_level(text: str, separator: str) -> list[str]:
    """Split `text` at `separator` outside JSON strings, objects and arrays."""
    parts: list[str] = []
    depth = 0
    in_string = escaped = False
    start = 0
    for index, char in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "{[":
            depth += 1
        elif char in "}]":
            depth -= 1
        elif char == separator and depth == 0:
            parts.append(text[start:index])
            start = index + 1
    parts.append(text[start:])
    return [part for part in parts if part.strip()]
