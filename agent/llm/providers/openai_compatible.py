"""OpenAI and every server that speaks its chat completions (vLLM, Ollama,
llama.cpp, LM Studio, gateways): the first provider, LLM_PROVIDER=openai."""

from __future__ import annotations

import functools
import re
import ssl
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import httpx2
import openai
from django.conf import settings
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage
from langchain_core.outputs import ChatGenerationChunk, ChatResult
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from langchain_openai import ChatOpenAI
from openai._base_client import make_request_options
from openai._constants import DEFAULT_CONNECTION_LIMITS
from openai._types import Omit
from openai.resources.chat.completions import Completions
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from pydantic import PrivateAttr

from agent.exceptions import LLMNotConfigured
from agent.llm.budget import model_time_left, wait_stoppable
from agent.llm.providers.base import LLMSettings, Provider, SdkErrors
from agent.llm.reasoning import REASONING_KEY
from sqlagent_project import capacity
from sqlagent_project.errors import ApplicationError


class OpenAICompatibleProvider(Provider):
    """Chat completions through the openai SDK, on a transport that keeps each
    try within the ask's budget and off its CPU slot while it waits."""

    bounds_its_calls = True

    def settings_read(self) -> LLMSettings:
        api_key = settings.OPENAI_API_KEY.strip()
        base_url = settings.OPENAI_BASE_URL.strip()
        if not api_key and not base_url:
            raise LLMNotConfigured()
        return LLMSettings(
            model=settings.OPENAI_MODEL,
            # Local OpenAI-compatible servers ignore the key, but the client wants one.
            api_key=api_key or "not-needed",
            base_url=base_url,
            timeout_s=settings.LLM_TIMEOUT_S,
            max_retries=settings.LLM_MAX_RETRIES,
            temperature=settings.LLM_TEMPERATURE,
            max_tokens=settings.LLM_MAX_TOKENS or None,
            provider="openai",
        )

    def chat_model_create(self, config: LLMSettings) -> BaseChatModel:
        """Return the chat model, on chat completions (what servers speak)."""
        model = _ChatModel(
            model=config.model,
            api_key=config.api_key,
            base_url=config.base_url or None,
            timeout=config.timeout_s,
            max_retries=config.max_retries,
            temperature=config.temperature,
            # Bounds one reply: a small model may otherwise generate for minutes.
            max_tokens=config.max_tokens,
            use_responses_api=False,
            # Token counts on streamed answers too (the last chunk carries them).
            stream_usage=True,
            # The SDK's own client and connection limits, on a transport that keeps
            # to the ask's budget and CPU slot.
            http_client=model_http_client(config.timeout_s),
        )
        model.client = _WireCompletions(model.root_client)
        return model

    def llm_error(self, exc: Exception) -> ApplicationError | None:
        if not isinstance(exc, openai.OpenAIError):
            return None
        return self.sdk_error_told(exc, _SDK_ERRORS)

    def cut_off(self, message: AIMessage) -> bool:
        return (message.response_metadata or {}).get("finish_reason") == "length"

    def refused(self, message: AIMessage) -> bool:
        # OpenAI's refusal field; Azure's (and others') output content filter.
        metadata = message.response_metadata or {}
        return bool(message.additional_kwargs.get("refusal")) or (
            metadata.get("finish_reason") == "content_filter"
        )


# How OpenAI, llama.cpp, vLLM and Ollama word a request over the context window.
_CONTEXT_OVERFLOW = re.compile(
    r"context[_ ]length|context window|maximum context|too many tokens|"
    r"exceeds? the (available )?context|prompt is too long|n_ctx",
    re.IGNORECASE,
)


_SDK_ERRORS = SdkErrors(
    timeout=openai.APITimeoutError,
    unreachable=openai.APIConnectionError,
    authentication=(openai.AuthenticationError,),
    bad_request=openai.BadRequestError,
    context_overflow=_CONTEXT_OVERFLOW,
    status=openai.APIStatusError,
    unreachable_advice="check OPENAI_BASE_URL and that the model server is running",
    authentication_advice="check OPENAI_API_KEY",
)


class _BudgetSpentOnTheWire(openai.OpenAIError):
    """A try refused as the ask's budget is spent. An OpenAIError, because the
    SDK passes those up at once instead of retrying; the bounded model (see
    agent.llm.budget) turns it into AskBudgetSpent."""


def _request_within_budget(request: httpx2.Request) -> None:
    """Cap one HTTP request to the model at the ask's remaining time, or refuse it.

    The client's own timeout (LLM_TIMEOUT_S) bounds one try; retries resend the
    same request, so without this one call could take (1 + retries) timeouts.
    Called by the transport for every try.
    """
    left = model_time_left()
    if left is None:
        return
    if left <= 0:
        raise _BudgetSpentOnTheWire()
    timeout = dict(request.extensions.get("timeout") or {})
    for phase in ("connect", "read", "write", "pool"):
        current = timeout.get(phase)
        timeout[phase] = left if current is None else min(current, left)
    request.extensions["timeout"] = timeout


class _StoppedOnTheWire(openai.OpenAIError):
    """The ask was stopped while the model was thinking: its request is
    abandoned. An OpenAIError, so the SDK does not retry it."""


class _WireCompletions(Completions):
    """chat.completions.create, sending LangChain's payload as it is.

    LangChain already builds the request in the wire format; the SDK's own
    `create` walks all of it again against its typed schema (maybe_transform),
    which was the largest single cost of an ask under load (about a fifth of a
    worker's CPU). The request, retries, timeouts and parsing are the SDK's.
    """

    def create(
        self,
        *,
        extra_headers: Any = None,
        extra_query: Any = None,
        extra_body: Any = None,
        timeout: Any = openai.NOT_GIVEN,
        **params: Any,
    ) -> Any:
        body = {
            key: value
            for key, value in params.items()
            if not isinstance(value, openai.NotGiven | Omit)
        }
        return self._post(
            "/chat/completions",
            body=body,
            options=make_request_options(
                extra_headers=extra_headers,
                extra_query=extra_query,
                extra_body=extra_body,
                timeout=timeout,
                security={"bearer_auth": True},
            ),
            cast_to=ChatCompletion,
            stream=bool(body.get("stream")),
            stream_cls=openai.Stream[ChatCompletionChunk],
        )


class _WaitingStream(httpx2.SyncByteStream):
    """A model's reply read chunk by chunk, the ask's CPU slot handed over while
    each chunk is awaited (a streamed answer takes seconds of mostly waiting)."""

    def __init__(self, stream: httpx2.SyncByteStream) -> None:
        self._stream = stream

    def __iter__(self) -> Iterator[bytes]:
        chunks = iter(self._stream)
        while True:
            with capacity.cpu_released():
                chunk = next(chunks, None)
            if chunk is None:
                return
            yield chunk

    def close(self) -> None:
        self._stream.close()


class _ModelTransport(httpx2.HTTPTransport):
    """The SDK's transport, for every try of every call to the model: the try is
    cut to what is left of the ask's budget, and the ask's CPU slot is given up
    while the model thinks (the request built and the reply parsed inside it)."""

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        _request_within_budget(request)
        send = super().handle_request
        with capacity.cpu_released():
            # A Stop of the ask does not wait for the model to answer.
            response = wait_stoppable(
                lambda: send(request), abandoned=lambda reply: reply.close()
            )
        if response is None:
            raise _StoppedOnTheWire("The ask was stopped.")
        if isinstance(response.stream, httpx2.SyncByteStream):
            response.stream = _WaitingStream(response.stream)
        return response


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """The default TLS context (trust store, SSL_CERT_FILE/SSL_CERT_DIR), made
    once per process: making one reads the whole trust store, about 45 ms of
    CPU, and every model client made two of them."""
    return httpx2.create_ssl_context()


def model_http_client(timeout_s: float) -> httpx2.Client:
    """The SDK's own client and connection limits, on a transport that keeps to
    the ask's budget and CPU slot (for OpenAI's SDK and Azure's)."""
    tls = _tls_context()
    return openai.DefaultHttpxClient(
        timeout=timeout_s,
        verify=tls,
        transport=_ModelTransport(limits=DEFAULT_CONNECTION_LIMITS, verify=tls),
    )


# Tool schemas in the wire format, by tool (the tools are module constants, kept
# alive here so an id is never reused) and strictness.
_tool_schemas: dict[tuple[int, bool | None], tuple[BaseTool, dict[str, Any]]] = {}
_tool_schemas_lock = threading.Lock()


def _tool_schema(tool: BaseTool, strict: bool | None) -> dict[str, Any]:
    key = (id(tool), strict)
    with _tool_schemas_lock:
        cached = _tool_schemas.get(key)
    if cached is not None and cached[0] is tool:
        return cached[1]
    schema = convert_to_openai_tool(tool, strict=strict)
    with _tool_schemas_lock:
        _tool_schemas[key] = (tool, schema)
    return schema


class ReasoningKept:
    """Chat completions' separate reasoning field (vLLM, DeepSeek, llama.cpp),
    which LangChain's OpenAI client drops, kept on the reply for the turn."""

    def _create_chat_result(
        self, response: Any, generation_info: dict[str, Any] | None = None
    ) -> ChatResult:
        """The parent's result, keeping a separate reasoning field (vLLM,
        DeepSeek, llama.cpp) that it drops: the turn keeps it for the admin."""
        result = super()._create_chat_result(  # type: ignore[misc]
            response, generation_info
        )
        raw = response if isinstance(response, dict) else response.model_dump()
        for generation, choice in zip(
            result.generations, raw.get("choices") or [], strict=False
        ):
            thoughts = _reasoning_of(choice.get("message") or {})
            if thoughts:
                generation.message.additional_kwargs[REASONING_KEY] = thoughts
        return result

    def _convert_chunk_to_generation_chunk(
        self,
        chunk: dict[str, Any],
        default_chunk_class: type,
        base_generation_info: dict[str, Any] | None,
    ) -> ChatGenerationChunk | None:
        generation = super()._convert_chunk_to_generation_chunk(  # type: ignore[misc]
            chunk, default_chunk_class, base_generation_info
        )
        choices = chunk.get("choices") or []
        if generation is not None and choices:
            thoughts = _reasoning_of(choices[0].get("delta") or {})
            if thoughts:
                generation.message.additional_kwargs[REASONING_KEY] = thoughts
        return generation


class _ChatModel(ReasoningKept, ChatOpenAI):
    """ChatOpenAI without the per-call work whose result never changes.

    The agent binds its tools before every model call, and LangChain turns each
    tool's pydantic schema into JSON again each time; the model's own settings
    are also re-read into a dict per call (under a warnings filter). Together
    about a tenth of an ask's CPU under load; both are the same every time, as
    this process's model and tools never change.
    """

    _invocation_base: dict[str, Any] | None = PrivateAttr(default=None)

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable | BaseTool],
        *,
        strict: bool | None = None,
        **kwargs: Any,
    ) -> Any:
        formatted = [
            _tool_schema(tool, strict)
            if isinstance(tool, BaseTool) and not getattr(tool, "extras", None)
            else tool
            for tool in tools
        ]
        return super().bind_tools(formatted, strict=strict, **kwargs)

    def _get_invocation_params(
        self, stop: list[str] | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        if self._invocation_base is None:
            self._invocation_base = super()._get_invocation_params()
        # Our tools are plain functions: the parent's redaction of remote MCP
        # tools' credentials has nothing to do here.
        return {**self._invocation_base, "stop": stop, **kwargs}


def _reasoning_of(message: dict[str, Any]) -> str:
    """Return the thoughts a server put beside the content (vLLM and DeepSeek
    say `reasoning_content`, some gateways `reasoning`)."""
    value = message.get("reasoning_content") or message.get("reasoning")
    return value if isinstance(value, str) else ""
