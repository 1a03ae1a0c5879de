"""`llm_check`: ask the configured model a few probing questions and say what
to set. Used by `python manage.py llm_check` and the admin's LLM check page.

Probes: the server is reachable and which model it runs; whether it calls a
tool natively, writes the call as text, or only SQL (then text mode); whether
it streams; and the context size where the server tells it (llama.cpp's
`/props`, vLLM's and LM Studio's model list).
"""

from __future__ import annotations

import json
import logging
import time
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.cache import cache
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

from agent.exceptions import LLMNotConfigured
from agent.llm.chat_model import chat_model_create
from agent.llm.providers import LLMSettings, provider_get
from agent.llm.reasoning import message_answer
from agent.llm.text_protocol import sql_from_text, tools_refused
from agent.llm.text_tool_calls import tool_calls_from_text
from agent.llm.tools import langchain_tools
from sqlagent_project.errors import ApplicationError

logger = logging.getLogger("agent.llm")

# Where the last verdict is kept for the admin's index.
LAST_CHECK_KEY = "llm-check:last"

_TOOL_PROBE = (
    "Call the run_query tool with sql set to SELECT 1. Do not answer in prose."
)
_SQL_PROBE = (
    "Write the SQL statement SELECT 1 in a ```sql fenced block, and nothing else."
)


@dataclass
class LLMCheckReport:
    """What each probe found, the verdict, and the settings to change."""

    provider: str = ""
    model: str = ""
    server_model: str = ""
    reachable: bool = False
    latency_ms: float | None = None
    tool_calling: str = ""  # "native", "text_call", "text_sql", "none"
    streaming: bool | None = None
    context_tokens: int | None = None
    problems: list[str] = field(default_factory=list)
    advice: list[str] = field(default_factory=list)
    verdict: str = ""

    def lines(self) -> list[str]:
        """Return the report as a person reads it."""
        shown = [
            f"Provider: {self.provider}  model: {self.model}"
            + (f" (server says {self.server_model})" if self.server_model else ""),
            "Reachable: "
            + (f"yes, {self.latency_ms:.0f} ms" if self.reachable else "no"),
        ]
        if self.reachable:
            shown.append(f"Tool calling: {_TOOL_WORDS.get(self.tool_calling, '?')}")
            shown.append(
                "Streaming: " + {True: "yes", False: "no", None: "?"}[self.streaming]
            )
            shown.append(
                "Context size: "
                + (
                    f"{self.context_tokens} tokens (server)"
                    if self.context_tokens
                    else "not told by the server"
                )
                + f"; LLM_CONTEXT_TOKENS={settings.LLM_CONTEXT_TOKENS}"
            )
        shown += [f"Problem: {p}" for p in self.problems]
        shown += [f"Set: {a}" for a in self.advice]
        shown.append(f"Verdict: {self.verdict}")
        return shown


_TOOL_WORDS = {
    "native": "native (tool calls)",
    "text_call": "written as text (read by the service)",
    "text_sql": "none; writes SQL as text (text protocol)",
    "refused": "refused by the server (text protocol)",
    "none": "none; no SQL either",
}


def llm_check_run() -> LLMCheckReport:
    """Probe the configured model and return the report (kept for the admin)."""
    report = LLMCheckReport(provider=str(settings.LLM_PROVIDER))
    try:
        provider = provider_get()
        config = provider.settings_read()
    except LLMNotConfigured as exc:
        report.problems.append(exc.message)
        report.verdict = "No LLM is configured: every question is refused (503)."
        _keep(report)
        return report
    report.model = config.model
    model = chat_model_create(config)
    try:
        started = time.perf_counter()
        reply = _invoke(model, "Reply with the single word OK.")
        report.latency_ms = (time.perf_counter() - started) * 1000
        report.reachable = True
        report.server_model = str(
            (reply.response_metadata or {}).get("model_name") or ""
        )
        report.tool_calling = _tool_probe(model)
        report.streaming = _stream_probe(model)
    except Exception as exc:
        error = provider.llm_error(exc)
        message = error.message if isinstance(error, ApplicationError) else str(exc)
        report.problems.append(message[:300])
    report.context_tokens = _context_size(config)
    _verdict(report)
    _keep(report)
    return report


def _invoke(model: Any, text: str, *, tools: bool = False) -> AIMessage:
    bound = model.bind_tools(langchain_tools()) if tools else model
    messages = [SystemMessage("You are a terse assistant."), HumanMessage(text)]
    reply = bound.invoke(messages)
    if not isinstance(reply, AIMessage):
        raise TypeError(f"the model answered {type(reply).__name__}, not a reply")
    return reply


def _tool_probe(model: Any) -> str:
    try:
        reply = _invoke(model, _TOOL_PROBE, tools=True)
    except Exception as exc:
        if tools_refused(exc):
            return "refused"
        raise
    if reply.tool_calls:
        return "native"
    names = {t.name for t in langchain_tools()}
    if tool_calls_from_text(message_answer(reply), names) is not None:
        return "text_call"
    if sql_from_text(message_answer(reply)):
        return "text_sql"
    reply = _invoke(model, _SQL_PROBE)
    return "text_sql" if sql_from_text(message_answer(reply)) else "none"


def _stream_probe(model: Any) -> bool:
    chunks = 0
    for _chunk in model.stream([HumanMessage("Count from 1 to 5.")]):
        chunks += 1
    return chunks > 1


def _context_size(config: LLMSettings) -> int | None:
    """Return the context window the server reports, where it reports one."""
    if not config.base_url or config.provider != "openai":
        return None
    base = config.base_url.rstrip("/")
    root = base.removesuffix("/v1")
    for url, read in (
        (f"{root}/props", _n_ctx),
        (f"{base}/models", _model_list_context),
    ):
        try:
            with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310
                size = read(json.loads(response.read() or b"{}"), config.model)
        except (OSError, ValueError):
            continue
        if size:
            return size
    return None


def _n_ctx(body: dict[str, Any], model: str) -> int | None:
    settings_ = body.get("default_generation_settings") or {}
    value = settings_.get("n_ctx") or body.get("n_ctx")
    return int(value) if value else None


def _model_list_context(body: dict[str, Any], model: str) -> int | None:
    for item in body.get("data") or []:
        if item.get("id") not in (model, None) and len(body.get("data") or []) > 1:
            continue
        for key in ("max_model_len", "context_length", "max_context_length"):
            if item.get(key):
                return int(item[key])
    return None


def _verdict(report: LLMCheckReport) -> None:
    protocol = str(settings.LLM_TOOL_PROTOCOL).lower()
    if not report.reachable:
        report.verdict = "Not usable: the model could not be reached."
        report.advice.append(
            "the provider's URL and key (OPENAI_BASE_URL / OPENAI_API_KEY, or the "
            "AZURE_* / ANTHROPIC_* settings), and that the server is running"
        )
        return
    if report.context_tokens and report.context_tokens < settings.LLM_CONTEXT_TOKENS:
        report.advice.append(f"LLM_CONTEXT_TOKENS={report.context_tokens}")
    calling = report.tool_calling
    if calling == "native":
        report.verdict = "Usable: native tool calling."
    elif calling == "text_call":
        report.verdict = "Usable: tool calls come back as text and are read."
    elif calling in ("text_sql", "refused"):
        report.verdict = "Usable in text mode: the model writes SQL as text."
        if protocol == "native":
            report.advice.append("LLM_TOOL_PROTOCOL=text (or auto)")
        elif protocol == "auto":
            report.advice.append("LLM_TOOL_PROTOCOL=text (auto finds it too)")
    else:
        report.verdict = (
            "Poor: the model neither called a tool nor wrote SQL when asked; "
            "answers will be ungrounded. Use a larger or instruction-tuned model."
        )
    if report.streaming is False:
        report.problems.append("the server did not stream (answers arrive whole)")


def _keep(report: LLMCheckReport) -> None:
    try:
        cache.set(LAST_CHECK_KEY, report.lines(), timeout=None)
    except Exception:  # the cache is a convenience for the admin
        logger.warning("llm check not kept: cache unavailable")


def llm_check_last() -> list[str] | None:
    """Return the lines of the last check's report, if one was kept."""
    try:
        return cache.get(LAST_CHECK_KEY)
    except Exception:
        return None
