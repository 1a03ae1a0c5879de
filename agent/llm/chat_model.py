"""The chat model: settings read from the environment, one client per process."""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass

from django.conf import settings
from langchain_core.language_models import BaseChatModel
from langchain_openai import ChatOpenAI

from agent.exceptions import LLMNotConfigured


@dataclass(frozen=True)
class LLMSettings:
    model: str
    api_key: str
    base_url: str
    timeout_s: float
    max_retries: int
    temperature: float
    max_tokens: int | None = None

    @property
    def cache_key(self) -> str:
        parts = (
            self.model,
            self.base_url,
            self.api_key,
            self.timeout_s,
            self.max_retries,
            self.temperature,
            self.max_tokens,
        )
        raw = "|".join(map(str, parts))
        return hashlib.sha256(raw.encode()).hexdigest()


def llm_settings() -> LLMSettings:
    """Return the LLM settings, or refuse when no LLM is configured."""
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
    )


def chat_model_create(config: LLMSettings) -> BaseChatModel:
    """Return the chat model, on chat completions (what compatible servers speak)."""
    return ChatOpenAI(
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
    )


_chat_models: dict[str, BaseChatModel] = {}
_chat_models_lock = threading.Lock()


def chat_model_cached(config: LLMSettings) -> BaseChatModel:
    """Return this process's client for `config`: it holds the HTTP connection pool."""
    with _chat_models_lock:
        model = _chat_models.get(config.cache_key)
        if model is None:
            model = chat_model_create(config)
            _chat_models[config.cache_key] = model
    return model
