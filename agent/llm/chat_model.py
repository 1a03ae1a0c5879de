"""The chat model: the configured provider's, bounded, one per process."""

from __future__ import annotations

import threading

from langchain_core.language_models import BaseChatModel

from agent.llm.budget import BoundedChatModel
from agent.llm.providers import LLMSettings, provider_get


def llm_settings() -> LLMSettings:
    """Return the LLM settings, or refuse when no LLM is configured."""
    return provider_get().settings_read()


def chat_model_create(config: LLMSettings) -> BaseChatModel:
    """Return the provider's chat model for `config`, kept to the ask's budget
    and CPU slot (agent.llm.budget)."""
    provider = provider_get(config.provider)
    return BoundedChatModel.wrap(
        provider.chat_model_create(config),
        bounds_its_calls=provider.bounds_its_calls,
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
