"""Azure OpenAI: LLM_PROVIDER=azure.

Settings: AZURE_OPENAI_ENDPOINT (https://<resource>.openai.azure.com),
AZURE_OPENAI_API_KEY, AZURE_OPENAI_DEPLOYMENT (what Azure calls the model you
deployed) and AZURE_OPENAI_API_VERSION. Requests go to
`{endpoint}/openai/deployments/{deployment}/chat/completions?api-version=…`
with an `api-key` header, through the same SDK transport as the OpenAI
provider, so each try keeps to the ask's budget and off its CPU slot.
"""

from __future__ import annotations

import logging
from typing import Any

import openai
from django.conf import settings
from langchain_core.language_models import BaseChatModel
from langchain_openai import AzureChatOpenAI

from agent.exceptions import LLMBusy, LLMNotConfigured, LLMRefused
from agent.llm.providers.base import LLMSettings
from agent.llm.providers.openai_compatible import (
    OpenAICompatibleProvider,
    ReasoningKept,
    model_http_client,
)
from sqlagent_project.errors import ApplicationError

logger = logging.getLogger("agent.llm")


class _AzureChatModel(ReasoningKept, AzureChatOpenAI):
    """AzureChatOpenAI keeping a separate reasoning field, as the OpenAI one."""


class AzureOpenAIProvider(OpenAICompatibleProvider):
    """Chat completions of one Azure OpenAI deployment."""

    bounds_its_calls = True

    def settings_read(self) -> LLMSettings:
        endpoint = settings.AZURE_OPENAI_ENDPOINT.strip()
        api_key = settings.AZURE_OPENAI_API_KEY.strip()
        deployment = settings.AZURE_OPENAI_DEPLOYMENT.strip()
        if not (endpoint and api_key and deployment):
            raise LLMNotConfigured(
                "LLM_PROVIDER=azure needs AZURE_OPENAI_ENDPOINT, "
                "AZURE_OPENAI_API_KEY and AZURE_OPENAI_DEPLOYMENT."
            )
        return LLMSettings(
            model=deployment,
            api_key=api_key,
            base_url=endpoint,
            timeout_s=settings.LLM_TIMEOUT_S,
            max_retries=settings.LLM_MAX_RETRIES,
            temperature=settings.LLM_TEMPERATURE,
            max_tokens=settings.LLM_MAX_TOKENS or None,
            provider="azure",
            api_version=settings.AZURE_OPENAI_API_VERSION,
        )

    def chat_model_create(self, config: LLMSettings) -> BaseChatModel:
        options: dict[str, Any] = {}
        return _AzureChatModel(
            azure_endpoint=config.base_url,
            azure_deployment=config.model,
            api_version=config.api_version,
            api_key=config.api_key,
            timeout=config.timeout_s,
            max_retries=config.max_retries,
            temperature=config.temperature,
            max_tokens=config.max_tokens,
            stream_usage=True,
            http_client=model_http_client(config.timeout_s),
            **options,
        )

    def llm_error(self, exc: Exception) -> ApplicationError | None:
        if isinstance(exc, ValueError) and "content filter" in str(exc):
            # LangChain's own error for a reply Azure filtered out.
            logger.warning("llm failed reason=content_filter on=reply")
            return LLMRefused(
                "The answer was withheld by the Azure OpenAI content filter."
            )
        if isinstance(exc, openai.BadRequestError) and _content_filtered(exc):
            logger.warning("llm failed reason=content_filter status=400")
            return LLMRefused(
                "The question was refused by the Azure OpenAI content filter."
            )
        if isinstance(exc, openai.RateLimitError):
            logger.warning(
                "llm failed reason=rate_limited status=429 retries=%d advice='raise "
                "the deployment's tokens-per-minute quota'",
                settings.LLM_MAX_RETRIES,
            )
            return LLMBusy()
        return super().llm_error(exc)


def _content_filtered(exc: openai.BadRequestError) -> bool:
    body = exc.body if isinstance(exc.body, dict) else {}
    error = body.get("error", body) if isinstance(body, dict) else {}
    return (isinstance(error, dict) and error.get("code") == "content_filter") or (
        "content management policy" in str(exc)
    )
