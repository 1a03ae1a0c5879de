"""Anthropic's Messages API through LangChain's integration: LLM_PROVIDER=anthropic.

Settings: ANTHROPIC_API_KEY, ANTHROPIC_MODEL, ANTHROPIC_BASE_URL (a gateway or
a test stub; empty: Anthropic's own). The budget and the CPU slot are kept
around each call by agent.llm.budget (the SDK's client is not ours to bound).
"""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage

from agent.exceptions import LLMNotConfigured
from agent.llm.providers.base import LLMSettings, Provider, SdkErrors
from sqlagent_project.errors import ApplicationError

# "prompt is too long: 210000 tokens > 200000 maximum", and the like.
_CONTEXT_OVERFLOW = re.compile(
    r"prompt is too long|context (window|length)|too many tokens|maximum.*tokens",
    re.IGNORECASE,
)


class AnthropicProvider(Provider):
    """Claude models on the Messages API (tool use, streaming, thinking)."""

    bounds_its_calls = False

    def settings_read(self) -> LLMSettings:
        api_key = settings.ANTHROPIC_API_KEY.strip()
        base_url = settings.ANTHROPIC_BASE_URL.strip()
        if not api_key:
            raise LLMNotConfigured(
                "LLM_PROVIDER=anthropic needs ANTHROPIC_API_KEY (and ANTHROPIC_MODEL)."
            )
        return LLMSettings(
            model=settings.ANTHROPIC_MODEL,
            api_key=api_key,
            base_url=base_url,
            timeout_s=settings.LLM_TIMEOUT_S,
            max_retries=settings.LLM_MAX_RETRIES,
            temperature=settings.LLM_TEMPERATURE,
            # The Messages API requires a cap on every reply.
            max_tokens=settings.LLM_MAX_TOKENS or 1024,
            provider="anthropic",
        )

    def chat_model_create(self, config: LLMSettings) -> BaseChatModel:
        from langchain_anthropic import ChatAnthropic

        options: dict[str, Any] = {}
        if config.base_url:
            options["base_url"] = config.base_url
        return ChatAnthropic(
            model=config.model,
            api_key=config.api_key,
            timeout=config.timeout_s,
            max_retries=config.max_retries,
            temperature=config.temperature,
            max_tokens=config.max_tokens,
            stream_usage=True,
            **options,
        )

    def llm_error(self, exc: Exception) -> ApplicationError | None:
        import anthropic

        if not isinstance(exc, anthropic.AnthropicError):
            return None
        sdk = SdkErrors(
            timeout=anthropic.APITimeoutError,
            unreachable=anthropic.APIConnectionError,
            authentication=(
                anthropic.AuthenticationError,
                anthropic.PermissionDeniedError,
            ),
            bad_request=anthropic.BadRequestError,
            context_overflow=_CONTEXT_OVERFLOW,
            status=anthropic.APIStatusError,
            unreachable_advice="check ANTHROPIC_BASE_URL and the network",
            authentication_advice="check ANTHROPIC_API_KEY",
            busy=(anthropic.RateLimitError, anthropic.OverloadedError),
            # Anthropic's "overloaded", whatever class the SDK gives it.
            busy_statuses=frozenset({529}),
        )
        return self.sdk_error_told(exc, sdk)

    def cut_off(self, message: AIMessage) -> bool:
        return (message.response_metadata or {}).get("stop_reason") == "max_tokens"

    def refused(self, message: AIMessage) -> bool:
        return (message.response_metadata or {}).get("stop_reason") == "refusal"
